"""Coverage: which concepts and facts of the graph the generated notes have used.

This module stores and reports coverage from :class:`NoteCoverage` rows (ids,
mentions, facts); turning generated note records into those rows is generation's
job (:mod:`kgsynth.generation.coverage`), so data still flows one way.

Notes are written back so that coverage can be inspected where the graph lives:
on Neo4j as ``Note``/``Fact`` nodes (queries in ``coverage.cypher``, pasteable in
Browser); on the embedded store in a sidecar file beside the graph file, because
note nodes inside the networkx graph would show up as concepts to every reader.
Both sides compute the same :class:`CoverageReport` (a test checks they agree).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field

from kgsynth.atomic import write_lines_atomic
from kgsynth.cypher import query
from kgsynth.errors import ConfigError, InputError
from kgsynth.graph.store import GraphStore, batched

SIDECAR_FORMAT = "kgsynth-notes/1"


class Mention(BaseModel):
    concept_id: str
    start: int
    end: int
    text: str


class Fact(BaseModel):
    subject: str
    type: str
    object: str

    @property
    def key(self) -> str:
        return f"{self.subject}|{self.type}|{self.object}"


class NoteCoverage(BaseModel):
    """What one note contributes to coverage: the row written back per note."""

    id: str
    note_type: str = ""
    dataset: str = ""
    motif: str = ""
    mentions: list[Mention] = Field(default_factory=list)
    facts: list[Fact] = Field(default_factory=list)


# -- write-back ---------------------------------------------------------------
class WriteReport(BaseModel):
    notes: int
    mentions: int
    facts: int
    unknown_concepts: int


def write_coverage(store: GraphStore, notes_in: Iterable[NoteCoverage], batch_size: int = 500) -> WriteReport:
    """Write notes back (idempotent: a note id written twice is one note).

    Takes :class:`NoteCoverage` rows, not note records: this layer knows the graph,
    not what generation writes (:mod:`kgsynth.generation.coverage` converts).
    """
    notes = mentions = facts = unknown = 0
    backend = _backend(store)
    for batch in batched(notes_in, batch_size):
        known = store.get_concepts({m.concept_id for n in batch for m in n.mentions})
        for note in batch:
            unknown += sum(1 for m in note.mentions if m.concept_id not in known)
            note.mentions = [m for m in note.mentions if m.concept_id in known]
        backend.write(batch)
        notes += len(batch)
        mentions += sum(len(n.mentions) for n in batch)
        facts += sum(len(n.facts) for n in batch)
    backend.finish()
    return WriteReport(notes=notes, mentions=mentions, facts=facts, unknown_concepts=unknown)


# -- report -------------------------------------------------------------------
class ConceptCount(BaseModel):
    id: str
    name: str
    group: str
    mentions: int
    notes: int


class UncoveredConcept(BaseModel):
    id: str
    name: str
    group: str
    degree: int


class TypeCoverage(BaseModel):
    type: str
    graph_edges: int
    expressions: int
    facts: int
    facts_in_graph: int
    #: Share of the type's KG edges expressed by at least one note.
    fraction: float


class CoverageReport(BaseModel):
    backend: str
    notes: int
    notes_per_motif: dict[str, int]
    notes_per_type: dict[str, int]
    concepts: int
    concepts_covered: int
    mentions: int
    relation_types: list[TypeCoverage]
    #: Most over least expressed relation type (among expressed types).
    balance_max_min: float | None
    top_concepts: list[ConceptCount]
    uncovered_high_degree: list[UncoveredConcept]


def coverage_report(store: GraphStore, top: int = 20) -> CoverageReport:
    """Coverage of ``store`` by the notes written back to it."""
    backend = _backend(store)
    per_type = backend.relation_types()
    edges = store.count_relations_by_type()
    types = [
        TypeCoverage(
            type=t,
            graph_edges=edges.get(t, 0),
            expressions=e,
            facts=f,
            facts_in_graph=g,
            fraction=round(g / edges[t], 4) if edges.get(t) else 0.0,
        )
        for t, (e, f, g) in sorted(per_type.items(), key=lambda kv: (-kv[1][0], kv[0]))
    ]
    counts = [t.expressions for t in types]
    concepts, covered, mentions = backend.concept_totals()
    per_type_notes = backend.notes_per_type()
    per_motif = backend.notes_per_motif()
    return CoverageReport(
        backend=store.backend,
        notes=sum(per_motif.values()),
        notes_per_motif=per_motif,
        notes_per_type=per_type_notes,
        concepts=concepts,
        concepts_covered=covered,
        mentions=mentions,
        relation_types=types,
        balance_max_min=round(max(counts) / min(counts), 3) if counts else None,
        top_concepts=backend.top_concepts(top),
        uncovered_high_degree=backend.uncovered(top),
    )


# -- backends -----------------------------------------------------------------
def _backend(store: GraphStore) -> _Neo4jCoverage | _MemoryCoverage:
    from kgsynth.graph.memory import MemoryStore

    if isinstance(store, MemoryStore):
        return _MemoryCoverage(store)
    from kgsynth.graph.neo4j_store import Neo4jStore

    if isinstance(store, Neo4jStore):
        return _Neo4jCoverage(store)
    raise ConfigError(f"coverage does not support the {store.backend} store")


class _Neo4jCoverage:
    def __init__(self, store) -> None:
        self.store = store
        self._schema_done = False

    def write(self, notes: list[NoteCoverage]) -> None:
        if not self._schema_done:
            self.store.run(query("coverage", "schema_fact_key"))
            self._schema_done = True
        rows = []
        for note in notes:
            row = note.model_dump(exclude={"facts"})
            row["facts"] = [{"key": f.key, **f.model_dump()} for f in note.facts]
            rows.append(row)
        self.store.write(query("coverage", "write_notes"), rows=rows)

    def finish(self) -> None:
        pass

    def _rows(self, name: str, **params) -> list[dict]:
        return self.store.read(query("coverage", name), **params)

    def notes_per_motif(self) -> dict[str, int]:
        return {r["motif"]: r["notes"] for r in self._rows("cov_notes_per_motif")}

    def notes_per_type(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for r in self._rows("cov_notes_per_type"):
            counts[r["note_type"]] += r["notes"]
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def relation_types(self) -> dict[str, tuple[int, int, int]]:
        return {
            r["type"]: (r["expressions"], r["facts"], r["facts_in_graph"]) for r in self._rows("cov_relation_types")
        }

    def concept_totals(self) -> tuple[int, int, int]:
        row = self._rows("cov_concept_totals")[0]
        return row["concepts"], row["covered"], row["mentions"]

    def top_concepts(self, top: int) -> list[ConceptCount]:
        return [
            ConceptCount(**{**r, "group": r["group"] or "Other"}) for r in self._rows("cov_concepts_covered", top=top)
        ]

    def uncovered(self, top: int) -> list[UncoveredConcept]:
        rows = self._rows("cov_uncovered_high_degree", top=top)
        return [UncoveredConcept(**{**r, "name": r["name"] or "", "group": r["group"] or "Other"}) for r in rows]


class _MemoryCoverage:
    """Coverage of the embedded store, kept in ``<store file>.notes.json``."""

    def __init__(self, store) -> None:
        if store.path is None:
            raise ConfigError("coverage on the embedded store needs a store file (set KGSYNTH_STORE or --store)")
        self.store = store
        self.path = Path(f"{store.path}.notes.json")
        self.notes: dict[str, NoteCoverage] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.notes = {k: NoteCoverage.model_validate(v) for k, v in data["notes"].items()}
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{self.path}: unreadable coverage file: {exc}") from exc

    def write(self, notes: list[NoteCoverage]) -> None:
        for note in notes:
            old = self.notes.get(note.id)
            before = (old.mentions, old.facts) if old is not None else ([], [])
            # MERGE semantics, as on Neo4j: one mention per (concept, start, end), one link per fact.
            note.mentions = list({(m.concept_id, m.start, m.end): m for m in before[0] + note.mentions}.values())
            note.facts = list({f.key: f for f in before[1] + note.facts}.values())
            self.notes[note.id] = note

    def finish(self) -> None:
        payload = {"format": SIDECAR_FORMAT, "notes": {k: v.model_dump() for k, v in self.notes.items()}}
        write_lines_atomic(self.path, [json.dumps(payload)])

    def notes_per_motif(self) -> dict[str, int]:
        counts = Counter(n.motif for n in self.notes.values())
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def notes_per_type(self) -> dict[str, int]:
        counts = Counter(n.note_type for n in self.notes.values())
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def relation_types(self) -> dict[str, tuple[int, int, int]]:
        graph = self.store.graph
        expressions: Counter[str] = Counter()
        facts: dict[str, set[str]] = {}
        in_graph: dict[str, set[str]] = {}
        for note in self.notes.values():
            for f in note.facts:
                expressions[f.type] += 1
                facts.setdefault(f.type, set()).add(f.key)
                if graph.has_edge(f.subject, f.object, f.type):
                    in_graph.setdefault(f.type, set()).add(f.key)
        return {t: (n, len(facts[t]), len(in_graph.get(t, ()))) for t, n in expressions.items()}

    def _mentions(self) -> tuple[Counter[str], dict[str, set[str]]]:
        counts: Counter[str] = Counter()
        notes: dict[str, set[str]] = {}
        for note in self.notes.values():
            for m in note.mentions:
                if m.concept_id in self.store.graph:
                    counts[m.concept_id] += 1
                    notes.setdefault(m.concept_id, set()).add(note.id)
        return counts, notes

    def concept_totals(self) -> tuple[int, int, int]:
        counts, _ = self._mentions()
        return self.store.graph.number_of_nodes(), len(counts), sum(counts.values())

    def _describe(self, node: str) -> tuple[str, str]:
        data = self.store.graph.nodes[node]
        return data.get("name") or "", data.get("group") or "Other"

    def top_concepts(self, top: int) -> list[ConceptCount]:
        counts, notes = self._mentions()
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return [
            ConceptCount(id=c, name=self._describe(c)[0], group=self._describe(c)[1], mentions=n, notes=len(notes[c]))
            for c, n in ranked
        ]

    def uncovered(self, top: int) -> list[UncoveredConcept]:
        counts, _ = self._mentions()
        graph = self.store.graph
        ranked = sorted((-graph.degree(c), c) for c in graph.nodes if c not in counts)[:top]
        return [
            UncoveredConcept(id=c, name=self._describe(c)[0], group=self._describe(c)[1], degree=-d) for d, c in ranked
        ]
