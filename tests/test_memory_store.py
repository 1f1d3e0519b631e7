"""What only the embedded store has: its file, saved atomically and read back."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from kgsynth.errors import InputError, StoreError
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.sample import sample_graph


def test_saved_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "kg.json.gz"
    concepts, relations = sample_graph()
    with MemoryStore(path) as store:
        store.upsert_concepts(concepts)
        store.upsert_relations(relations)
        before = (list(store.iter_concepts()), list(store.iter_relations()))
    reopened = MemoryStore(path)
    assert (list(reopened.iter_concepts()), list(reopened.iter_relations())) == before


@pytest.mark.parametrize(
    "content",
    [b"not gzip at all", gzip.compress(b"{truncated"), gzip.compress(b'{"format": "other"}'), gzip.compress(b"[]")],
    ids=["not-gzip", "truncated-json", "wrong-format", "wrong-shape"],
)
def test_corrupt_file_is_a_clear_error_and_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "kg.json.gz"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=str(path)):
        MemoryStore(path)
    assert path.read_bytes() == content


def test_failed_save_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kg.json.gz"
    concepts, relations = sample_graph()
    with MemoryStore(path) as store:
        store.upsert_concepts(concepts)
    good = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    store = MemoryStore(path)
    store.upsert_relations(relations)
    monkeypatch.setattr("kgsynth.atomic.os.replace", boom)
    with pytest.raises(InputError, match="kg.json.gz: cannot write here \\(disk full\\)"):
        store.checkpoint()
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["kg.json.gz"]


def test_unchanged_store_does_not_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "kg.json.gz"
    with MemoryStore(path) as store:
        store.upsert_concepts(sample_graph()[0])
    mtime = path.stat().st_mtime_ns
    with MemoryStore(path):
        pass
    assert path.stat().st_mtime_ns == mtime
