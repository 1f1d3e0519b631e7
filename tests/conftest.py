"""Shared fixtures: both graph stores, the shared data folder, CI-aware skipping.

Tests that need the real Neo4j read ``NEO4J_URI``. Outside CI they skip when it is
unset; in CI (``CI=true``) a missing server fails the test instead, so the Neo4j
half of the contract suite cannot silently disappear.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.store import GraphStore

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KGSYNTH_SHARED_DATA", REPO.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, reason: str) -> None:
    """Skip outside CI, fail in CI, when a real dependency is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    need(SHARED_DATA.is_dir(), f"shared data folder {SHARED_DATA} is missing")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from the user's embedded store."""
    monkeypatch.setenv("KGSYNTH_STORE", str(tmp_path_factory.mktemp("store") / "graph.json.gz"))


@pytest.fixture(scope="session")
def _neo4j_session_store() -> Iterator[GraphStore]:
    uri = os.environ.get("NEO4J_URI")
    need(bool(uri), "NEO4J_URI is not set (start one with `kgsynth neo4j start`)")
    from kgsynth.graph.neo4j_store import Neo4jStore
    from kgsynth.settings import Neo4jSettings

    store = Neo4jStore(Neo4jSettings())
    yield store
    store.close()


@pytest.fixture
def neo4j_store(_neo4j_session_store: GraphStore) -> GraphStore:
    """The real Neo4j store, emptied before the test."""
    _neo4j_session_store.clear()
    return _neo4j_session_store


@pytest.fixture
def memory_store(tmp_path: Path) -> MemoryStore:
    return MemoryStore(tmp_path / "graph.json.gz")


@pytest.fixture(params=["memory", "neo4j"])
def store(request: pytest.FixtureRequest) -> GraphStore:
    """Each store in turn: the contract both must honour."""
    if request.param == "memory":
        return request.getfixturevalue("memory_store")
    return request.getfixturevalue("neo4j_store")
