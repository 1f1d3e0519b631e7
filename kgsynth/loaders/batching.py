"""How a load's record stream is cut into write batches.

:class:`StreamBatches` keeps the stream's order (the embedded store, where batches
are written one at a time). :class:`DisjointBatches` is for server stores, which
execute one batch while the previous one commits (see
:mod:`kgsynth.graph.neo4j_pipeline`): each relation goes to a *cell* named by the
parts of its two endpoints (ids hashed into 4 parts), and cells are emitted in
rounds, in an order where consecutive batches share no part, so the executing
batch seldom waits for node locks the committing one holds ("mix and batch").

Either way the graph is the one a one-record-at-a-time load gives: the records of
one concept or relation always land in the same buffer in stream order, buffers
are emitted in order, and a round's concepts are written before its relations.
"""

from __future__ import annotations

from kgsynth.graph.model import Concept, Relation
from kgsynth.loaders.base import merge_record

_PARTS = 4
#: Cells (unordered part pairs) in a cyclic order where neighbours share no part,
#: so the last cell of a round and the first of the next are disjoint too.
_CELL_ORDER = ((0, 1), (2, 3), (0, 0), (1, 2), (0, 3), (1, 1), (0, 2), (1, 3), (2, 2), (3, 3))
_CELL_INDEX = {pair: i for i, pair in enumerate(_CELL_ORDER)} | {
    (b, a): i for i, (a, b) in enumerate(_CELL_ORDER)
}
_NOTHING: tuple[Batch, ...] = ()


class Batch:
    """Records of one batch keyed by identity, merged in Python before they reach the store."""

    def __init__(self) -> None:
        self.concepts: dict[str, Concept] = {}
        self.relations: dict[tuple[str, str, str], Relation] = {}
        self.merged = 0
        self.prepared: object = None  # the batch as the store will write it (prepare_batch)

    def add(self, record: Concept | Relation) -> None:
        if isinstance(record, Concept):
            store, key = self.concepts, record.id
        else:
            store, key = self.relations, record.key
        old = store.get(key)
        if old is None:
            store[key] = record
        else:
            store[key] = merge_record(old, record)
            self.merged += 1

    def __len__(self) -> int:
        return len(self.concepts) + len(self.relations)


class StreamBatches:
    """Batches of ``size`` records in stream order."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._batch = Batch()

    def add(self, record: Concept | Relation) -> tuple[Batch, ...]:
        """Add one record; returns the batches it completed (usually none)."""
        self._batch.add(record)
        if len(self._batch) < self.size:
            return _NOTHING
        full, self._batch = self._batch, Batch()
        return (full,)

    def flush(self) -> tuple[Batch, ...]:
        full, self._batch = self._batch, Batch()
        return (full,) if len(full) else _NOTHING


class DisjointBatches:
    """Rounds of node-disjoint relation batches, ``4 * size`` relations a round, concepts first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._concepts = Batch()
        self._cells = [Batch() for _ in _CELL_ORDER]
        self._relations = 0

    def add(self, record: Concept | Relation) -> tuple[Batch, ...]:
        if isinstance(record, Concept):
            self._concepts.add(record)
            if len(self._concepts) < self.size:
                return _NOTHING
            full, self._concepts = self._concepts, Batch()
            return (full,)
        cell = _CELL_INDEX[hash(record.subject) % _PARTS, hash(record.object) % _PARTS]
        self._cells[cell].add(record)
        self._relations += 1
        if self._relations < _PARTS * self.size:
            return _NOTHING
        return self.flush()

    def flush(self) -> tuple[Batch, ...]:
        """The buffered concepts, then each non-empty cell in cell order."""
        out = [b for b in (self._concepts, *self._cells) if len(b)]
        self._concepts = Batch()
        self._cells = [Batch() for _ in _CELL_ORDER]
        self._relations = 0
        return tuple(out)
