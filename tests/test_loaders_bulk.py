"""The bulk path gives the MERGE loader's graph: same merge rule, same bad-input handling, safe to kill.

The merge tests need no server. The Neo4j tests start their own managed server on
free ports under a temp home (a bulk load stops and restarts its server, so it can
never use the shared CI one), load the fixtures once with MERGE and once with the
bulk import, and compare canonical dumps: every node with its labels and
properties, every relationship with its properties.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kgsynth.errors import ConfigError, InputError
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.model import Concept, Provenance, Relation
from kgsynth.loaders.bulk_merge import BulkMerger
from kgsynth.loaders.runner import run_load
from tests.conftest import need

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
BAD_MRREL_ROW = b"C9000001||CUI|RO|C9000003|manifestation_of|\n"


def _umls_with_a_bad_row(folder: Path) -> Path:
    target = folder / "umls"
    if not target.exists():
        shutil.copytree(DATA / "umls", target)
        rel = target / "MRREL.RRF"
        lines = rel.read_bytes().splitlines(keepends=True)
        lines[2] = BAD_MRREL_ROW
        rel.write_bytes(b"".join(lines))
    return target


def make_loaders(umls: Path, shared: Path) -> list:
    """Every loader kind, fresh instances, in load order."""
    from kgsynth.loaders.biored import CorpusLoader
    from kgsynth.loaders.obo import HpoaLoader, OboLoader, OntologyJsonLoader
    from kgsynth.loaders.snomed import SnomedLoader
    from kgsynth.loaders.umls import UmlsLoader

    return [
        UmlsLoader(umls),
        OboLoader(DATA / "obo" / "mini.obo"),
        HpoaLoader(DATA / "obo" / "mini.hpoa"),
        OntologyJsonLoader(DATA / "obo" / "mini-indra.json"),
        SnomedLoader(shared / "snomed-rf2-mini" / "SnomedCT_MiniRF2_Base_with_Anthrax_snapshot"),
        CorpusLoader([shared / "biored" / "Dev.BioC.JSON"]),
    ]


def _inputs(umls: Path, shared: Path) -> list[Path]:
    return [umls, DATA / "obo", shared / "snomed-rf2-mini", shared / "biored" / "Dev.BioC.JSON"]


# -- the whole-input merge, no server ---------------------------------------------------


def _merged_graph(merger: BulkMerger) -> tuple[list[dict], list[dict]]:
    graph = merger.finish()
    concepts = [Concept(id=cid, name=name, group=group, synonyms=list(syn), semantic_types=list(types),
                        xrefs=list(xrefs), provenance=[Provenance.from_key(k) for k in prov]).model_dump()
                for cid, (name, group, syn, types, xrefs, prov) in graph.concepts()]
    relations = [Relation(subject=s, type=t, object=o, source_labels=list(labels), evidence=list(ev),
                          novelty=novelty, provenance=[Provenance.from_key(k) for k in prov]).model_dump()
                 for (s, t, o), (labels, ev, novelty, prov) in graph.relations()]
    return sorted(concepts, key=lambda c: c["id"]), sorted(relations, key=lambda r: (r["subject"], r["type"],
                                                                                       r["object"]))


@pytest.mark.parametrize("umls_kind", ["clean", "bad_row"])
@pytest.mark.parametrize("chunk", [200, 10**6])
def test_whole_input_merge_equals_sequential_upserts(tmp_path: Path, shared_data: Path, chunk: int, umls_kind: str):
    """Every loader, MRREL read natively (clean file) or by the Python reader (a bad row): the store's graph."""
    from kgsynth.loaders import umls_bulk
    from kgsynth.loaders.base import LoadContext

    umls = DATA / "umls" if umls_kind == "clean" else _umls_with_a_bad_row(tmp_path)
    store = MemoryStore(None)
    merge_reports = [run_load(loader, store, show_progress=False, strict=False, batch_size=7)
                     for loader in make_loaders(umls, shared_data)]
    expected = ([c.model_dump() for c in store.iter_concepts()], [r.model_dump() for r in store.iter_relations()])

    native = []
    real = umls_bulk.read_mrrel

    def spy(*args):
        native.append(real(*args))
        return native[-1]

    umls_bulk.read_mrrel = spy
    try:
        merger = BulkMerger(tmp_path / "merge", chunk_records=chunk)
        contexts = []
        for loader in make_loaders(umls, shared_data):
            contexts.append(LoadContext(strict=False))
            loader.feed_bulk(contexts[-1], merger)
    finally:
        umls_bulk.read_mrrel = real
    assert native == [umls_kind == "clean"]  # the native MRREL reader ran, or gave way to the Python one
    assert "umls_concepts" in merger._concept_tables  # MRCONSO+MRSTY are clean in both
    got = _merged_graph(merger)
    assert got == expected
    assert merger.stats.placeholders > 0 and merger.stats.merged > 0
    for report, ctx in zip(merge_reports, contexts, strict=True):  # same rows, skips, labels, files
        assert (report.rows_read, report.skipped_by_reason, report.unknown_labels, report.files) == (
            ctx.rows_read, dict(sorted(ctx.skipped.items())), dict(ctx.unknown_labels.most_common()), ctx.files)
    merger.cleanup()
    assert not (tmp_path / "merge").exists()


@pytest.mark.parametrize("kwargs", [
    {"sabs": ("MSH", "SNOMEDCT_US", "HPO", "MTH", "RXNORM"), "skip_rel": frozenset({"RO", "SIB"})},
    {"languages": ("ENG", "FRE"), "include_suppressed": True},
    {"languages": ()},
])
def test_native_umls_readers_give_the_python_readers_graph(tmp_path: Path, kwargs: dict):
    """Language, SAB, suppression and REL filters: same merged graph, rows, skips and labels both ways."""
    from kgsynth.loaders.base import LoadContext
    from kgsynth.loaders.umls import UmlsLoader

    python_ctx, native_ctx = LoadContext(), LoadContext()
    python = BulkMerger(tmp_path / "python")
    python.add_all(UmlsLoader(DATA / "umls", **kwargs).records(python_ctx))
    native = BulkMerger(tmp_path / "native")
    UmlsLoader(DATA / "umls", **kwargs).feed_bulk(native_ctx, native)
    assert "umls_concepts" in native._concept_tables and "umls_mrrel" in native._relation_tables
    assert _merged_graph(native) == _merged_graph(python)
    for attr in ("rows_read", "skipped", "unknown_labels", "merged", "files"):
        assert getattr(native_ctx, attr) == getattr(python_ctx, attr), attr
    native.cleanup()
    python.cleanup()


def test_fold_order_is_first_seen(tmp_path: Path):
    prov_a, prov_b = Provenance(source="A"), Provenance(source="B")
    merger = BulkMerger(tmp_path, chunk_records=1)  # every record its own batch
    merger.add(Concept(id="X:1", name="", group="Other", synonyms=["b"], provenance=[prov_b]))
    merger.add(Concept(id="X:1", name="first", group="Disease", synonyms=["a", "b"], provenance=[prov_a]))
    merger.add(Concept(id="X:1", name="second", group="Chemical", synonyms=["c"]))
    merger.add(Relation(subject="X:1", type="IS_A", object="X:2", evidence=["PMID:2"]))
    merger.add(Relation(subject="X:1", type="IS_A", object="X:2", evidence=["PMID:1", "PMID:2"], novelty="Novel"))
    merger.add(Relation(subject="X:1", type="IS_A", object="X:2", novelty="No"))
    concepts, relations = _merged_graph(merger)
    assert [(c["id"], c["name"], c["group"], c["synonyms"]) for c in concepts] == [
        ("X:1", "first", "Disease", ["b", "a", "c"]), ("X:2", "", "Other", [])]
    assert [(r["evidence"], r["novelty"]) for r in relations] == [(["PMID:2", "PMID:1"], "Novel")]
    merger.cleanup()


def test_import_csv_numbers_every_node_once_and_relations_by_number(tmp_path: Path):
    """One node file and one relationship file; ``:ID`` 0..N-1 (the importer's actual ids), ends by number."""
    import csv

    from kgsynth.graph.bulk_csv import write_csv

    merger = BulkMerger(tmp_path / "merge")
    merger.add(Concept(id="X:1", name="aspirin", group="Chemical", synonyms=["ASA", "acetylsalicylic acid"]))
    merger.add(Concept(id="X:2", name="pain", group="Disease"))
    merger.add(Concept(id="X:3", name="thing", group="Other"))
    merger.add(Relation(subject="X:1", type="TREATS", object="X:2", evidence=["PMID:1"]))
    merger.add(Relation(subject="X:2", type="ASSOCIATED_WITH", object="X:9"))  # X:9: a placeholder
    graph = merger.finish()
    files = write_csv(graph.con, tmp_path / "csv")
    assert "--id-type=actual" in files.import_args()
    with open(files.nodes, encoding="utf-8", newline="") as handle:
        nodes = list(csv.DictReader(handle))
    with open(files.relationships, encoding="utf-8", newline="") as handle:
        rels = list(csv.DictReader(handle))
    assert sorted(int(n[":ID"]) for n in nodes) == [0, 1, 2, 3]
    by_number = {n[":ID"]: n for n in nodes}
    assert {n["id"]: n[":LABEL"].split("\x1f") for n in nodes} == {
        "X:1": ["Concept", "Chemical"], "X:2": ["Concept", "Disease"], "X:3": ["Concept"], "X:9": ["Concept"]}
    assert by_number[next(n[":ID"] for n in nodes if n["id"] == "X:1")]["synonyms:string[]"] == (
        "ASA\x1facetylsalicylic acid")
    assert sorted((by_number[r[":START_ID"]]["id"], r[":TYPE"], by_number[r[":END_ID"]]["id"], r["evidence:string[]"])
                  for r in rels) == [("X:1", "TREATS", "X:2", "PMID:1"), ("X:2", "ASSOCIATED_WITH", "X:9", "")]
    assert (files.nodes_by_group, files.relations_by_type) == (
        {"Chemical": 1, "Disease": 1, "Other": 2}, {"ASSOCIATED_WITH": 1, "TREATS": 1})
    merger.cleanup()


# -- a managed server of the test's own ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def managed(tmp_path_factory: pytest.TempPathFactory):
    """A fresh managed server under a temp home; stopped at the end of the module."""
    from kgsynth.graph import neo4j_dist, server
    from kgsynth.graph.bulk_import import managed_target
    from kgsynth.graph.server_config import ServerOptions
    from kgsynth.settings import Neo4jSettings

    try:
        neo4j_dist.find_java()
    except ConfigError as exc:
        need(False, str(exc))
    need(neo4j_dist.is_fetched() or shutil.which("mvn") is not None, "Neo4j jars are not fetched and no Maven")
    home = tmp_path_factory.mktemp("neo4j-bulk")
    opts = ServerOptions(home=home, bolt_port=_free_port(), http_port=_free_port(), heap="512m",
                         pagecache="128m", password=None)
    server.start(opts)
    try:
        yield managed_target(Neo4jSettings(uri=opts.bolt_uri, password=None, database="neo4j"), home)
    finally:
        server.stop(home)


def _store(target, schema: bool = False):
    from kgsynth.graph.neo4j_store import Neo4jStore

    return Neo4jStore(target.settings, create_schema=schema)


def _clean(props: dict) -> dict:
    """Absent and empty are one state: the MERGE writer itself stores both, depending on batch boundaries."""
    return {k: v for k, v in props.items() if v not in ("", [], None)}


def canonical_dump(target) -> tuple[list[str], list[str]]:
    from kgsynth.cypher import query

    store = _store(target)
    try:
        nodes = sorted(json.dumps([sorted(r["labels"]), _clean(dict(r["props"]))], sort_keys=True)
                       for r in store.read(query("loaders", "dump_nodes")))
        rels = sorted(json.dumps([r["subject"], r["type"], r["object"], _clean(dict(r["props"]))], sort_keys=True)
                      for r in store.read(query("loaders", "dump_relationships")))
    finally:
        store.close()
    return nodes, rels


def _clear(target) -> None:
    store = _store(target)
    try:
        store.clear()
    finally:
        store.close()


def _bulk(target, umls: Path, shared: Path, rejects: Path, **kw):
    from kgsynth.loaders.bulk import run_bulk_load

    loaders = make_loaders(umls, shared)
    paths = [rejects if n == 0 else None for n in range(len(loaders))]
    return run_bulk_load(loaders, target, inputs=_inputs(umls, shared), strict=False, rejects=paths,
                         show_progress=False, **kw)


@pytest.fixture(scope="module")
def merge_load(managed, tmp_path_factory: pytest.TempPathFactory, shared_data: Path):
    """The MERGE loader's graph of every fixture (UMLS with one bad row, --skip-bad), then an empty server."""
    folder = tmp_path_factory.mktemp("merge")
    umls = _umls_with_a_bad_row(folder)
    _clear(managed)
    store = _store(managed, schema=True)
    reports = [run_load(loader, store, show_progress=False, strict=False, batch_size=500,
                        rejects=folder / "rejects.tsv" if n == 0 else None)
               for n, loader in enumerate(make_loaders(umls, shared_data))]
    store.close()
    dump = canonical_dump(managed)
    _clear(managed)
    return {"dump": dump, "reports": reports, "rejects": (folder / "rejects.tsv").read_text(encoding="utf-8"),
            "umls": umls}


@pytest.mark.neo4j
@pytest.mark.slow
def test_bulk_load_gives_the_merge_graph_and_report(managed, merge_load, tmp_path: Path, shared_data: Path):
    from kgsynth.cypher import query
    from kgsynth.loaders.bulk import BulkLoadReport

    umls, snomed = merge_load["umls"], shared_data / "snomed-rf2-mini" / "SnomedCT_MiniRF2_Base_with_Anthrax_snapshot"
    specs = [f"umls:{umls}", f"obo:{DATA / 'obo' / 'mini.obo'}", f"obo:{DATA / 'obo' / 'mini.hpoa'}",
             f"obo:{DATA / 'obo' / 'mini-indra.json'}", f"snomed:{snomed}",
             f"biored:{shared_data / 'biored' / 'Dev.BioC.JSON'}"]
    result = _cli("load", "bulk", *specs, "--skip-bad", "--rejects", str(tmp_path / "rejects.tsv"),
                  "--uri", managed.settings.uri, "--home", str(managed.home))
    assert result.exit_code == 0, result.stderr
    report = BulkLoadReport.model_validate_json(result.stdout)
    assert canonical_dump(managed) == merge_load["dump"]
    nodes, rels = merge_load["dump"]
    assert report.relations_loaded == len(rels) and report.concepts_loaded + report.placeholders == len(nodes)
    # Bad input is handled by the same readers: same counts, same rejects file.
    for merge, bulk in zip(merge_load["reports"], report.sources, strict=True):
        assert (bulk.source, bulk.rows_read, bulk.skipped_by_reason, bulk.unknown_labels, bulk.files) == (
            merge.source, merge.rows_read, merge.skipped_by_reason, merge.unknown_labels, merge.files)
    assert report.skipped_by_reason["wrong column count"] == 1
    assert (tmp_path / "rejects-1-UMLS.tsv").read_text(encoding="utf-8") == merge_load["rejects"]
    assert set(report.phases) >= {"parse", "merge", "csv_write", "import", "index_build"}
    store = _store(managed)
    try:
        indexes = {r["name"]: r["state"] for r in store.read(query("loaders", "show_indexes"))}
    finally:
        store.close()
    assert {indexes.get(n) for n in ("concept_id", "concept_name", "concept_group", "note_id")} == {"ONLINE"}
    assert not (managed.home / "bulk-staging").exists()  # temporary files removed
    # Imported with actual node ids: later MERGE writes must get fresh ids, never reuse an imported node's.
    props = json.loads(nodes[0])[1]
    first = props["id"]
    store = _store(managed)
    try:
        before = store.stats()
        store.upsert_concepts([Concept(id="TEST:after-bulk", name="added after the bulk load", group="Disease")])
        store.upsert_relations([Relation(subject="TEST:after-bulk", type="ASSOCIATED_WITH", object=first)])
        after = store.stats()
        assert store.get_concept(first).name == (props.get("name") or "")  # the imported node, unchanged
        assert [r.object for r in store.find_relations(subject="TEST:after-bulk")] == [first]
    finally:
        store.close()
    assert (after.concepts, after.relations) == (before.concepts + 1, before.relations + 1)


@pytest.mark.neo4j
@pytest.mark.slow
def test_bulk_refuses_a_non_empty_database_and_another_server(managed, merge_load, tmp_path: Path,
                                                              shared_data: Path):
    from kgsynth.graph.bulk_import import managed_target
    from kgsynth.settings import Neo4jSettings

    _clear(managed)
    store = _store(managed)
    store.upsert_concepts([Concept(id="X:1", name="already here")])
    store.close()
    with pytest.raises(ConfigError, match="is not empty.*Enterprise-only.*without --bulk"):
        _bulk(managed, merge_load["umls"], shared_data, tmp_path / "r.tsv")
    cli = _cli("load", "bulk", f"umls:{merge_load['umls']}", f"obo:{DATA / 'obo' / 'mini.obo'}", "--skip-bad",
               "--uri", managed.settings.uri, "--home", str(managed.home))
    assert cli.exit_code == ConfigError.exit_code and "is not empty" in cli.stderr
    assert "Traceback" not in cli.stdout + cli.stderr
    store = _store(managed)
    assert [c.id for c in store.iter_concepts()] == ["X:1"]  # untouched
    store.close()
    _clear(managed)
    other = Neo4jSettings(uri=f"bolt://127.0.0.1:{_free_port()}", password=None)
    with pytest.raises(ConfigError, match="needs the server that `kgsynth neo4j start` manages"):
        managed_target(other, managed.home)
    cli = _cli("load", "obo", str(DATA / "obo" / "mini.obo"), "--bulk", "--uri", other.uri, "--home",
               str(managed.home))
    assert cli.exit_code == ConfigError.exit_code and "is not the server of" in cli.stderr
    with pytest.raises(ConfigError, match="no --uri / NEO4J_URI"):
        managed_target(Neo4jSettings(uri=None), managed.home)


def _cli(*args: str):
    from typer.testing import CliRunner

    from kgsynth.cli import app

    return CliRunner().invoke(app, [*args, "--no-progress", "--json"])


@pytest.mark.neo4j
def test_bulk_refuses_short_disk_before_touching_anything(managed, merge_load, tmp_path: Path, shared_data: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    from kgsynth.graph import bulk_import, server

    _clear(managed)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(bulk_import.shutil, "disk_usage", lambda _: usage._replace(free=10_000))
    with pytest.raises(ConfigError, match="not enough disk space for the bulk load's temporary files"):
        _bulk(managed, merge_load["umls"], shared_data, tmp_path / "r.tsv")
    assert server.status(managed.home, probe=False).running


@pytest.mark.neo4j
def test_bulk_strict_stops_at_the_bad_row_like_merge(managed, merge_load, shared_data: Path):
    from kgsynth.graph import server
    from kgsynth.loaders.bulk import run_bulk_load
    from kgsynth.loaders.umls import UmlsLoader

    with pytest.raises(InputError) as merge_error:
        run_load(UmlsLoader(merge_load["umls"]), MemoryStore(None), show_progress=False)
    with pytest.raises(InputError) as bulk_error:
        run_bulk_load([UmlsLoader(merge_load["umls"])], managed, inputs=[merge_load["umls"]], show_progress=False)
    # the same error; the MERGE path adds what of the run it had already written (nothing, here)
    assert str(merge_error.value).startswith(str(bulk_error.value))
    assert str(merge_error.value)[len(str(bulk_error.value)):].startswith("; nothing of this run was written")
    assert "MRREL.RRF, line 3: wrong column count" in str(bulk_error.value)
    assert server.status(managed.home, probe=False).running  # failed before the server was stopped


_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from kgsynth.graph.bulk_import import managed_target
from kgsynth.settings import Neo4jSettings
from tests.test_loaders_bulk import _bulk
target = managed_target(Neo4jSettings(uri={uri!r}, password=None), Path({home!r}))
_bulk(target, Path({umls!r}), Path({shared!r}), Path({rejects!r}))
"""


@pytest.mark.neo4j
@pytest.mark.slow
def test_killed_bulk_load_then_rerun_gives_the_same_graph(managed, merge_load, tmp_path: Path, shared_data: Path):
    """SIGKILL a bulk load while neo4j-admin imports (server still up), run it again: the MERGE graph."""
    from kgsynth.graph import server

    _clear(managed)
    code = _CHILD.format(repo=str(REPO), uri=managed.settings.uri, home=str(managed.home),
                         umls=str(merge_load["umls"]), shared=str(shared_data), rejects=str(tmp_path / "r.tsv"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)
    log = managed.home / "bulk-staging" / "import" / "import.log"
    deadline = time.monotonic() + 120
    while not log.exists():
        assert process.poll() is None, "the bulk load ended before the import began"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    assert server.status(managed.home, probe=False).running  # killed mid-import: the server never stopped
    assert (managed.home / "data" / "databases" / "neo4j").is_dir()  # the previous database is in place
    assert canonical_dump(managed) == ([], [])  # and still empty

    _bulk(managed, merge_load["umls"], shared_data, tmp_path / "r2.tsv")
    assert canonical_dump(managed) == merge_load["dump"]
