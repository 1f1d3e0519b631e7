"""The store's upsert rule applied across a whole input, in bounded memory (an external merge sort).

``neo4j-admin database import`` needs every node once and every relationship once,
so the bulk path must fold all records of one id (or one subject/type/object
triple) before it writes a CSV row, exactly as a sequence of MERGE batches would:
lists gain new items in first-seen order, the first non-empty name and novelty
stay, a specific group replaces ``Other``, an endpoint that is no concept becomes
a bare placeholder. Records are folded in a dict of at most ``chunk_records``
entries (duplicates close together merge there); a full chunk is sorted by key
and spilled to a run file; at the end the runs are merged with ``heapq.merge``,
which is stable, so equal keys fold in input order. Memory is one chunk plus one
block per run, whatever the input size. A load that fits one chunk never touches
the disk.
"""

from __future__ import annotations

import heapq
import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from kgsynth.graph.model import Concept, Relation

#: (name, group, synonyms, semantic_types, xrefs, provenance keys)
ConceptRow = tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]
#: (source_labels, evidence, novelty, provenance keys)
RelationRow = tuple[tuple[str, ...], tuple[str, ...], str, tuple[str, ...]]
RelationKey = tuple[str, str, str]

#: Entries (concepts + relations) held in memory before a chunk is spilled; ~300 bytes each.
DEFAULT_CHUNK_RECORDS = 1_000_000
_BLOCK = 20_000  # entries per pickled block of a run file
_PLACEHOLDER: ConceptRow = ("", "Other", (), (), (), ())


def _union(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
    """``merge_lists`` on tuples, with the common no-op cases short-cut."""
    if not new or new == old:
        return old
    if not old:
        return new
    return tuple(dict.fromkeys(old + new))


def fold_concept(old: ConceptRow, new: ConceptRow) -> ConceptRow:
    """The concept upsert rule (``merge_record``, ``upsert_concepts``) on compact rows."""
    return (
        old[0] or new[0],
        new[1] if old[1] == "Other" else old[1],
        _union(old[2], new[2]),
        _union(old[3], new[3]),
        _union(old[4], new[4]),
        _union(old[5], new[5]),
    )


def fold_relation(old: RelationRow, new: RelationRow) -> RelationRow:
    """The relation upsert rule on compact rows."""
    return (_union(old[0], new[0]), _union(old[1], new[1]), old[2] or new[2], _union(old[3], new[3]))


@dataclass
class MergeStats:
    """What the merge saw: records in, folds, and what came out."""

    concept_records: int = 0
    relation_records: int = 0
    merged: int = 0
    runs: int = 0
    spill_bytes: int = 0
    concepts: int = 0
    placeholders: int = 0
    relations: int = 0


@dataclass
class _Run:
    """One sorted chunk: in memory (the last one) or spilled to three files."""

    concepts: list[tuple[str, ConceptRow]] | Path
    relations: list[tuple[RelationKey, RelationRow]] | Path
    endpoints: list[str] | Path


@dataclass
class BulkMerger:
    """Fold a record stream with the upsert rule; spill sorted runs under ``workdir``."""

    workdir: Path
    chunk_records: int = DEFAULT_CHUNK_RECORDS
    stats: MergeStats = field(default_factory=MergeStats)

    def __post_init__(self) -> None:
        self._concepts: dict[str, ConceptRow] = {}
        self._relations: dict[RelationKey, RelationRow] = {}
        self._endpoints: set[str] = set()
        self._runs: list[_Run] = []
        self._prov: dict[int, tuple[Any, str]] = {}  # id(Provenance) -> (object kept alive, key)

    # -- input --------------------------------------------------------------------
    def _prov_keys(self, provenance: list) -> tuple[str, ...]:
        keys = []
        for p in provenance:
            hit = self._prov.get(id(p))
            if hit is None:
                if len(self._prov) > 10_000:  # loaders share a few objects; a stream of fresh ones must not grow
                    self._prov.clear()
                hit = self._prov[id(p)] = (p, p.key())
            keys.append(hit[1])
        return tuple(keys)

    def add(self, record: Concept | Relation) -> None:
        if isinstance(record, Relation):
            self.stats.relation_records += 1
            key = (record.subject, record.type, record.object)
            row: RelationRow = (tuple(record.source_labels), tuple(record.evidence), record.novelty,
                                self._prov_keys(record.provenance))
            old = self._relations.get(key)
            if old is None:
                self._relations[key] = row
                self._endpoints.add(record.subject)
                self._endpoints.add(record.object)
            else:
                self._relations[key] = fold_relation(old, row)
                self.stats.merged += 1
        else:
            self.stats.concept_records += 1
            crow: ConceptRow = (record.name, record.group, tuple(record.synonyms), tuple(record.semantic_types),
                                tuple(record.xrefs), self._prov_keys(record.provenance))
            cold = self._concepts.get(record.id)
            if cold is None:
                self._concepts[record.id] = crow
            else:
                self._concepts[record.id] = fold_concept(cold, crow)
                self.stats.merged += 1
        if len(self._concepts) + len(self._relations) >= self.chunk_records:
            self._spill()

    def add_all(self, records: Iterable[Concept | Relation]) -> None:
        for record in records:
            self.add(record)

    def _spill(self) -> None:
        n = len(self._runs)
        run = _Run(
            concepts=self._write(f"run{n:04d}-concepts.pkl", sorted(self._concepts.items())),
            relations=self._write(f"run{n:04d}-relations.pkl", sorted(self._relations.items())),
            endpoints=self._write(f"run{n:04d}-endpoints.pkl", sorted(self._endpoints)),
        )
        self._runs.append(run)
        self._concepts, self._relations, self._endpoints = {}, {}, set()

    def _write(self, name: str, items: list) -> Path:
        path = self.workdir / name
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            for start in range(0, len(items), _BLOCK):
                pickle.dump(items[start:start + _BLOCK], handle, protocol=pickle.HIGHEST_PROTOCOL)
        self.stats.spill_bytes += path.stat().st_size
        return path

    # -- output -------------------------------------------------------------------
    def finish(self) -> MergedGraph:
        """Close the input; the merged graph can then be iterated once."""
        if not self._runs:  # everything fit one chunk: no sort, no disk
            graph = MergedGraph(self, single=(self._concepts, self._relations, self._endpoints))
        else:
            if self._concepts or self._relations:
                self._runs.append(_Run(sorted(self._concepts.items()), sorted(self._relations.items()),
                                       sorted(self._endpoints)))
            self._concepts, self._relations, self._endpoints = {}, {}, set()
            graph = MergedGraph(self, single=None)
        self.stats.runs = len(self._runs)
        return graph

    def cleanup(self) -> None:
        for run in self._runs:
            for part in (run.concepts, run.relations, run.endpoints):
                if isinstance(part, Path):
                    part.unlink(missing_ok=True)
        self._runs = []


def _read(part: list | Path) -> Iterator:
    if isinstance(part, list):
        yield from part
        return
    with open(part, "rb") as handle:
        while True:
            try:
                block = pickle.load(handle)
            except EOFError:
                return
            yield from block


class MergedGraph:
    """The merged records: concepts (placeholders included) then relations, each once."""

    def __init__(self, merger: BulkMerger, single: tuple[dict, dict, set] | None) -> None:
        self._merger = merger
        self._single = single

    def concepts(self) -> Iterator[tuple[str, ConceptRow]]:
        """Every concept id with its folded row; relation endpoints that are no concept as placeholders."""
        stats = self._merger.stats
        if self._single is not None:
            concepts, _, endpoints = self._single
            for item in concepts.items():
                stats.concepts += 1
                yield item
            for end in endpoints:
                if end not in concepts:
                    stats.placeholders += 1
                    yield end, _PLACEHOLDER
            return
        runs = self._merger._runs
        folded = _fold_sorted(heapq.merge(*(_read(r.concepts) for r in runs), key=itemgetter(0)), fold_concept, stats)
        ends = _distinct(heapq.merge(*(_read(r.endpoints) for r in runs)))
        end = next(ends, None)
        for cid, row in folded:
            while end is not None and end < cid:
                stats.placeholders += 1
                yield end, _PLACEHOLDER
                end = next(ends, None)
            if end == cid:
                end = next(ends, None)
            stats.concepts += 1
            yield cid, row
        while end is not None:
            stats.placeholders += 1
            yield end, _PLACEHOLDER
            end = next(ends, None)

    def relations(self) -> Iterator[tuple[RelationKey, RelationRow]]:
        stats = self._merger.stats
        if self._single is not None:
            items: Iterable = self._single[1].items()
        else:
            merged = heapq.merge(*(_read(r.relations) for r in self._merger._runs), key=itemgetter(0))
            items = _fold_sorted(merged, fold_relation, stats)
        for item in items:
            stats.relations += 1
            yield item


def _fold_sorted(items: Iterator[tuple[Any, Any]], fold: Any, stats: MergeStats) -> Iterator[tuple[Any, Any]]:
    """Fold runs of equal keys (already in input order) into one row each."""
    for key, group in groupby(items, key=itemgetter(0)):
        _, row = next(group)
        for _, other in group:  # noqa: B031 - the rest of the group after its first item
            row = fold(row, other)
            stats.merged += 1
        yield key, row


def _distinct(items: Iterator[str]) -> Iterator[str]:
    last = None
    for item in items:
        if item != last:
            yield item
            last = item
