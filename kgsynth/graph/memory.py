"""The embedded default store: a networkx ``MultiDiGraph`` saved to one file.

It needs no server, so the whole pipeline runs on a laptop. Edges are keyed by
relation type, which makes (subject, type, object) unique exactly as ``MERGE``
does in Neo4j. The file is gzip'd JSON written atomically (temp file, fsync,
rename): a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import networkx as nx

from kgsynth.atomic import atomic_open
from kgsynth.errors import StoreError
from kgsynth.graph.model import Concept, Provenance, Relation, merge_lists
from kgsynth.graph.store import DEFAULT_BATCH_SIZE, GraphStore

FORMAT = "kgsynth-graph/1"
_CONCEPT_LISTS = ("synonyms", "semantic_types", "xrefs", "provenance")
_RELATION_LISTS = ("source_labels", "evidence", "provenance")


class MemoryStore(GraphStore):
    """In-process graph; ``path=None`` keeps it in memory only."""

    backend = "memory"

    def __init__(self, path: str | Path | None = None, autosave: bool = True) -> None:
        self.path = Path(path) if path is not None else None
        self.autosave = autosave
        self.graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self._dirty = False
        if self.path is not None and self.path.exists():
            self.graph = _read_graph(self.path)

    @property
    def location(self) -> str:
        return str(self.path) if self.path else ":memory:"

    # -- writes ---------------------------------------------------------------
    def upsert_concepts(self, concepts: Iterable[Concept], batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        written = 0
        for concept in concepts:
            row = _concept_row(concept)
            node_id = row.pop("id")
            if node_id in self.graph:
                _merge_node(self.graph.nodes[node_id], row)
            else:
                self.graph.add_node(node_id, **row)
            written += 1
        self._dirty = self._dirty or written > 0
        return written

    def upsert_relations(self, relations: Iterable[Relation], batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        written = 0
        for relation in relations:
            for end in (relation.subject, relation.object):
                if end not in self.graph:
                    self.graph.add_node(end, **_bare_node())
            row = _relation_row(relation)
            key = relation.type
            if self.graph.has_edge(relation.subject, relation.object, key):
                _merge_edge(self.graph.edges[relation.subject, relation.object, key], row)
            else:
                self.graph.add_edge(relation.subject, relation.object, key=key, **row)
            written += 1
        self._dirty = self._dirty or written > 0
        return written

    def clear(self) -> None:
        self.graph.clear()
        self._dirty = True

    def checkpoint(self) -> None:
        """Save atomically if anything changed since the last save."""
        if self.path is not None and self._dirty:
            _write_graph(self.graph, self.path)
        self._dirty = False

    def close(self) -> None:
        if self.autosave:
            self.checkpoint()

    def begin_atomic(self) -> None:
        """Save what is pending, so the file is the state a rollback returns to (the single checkpoint)."""
        self.checkpoint()
        self._before = None if self.path is not None else copy.deepcopy(self.graph)

    def commit_atomic(self) -> None:
        self.checkpoint()

    def rollback_atomic(self) -> None:
        """Reread the file saved by :meth:`begin_atomic` (or restore the in-memory copy)."""
        if self.path is None:
            self.graph = getattr(self, "_before", None) or nx.MultiDiGraph()
        else:
            self.graph = _read_graph(self.path) if self.path.exists() else nx.MultiDiGraph()
        self._dirty = False

    # -- reads ----------------------------------------------------------------
    def get_concepts(self, ids: Iterable[str]) -> dict[str, Concept]:
        return {i: _to_concept(i, self.graph.nodes[i]) for i in ids if i in self.graph}

    def find_relations(
        self,
        subject: str | None = None,
        type: str | None = None,
        object: str | None = None,
    ) -> list[Relation]:
        if subject is None and object is None and type is None:
            raise ValueError("find_relations needs subject, type or object; use iter_relations for all")
        if subject is not None:
            if subject not in self.graph:
                return []
            edges = self.graph.out_edges(subject, keys=True, data=True)
        elif object is not None:
            if object not in self.graph:
                return []
            edges = self.graph.in_edges(object, keys=True, data=True)
        else:
            edges = self.graph.edges(keys=True, data=True)
        found = [
            _to_relation(s, k, o, d)
            for s, o, k, d in edges
            if (object is None or o == object) and (type is None or k == type)
        ]
        return sorted(found, key=lambda r: r.key)

    def iter_concepts(self) -> Iterator[Concept]:
        for node_id in sorted(self.graph.nodes):
            yield _to_concept(node_id, self.graph.nodes[node_id])

    def iter_relations(self) -> Iterator[Relation]:
        for s, o, k in sorted(self.graph.edges(keys=True), key=lambda e: (e[0], e[2], e[1])):
            yield _to_relation(s, k, o, self.graph.edges[s, o, k])

    def count_concepts_by_group(self) -> dict[str, int]:
        return dict(Counter(data.get("group") or "Other" for _, data in self.graph.nodes(data=True)))

    def count_relations_by_type(self) -> dict[str, int]:
        return dict(Counter(k for _, _, k in self.graph.edges(keys=True)))


# -- rows <-> models -----------------------------------------------------------
def _bare_node() -> dict:
    return {"name": "", "group": "Other", **{f: [] for f in _CONCEPT_LISTS}}


def _concept_row(concept: Concept) -> dict:
    row = concept.model_dump()
    row["provenance"] = [p.key() for p in concept.provenance]
    return row


def _relation_row(relation: Relation) -> dict:
    row = relation.model_dump(exclude={"subject", "type", "object"})
    row["provenance"] = [p.key() for p in relation.provenance]
    return row


def _merge_node(old: dict, new: dict) -> None:
    """First non-empty name wins; a specific group replaces ``Other``; lists union."""
    if not old.get("name"):
        old["name"] = new["name"]
    if old.get("group", "Other") == "Other":
        old["group"] = new["group"]
    for field in _CONCEPT_LISTS:
        old[field] = merge_lists(old.get(field, []), new[field])


def _merge_edge(old: dict, new: dict) -> None:
    if not old.get("novelty"):
        old["novelty"] = new["novelty"]
    for field in _RELATION_LISTS:
        old[field] = merge_lists(old.get(field, []), new[field])


def _to_concept(node_id: str, data: dict) -> Concept:
    return Concept(
        id=node_id,
        name=data.get("name", ""),
        synonyms=data.get("synonyms", []),
        semantic_types=data.get("semantic_types", []),
        group=data.get("group") or "Other",
        xrefs=data.get("xrefs", []),
        provenance=[Provenance.from_key(k) for k in data.get("provenance", [])],
    )


def _to_relation(subject: str, type_: str, object_: str, data: dict) -> Relation:
    return Relation(
        subject=subject,
        type=type_,
        object=object_,
        source_labels=data.get("source_labels", []),
        evidence=data.get("evidence", []),
        novelty=data.get("novelty", ""),
        provenance=[Provenance.from_key(k) for k in data.get("provenance", [])],
    )


# -- file format ---------------------------------------------------------------
def _write_graph(graph: nx.MultiDiGraph, path: Path) -> None:
    payload = {
        "format": FORMAT,
        "nodes": [[n, d] for n, d in graph.nodes(data=True)],
        "edges": [[s, k, o, d] for s, o, k, d in graph.edges(keys=True, data=True)],
    }
    with atomic_open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=3) as gz:
        gz.write(json.dumps(payload, separators=(",", ":")).encode("utf-8"))


def _read_graph(path: Path) -> nx.MultiDiGraph:
    try:
        with gzip.open(path, "rb") as handle:
            payload = json.loads(handle.read().decode("utf-8"))
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        graph = nx.MultiDiGraph()
        graph.add_nodes_from((n, d) for n, d in payload["nodes"])
        graph.add_edges_from((s, o, k, d) for s, k, o, d in payload["edges"])
        return graph
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(
            f"cannot read the embedded graph store {path}: {exc} "
            "(the file was left untouched; point KGSYNTH_STORE elsewhere or remove it)"
        ) from exc
