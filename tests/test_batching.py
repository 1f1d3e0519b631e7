"""Write batches: node-disjoint rounds for server stores, and the pipelined Neo4j writer."""

from __future__ import annotations

import random
from pathlib import Path

from neo4j import exceptions as neo4j_errors

from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.model import Concept, Provenance, Relation
from kgsynth.graph.store import GraphStore
from kgsynth.loaders.batching import _PARTS, DisjointBatches, StreamBatches
from kgsynth.loaders.obo import HpoaLoader, OboLoader
from kgsynth.loaders.runner import run_load
from kgsynth.loaders.umls import UmlsLoader

DATA = Path(__file__).parent / "data"
PROV = [Provenance(source="T", file="f")]


def _records(n: int, seed: int = 3) -> list[Concept | Relation]:
    rng = random.Random(seed)
    out: list[Concept | Relation] = [Concept(id=f"X:{i}", name=f"c{i}", provenance=PROV) for i in range(50)]
    for j in range(n):  # repeats of a triple with different labels: list order must survive batching
        a, b = rng.randrange(50), rng.randrange(50)
        out.append(Relation(subject=f"X:{a}", type="RELATED_TO", object=f"X:{b}", source_labels=[f"L{j % 7}"],
                            provenance=PROV))
    return out


def _parts(batch) -> set[int]:
    return {hash(end) % _PARTS for rel in batch.relations.values() for end in (rel.subject, rel.object)}


def test_disjoint_batches_keep_every_record_and_neighbours_share_no_part():
    records = _records(2000)
    batcher = DisjointBatches(size=40)
    batches = []
    for record in records:
        batches.extend(batcher.add(record))
    batches.extend(batcher.flush())
    relation_batches = [b for b in batches if b.relations]
    assert sum(len(b.concepts) for b in batches) == 50
    seen = sum(len(b.relations) + b.merged for b in relation_batches)
    assert seen == 2000
    # Within a round (10 cells), consecutive batches touch disjoint node parts.
    neighbours = list(zip(relation_batches, relation_batches[1:], strict=False))
    disjoint = sum(1 for x, y in neighbours if not _parts(x) & _parts(y))
    assert disjoint >= 0.9 * len(neighbours)


def test_disjoint_batches_give_the_graph_of_stream_batches():
    """The same records cut both ways give the same graph, list order included."""
    records = _records(600)
    graphs = []
    for batcher in (StreamBatches(7), DisjointBatches(7)):
        store = MemoryStore(None)
        for record in records:
            for batch in batcher.add(record):
                store.upsert_concepts(batch.concepts.values())
                store.upsert_relations(batch.relations.values())
        for batch in batcher.flush():
            store.upsert_concepts(batch.concepts.values())
            store.upsert_relations(batch.relations.values())
        graphs.append((list(store.iter_concepts()), list(store.iter_relations())))
    assert graphs[0] == graphs[1]
    assert any(len(r.source_labels) > 1 for r in graphs[0][1])


def _fixture_loaders() -> list:
    return [UmlsLoader(DATA / "umls"), OboLoader(DATA / "obo" / "mini.obo"), HpoaLoader(DATA / "obo" / "mini.hpoa")]


def _snapshot(store: GraphStore) -> tuple[list, list]:
    return list(store.iter_concepts()), list(store.iter_relations())


def test_overlapped_load_equals_a_plain_one_on_the_embedded_store():
    plain, overlapped = MemoryStore(None), MemoryStore(None)
    for loader in _fixture_loaders():
        run_load(loader, plain, show_progress=False, batch_size=3, threaded=False)
        run_load(loader, overlapped, show_progress=False, batch_size=3, threaded=True)
    assert _snapshot(plain) == _snapshot(overlapped)


def test_pipelined_writer_rewrites_batches_behind_a_failed_commit(neo4j_store, monkeypatch):
    """A transient commit failure: that batch and the ones queued behind it are written again, in order."""
    from kgsynth.graph.neo4j_pipeline import PipelinedWriter

    clean = MemoryStore(None)
    for loader in _fixture_loaders():
        run_load(loader, clean, show_progress=False, batch_size=3, threaded=False)

    calls = {"n": 0, "failed": 0}
    commit = PipelinedWriter._commit

    def flaky(self, tx):
        calls["n"] += 1
        if calls["n"] in (3, 11):
            calls["failed"] += 1
            self._failed = True
            tx.close()  # rolled back, as a failed commit leaves it
            raise neo4j_errors.TransientError("injected commit failure")
        return commit(self, tx)

    monkeypatch.setattr(PipelinedWriter, "_commit", flaky)
    for loader in _fixture_loaders():
        run_load(loader, neo4j_store, show_progress=False, batch_size=3)
    assert calls["failed"] == 2
    assert _snapshot(neo4j_store) == _snapshot(clean)
