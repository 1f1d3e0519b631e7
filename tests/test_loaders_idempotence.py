"""Loads are idempotent on both stores: twice = once, and killed midway + re-run = one clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kgsynth.graph.store import GraphStore
from kgsynth.loaders.obo import HpoaLoader, OboLoader
from kgsynth.loaders.runner import run_load
from kgsynth.loaders.snomed import SnomedLoader
from kgsynth.loaders.umls import UmlsLoader

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"


class Interrupted(Exception):
    """Stands in for a crash between two batches."""


def snapshot(store: GraphStore) -> tuple[list[dict], list[dict]]:
    return ([c.model_dump() for c in store.iter_concepts()], [r.model_dump() for r in store.iter_relations()])


def loaders(shared_data: Path) -> list:
    snomed = shared_data / "snomed-rf2-mini" / "SnomedCT_MiniRF2_Base_with_Anthrax_snapshot"
    return [
        UmlsLoader(DATA / "umls"),
        OboLoader(DATA / "obo" / "mini.obo"),
        HpoaLoader(DATA / "obo" / "mini.hpoa"),
        SnomedLoader(snomed),
    ]


def test_loading_twice_gives_the_same_graph(store: GraphStore, shared_data: Path):
    for loader in loaders(shared_data):
        run_load(loader, store, show_progress=False, batch_size=4)
    once = snapshot(store)
    for loader in loaders(shared_data):
        run_load(loader, store, show_progress=False, batch_size=4)
    assert snapshot(store) == once
    assert len(once[1]) > 30


def test_interrupted_load_then_rerun_equals_one_clean_run(store: GraphStore, shared_data: Path):
    for loader in loaders(shared_data):
        run_load(loader, store, show_progress=False, batch_size=3)
    clean = snapshot(store)
    store.clear()

    def crash(batch: int) -> None:
        if batch == 2:
            raise Interrupted

    interrupted = 0
    for loader in loaders(shared_data):
        try:
            run_load(loader, store, show_progress=False, batch_size=3, after_batch=crash)
        except Interrupted:
            interrupted += 1
    assert interrupted >= 2
    partial = snapshot(store)
    assert 0 < len(partial[1]) < len(clean[1])  # it really stopped midway
    for loader in loaders(shared_data):
        run_load(loader, store, show_progress=False, batch_size=3)
    assert snapshot(store) == clean


_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {bench!r})
from kgsynth.graph.open import open_store
from kgsynth.loaders.runner import run_load
from kgsynth.loaders.umls import UmlsLoader
store = open_store(uri={uri!r}, store_path=Path({path!r}))
run_load(UmlsLoader(Path({rrf!r})), store, batch_size=500, checkpoint_seconds=0, show_progress=False)
store.close()
"""


@pytest.mark.slow
def test_killed_process_then_rerun_equals_one_clean_run(store: GraphStore, tmp_path: Path):
    """SIGKILL a real load process midway, run it again, compare with one clean run."""
    sys.path.insert(0, str(REPO / "bench"))
    from load import generate

    rrf = tmp_path / "rrf"
    generate(rrf, 10_000)
    uri = os.environ.get("NEO4J_URI") if store.backend == "neo4j" else None
    killed_path, clean_path = tmp_path / "killed.json.gz", tmp_path / "clean.json.gz"

    def child(path: Path) -> subprocess.Popen:
        code = _CHILD.format(bench=str(REPO / "bench"), uri=uri, path=str(path), rrf=str(rrf))
        env = {k: v for k, v in os.environ.items() if uri or k != "NEO4J_URI"}
        return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)

    assert child(clean_path).wait(timeout=300) == 0
    if uri:
        clean = snapshot(store)
        store.clear()
    else:
        from kgsynth.graph.memory import MemoryStore

        clean = snapshot(MemoryStore(clean_path))

    process = child(killed_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until some batches are durable, then kill
        if uri and sum(store.count_relations_by_type().values()) > 1000:
            break
        if not uri and killed_path.exists():
            break
        assert process.poll() is None, "the load finished before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL

    assert child(killed_path).wait(timeout=300) == 0
    if uri:
        assert snapshot(store) == clean
    else:
        from kgsynth.graph.memory import MemoryStore

        assert snapshot(MemoryStore(killed_path)) == clean
