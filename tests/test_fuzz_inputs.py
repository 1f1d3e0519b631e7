"""Fuzzed bad input through the real commands: never a traceback, never a silent success.

Hypothesis mutates small valid seeds of every format the CLI reads (see
``tests/fuzz_inputs.py``) and each mutant goes through the command that reads it,
in-process. Every case must end as a clean error (non-zero exit, one line naming the
file and the line or record) or be accepted with its report; a load that fails into a
pre-populated store must leave it unchanged or say what it had written. The profile
is derandomized (same cases every run) with no deadline; each case must stay under 10 s.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.sample import sample_graph
from kgsynth.graph.schema import RELATION_TYPES, SEMANTIC_GROUPS
from tests.fuzz_inputs import HANDMADE, MUTATIONS, TARGETS, Case, handmade_case, make_case, run_case

# No shrinking: a failing case is printed as it was drawn (derandomized, so it is drawn again next run).
FUZZ = settings(max_examples=50, deadline=None, derandomize=True, database=None, print_blob=False,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
LOADS = [name for name, target in TARGETS.items() if target.loads]
LINE_LOADS = [name for name in LOADS if TARGETS[name].line_based]


@pytest.fixture(autouse=True)
def _embedded_store(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """The CLI must use each case's --store file (Neo4j tests: the server); train must never reach the network."""
    if request.node.get_closest_marker("neo4j") is None:
        monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def prepopulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded store holding the sample graph: loads into it must not corrupt it silently."""
    path = tmp_path_factory.mktemp("kg") / "graph.json.gz"
    store = MemoryStore(path)
    concepts, relations = sample_graph()
    store.upsert_concepts(concepts)
    store.upsert_relations(relations)
    store.close()
    return path


@pytest.fixture(scope="module")
def _warm_train() -> None:
    """`train` imports torch and transformers' trainer utilities first: import them outside the timed cases."""
    pytest.importorskip("torch")
    from transformers import get_cosine_schedule_with_warmup  # noqa: F401


def _check(case: Case, folder: Path, prepopulated: Path | None) -> None:
    before = prepopulated.read_bytes() if prepopulated is not None else None
    outcome, argv = run_case(case, folder, prepopulated)
    where = f"{case.target}/{case.mutation}: kgsynth {' '.join(argv)}"
    assert outcome.verdict in ("clean error", "accepted"), f"{where}: {outcome}"
    assert outcome.seconds < 10, f"{where}: took {outcome.seconds:.1f} s"
    if before is not None and outcome.exit_code != 0:
        unchanged = (folder / "graph.json.gz").read_bytes() == before
        assert unchanged or "already written" in outcome.message, f"{where}: store changed, not said: {outcome}"


@pytest.mark.parametrize("fmt", sorted(TARGETS))
@FUZZ
@given(mutation=st.sampled_from(MUTATIONS), seed=st.integers(0, 2**20))
def test_mutated_seed_fails_cleanly_or_is_accepted(fmt: str, mutation: str, seed: int, prepopulated: Path,
                                                   tmp_path_factory: pytest.TempPathFactory,
                                                   request: pytest.FixtureRequest) -> None:
    if fmt.startswith("train"):
        request.getfixturevalue("_warm_train")
    case = make_case(fmt, mutation, seed)
    _check(case, tmp_path_factory.mktemp(fmt), prepopulated if TARGETS[fmt].loads else None)


@pytest.mark.parametrize("index", range(len(HANDMADE)), ids=[f"{t}-{w}".replace(" ", "_") for t, w, _ in HANDMADE])
def test_handmade_malformed_file_is_refused(index: int, prepopulated: Path, tmp_path: Path,
                                            request: pytest.FixtureRequest) -> None:
    case = handmade_case(index)
    if case.target.startswith("train"):
        request.getfixturevalue("_warm_train")
    before = prepopulated.read_bytes()
    outcome, argv = run_case(case, tmp_path, prepopulated if TARGETS[case.target].loads else None)
    assert outcome.verdict == "clean error", f"{case.target}/{case.mutation}: {argv}: {outcome}"
    assert outcome.seconds < 10
    if TARGETS[case.target].loads:
        assert (tmp_path / "graph.json.gz").read_bytes() == before or "already written" in outcome.message


@pytest.mark.parametrize("fmt", LINE_LOADS)
@settings(FUZZ, max_examples=12)
@given(mutation=st.sampled_from(["nul", "bad_byte", "latin1", "junk_token", "delete_line", "flip"]),
       seed=st.integers(0, 2**20))
def test_lenient_load_counts_every_rejected_line(fmt: str, mutation: str, seed: int,
                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    """--skip-bad: a bad line is counted and kept in the rejects file, or the whole file is refused cleanly."""
    case = make_case(fmt, mutation, seed)
    folder = tmp_path_factory.mktemp(f"lenient-{fmt}")
    rejects = folder / "rejects.tsv"
    case.command = 0
    case.extra = ["--skip-bad", "--rejects", str(rejects)]
    case.must_fail = False  # lenient: a bad row is counted, not fatal (checked below)
    outcome, argv = run_case(case, folder)
    assert outcome.verdict in ("clean error", "accepted"), f"{argv}: {outcome}"
    if outcome.exit_code == 0 and mutation in ("nul", "bad_byte", "latin1"):
        report = json.loads(_rerun_json(argv))
        assert report["skipped"] >= 1 and report["rejects_file"] == str(rejects)
        kept = rejects.read_text(encoding="utf-8").splitlines()
        assert kept and all("line" in row.split("\t")[0] or row.split("\t")[0] for row in kept)


def _rerun_json(argv: list[str]) -> str:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("fmt, bad", [
    ("umls", ("in/MRREL.RRF", b"C9000001|A1|CUI|RO|C9000003\n")),
    ("pubtator", ("x.PubTator", b"3|t|Broken.\n3\t9\t3\tx\tChemicalEntity\tD000001\n")),
    ("hpoa", ("x.hpoa", b"OMIM:900002\tX\t\tHP:9000001\n")),
])
def test_strict_load_after_written_batches_says_so_and_atomic_writes_nothing(
        fmt: str, bad: tuple[str, bytes], prepopulated: Path, tmp_path: Path) -> None:
    target = TARGETS[fmt]
    files = {k: v.encode("utf-8") for k, v in target.files.items()}
    name, tail = bad
    files[name] = files[name] + (b"\n" if fmt == "pubtator" else b"") + tail
    for atomic in (False, True):
        folder = tmp_path / f"atomic-{atomic}"
        case = Case(fmt, "bad last row", files, name, True, extra=["--batch-size", "1"] + ["--atomic"] * atomic)
        outcome, argv = run_case(case, folder, prepopulated)
        assert outcome.verdict == "clean error", outcome
        if atomic:
            assert "nothing of this run was written" in outcome.message
            assert (folder / "graph.json.gz").read_bytes() == prepopulated.read_bytes()
        else:
            assert "were already written" in outcome.message and "re-run after the fix" in outcome.message
            rerun = CliRunner().invoke(app, argv)  # the same input, the same error, nothing doubled
            assert rerun.exit_code == outcome.exit_code


def test_cypher_in_ids_never_reaches_the_schema(tmp_path: Path) -> None:
    """Ids and labels holding Cypher are refused (strict) or loaded as plain values (lenient): no new labels."""
    pubtator = TARGETS["pubtator"].files["x.PubTator"].replace(
        "D001241\n", 'D001241"}) DETACH DELETE n //\n', 1).replace("Association", "`X` SET n:Admin //", 1)
    path = tmp_path / "x.PubTator"
    path.write_text(pubtator, encoding="utf-8")
    store = tmp_path / "g.json.gz"
    strict = CliRunner().invoke(app, ["load", "biored", str(path), "--store", str(store), "--no-progress"])
    assert strict.exit_code == 3 and "x.PubTator" in strict.stderr
    lenient = CliRunner().invoke(app, ["load", "biored", str(path), "--store", str(store), "--skip-bad",
                                       "--rejects", str(tmp_path / "r.tsv"), "--no-progress", "--json"])
    assert lenient.exit_code == 0, lenient.stderr
    graph = MemoryStore(store)
    assert set(graph.count_relations_by_type()) <= set(RELATION_TYPES)
    assert set(graph.count_concepts_by_group()) <= set(SEMANTIC_GROUPS)


def test_named_pipe_without_writer_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "x.PubTator"
    os.mkfifo(fifo)
    result = CliRunner().invoke(app, ["load", "biored", str(fifo), "--store", str(tmp_path / "g.json.gz"),
                                      "--no-progress"])
    assert result.exit_code == 3 and "pipe that gave no data" in result.stderr


def test_piped_corpus_is_read_once_whole(tmp_path: Path) -> None:
    """Format detection peeks at a pipe; the reader then gets every byte (the ~8 KB once lost)."""
    from kgsynth.loaders.corpus import read_documents

    seed = TARGETS["pubtator"].files["x.PubTator"]
    text = "".join(re.sub(r"^2(?=[|\t])", str(i + 1000), re.sub(r"^1(?=[|\t])", str(i), seed, flags=re.M),
                          flags=re.M) + "\n" for i in range(3, 300))
    read_end, write_end = os.pipe()  # what `<(cat file)` hands over: /dev/fd/N of a pipe with a writer
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            with os.fdopen(write_end, "w", encoding="utf-8") as out:
                out.write(text)
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        docs = list(read_documents(Path(f"/dev/fd/{read_end}")))
    finally:
        os.waitpid(pid, 0)
        os.close(read_end)
    assert len(text) > 8192 and len(docs) == 2 * 297


# -- Neo4j: loads that fail leave the graph as it was, or say what they wrote ---------------------
@pytest.mark.neo4j
@settings(FUZZ, max_examples=60)
@given(fmt=st.sampled_from(LOADS), mutation=st.sampled_from(MUTATIONS), seed=st.integers(0, 2**20))
def test_neo4j_loads_of_mutants(fmt: str, mutation: str, seed: int, neo4j_store,
                                tmp_path_factory: pytest.TempPathFactory) -> None:
    neo4j_store.clear()
    concepts, relations = sample_graph()
    neo4j_store.upsert_concepts(concepts)
    neo4j_store.upsert_relations(relations)
    before = neo4j_store.stats()
    case = make_case(fmt, mutation, seed)
    case.command = 0  # the format's `kgsynth load` (its other commands, e.g. evaluate, read no graph)
    folder = tmp_path_factory.mktemp(f"neo4j-{fmt}")
    case.extra = ["--batch-size", "2"]
    outcome, argv = _run_on_neo4j(case, folder)
    assert outcome.verdict in ("clean error", "accepted"), f"{argv}: {outcome}"
    assert outcome.seconds < 10
    if outcome.exit_code != 0:
        assert neo4j_store.stats() == before or "already written" in outcome.message, outcome
    assert set(neo4j_store.count_relations_by_type()) <= set(RELATION_TYPES)
    assert set(neo4j_store.count_concepts_by_group()) <= set(SEMANTIC_GROUPS)


@pytest.mark.neo4j
def test_neo4j_atomic_load_writes_nothing_on_failure(neo4j_store, tmp_path: Path) -> None:
    concepts, relations = sample_graph()
    neo4j_store.upsert_concepts(concepts)
    neo4j_store.upsert_relations(relations)
    before = neo4j_store.stats()
    target = TARGETS["pubtator"]
    files = {"x.PubTator": (target.files["x.PubTator"] + "\n3|t|Broken.\n3\t9\t3\tx\tChemicalEntity\tD1\n").encode()}
    for atomic, said in ((True, "nothing of this run was written"), (False, "were already written")):
        neo4j_store.clear()
        neo4j_store.upsert_concepts(concepts)
        neo4j_store.upsert_relations(relations)
        case = Case("pubtator", "bad last document", files, "x.PubTator", True,
                    extra=["--batch-size", "1"] + ["--atomic"] * atomic)
        outcome, _ = _run_on_neo4j(case, tmp_path / str(atomic))
        assert outcome.verdict == "clean error" and said in outcome.message, outcome
        assert (neo4j_store.stats() == before) is atomic


def _run_on_neo4j(case: Case, folder: Path):
    """Run a load case against the server in NEO4J_URI (the case's --store flag removed)."""
    from tests import fuzz_inputs

    target = TARGETS[case.target]
    original = target.commands

    def without_store(make):
        def argv(case_folder: Path, file: Path) -> list[str]:
            args = make(case_folder, file)
            if "--store" not in args:  # a command that reads no graph (evaluate)
                return args
            at = args.index("--store")
            return args[:at] + args[at + 2 :]
        return argv

    target.commands = [without_store(c) for c in original]
    try:
        return fuzz_inputs.run_case(case, folder)
    finally:
        target.commands = original
        shutil.rmtree(folder, ignore_errors=True)


# -- generate's output folder and journal ---------------------------------------------------------
def _instances(tmp_path: Path) -> Path:
    path = tmp_path / "i.jsonl"
    path.write_text(TARGETS["instances"].files["i.jsonl"], encoding="utf-8")
    return path


@pytest.mark.parametrize("out", ["file", "."])
def test_generate_out_that_is_a_file_or_the_current_folder_is_refused(out: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if out == "file":
        (tmp_path / "file").write_text("x", encoding="utf-8")
    result = CliRunner().invoke(app, ["generate", "--instances", str(_instances(tmp_path)), "--out", out,
                                      "--n", "1", "--no-extract", "--json"])
    assert result.exit_code == 3 and f"--out {out}" in result.stderr, result.stderr


def test_generate_resume_drops_a_corrupt_last_journal_line(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    args = ["generate", "--instances", str(_instances(tmp_path)), "--out", str(out), "--no-extract", "--json",
            "--shard-size", "10"]
    first = CliRunner().invoke(app, [*args, "--n", "2"])
    assert first.exit_code == 0, first.stderr
    shard = out / "notes-00000.jsonl"
    journal = out / "notes-00000.jsonl.part"
    shard.rename(journal)  # as a killed run leaves it: the open journal
    journal.write_bytes(journal.read_bytes() + b'{"text": "torn", "decoding": \xff}\n')
    resumed = CliRunner().invoke(app, [*args, "--n", "2"])  # the same plan: resume, the torn line dropped
    assert resumed.exit_code == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["skipped_done"] == 2 and report["written"] + report["rejected"] == 0
    assert b"torn" not in b"".join(p.read_bytes() for p in out.glob("notes-*"))
    damaged = next(out.glob("notes-*.jsonl"))
    lines = damaged.read_bytes().split(b"\n")
    damaged.write_bytes(b"\n".join([b"{broken", *lines[1:]]))
    again = CliRunner().invoke(app, [*args, "--n", "2"])
    assert again.exit_code == 3 and f"{damaged.name}, line 1: not a JSON record" in again.stderr
