"""Coverage sampling: every concept of a KB slice gets at least K motif instances.

Relation-first sampling (:mod:`kgsynth.cypher.sampling`) only reaches concepts that
take part in sampled facts; entity linking needs contexts for *every* concept of
the target vocabulary. Here the slice comes first:

* a slice is a union of specs, each an intersection of conditions
  ``group:Disease``, ``prefix:MESH:D``, ``subtree:MESH:D009369`` (the root and every
  concept below it over IS_A), written ``group:Disease,prefix:MESH:D``;
* a concept with facts (any non-structural relation) gets ``single_edge`` instances
  of its facts, in a seeded order, until it is in K of them (a fact counts for both
  of its ends);
* a concept with fewer than K facts is topped up with single-concept instances
  (motif ``mention``: one concept, no relation, a ``mention`` name to use, the
  concept's names taken in turn), and one with none gets only those;
* a concept without any name cannot be written into a note: it is reported as
  uncoverable, with the reason (so are all concepts without facts under
  ``relations_only``);
* with ``every_name``, a concept also gets one single-concept instance per name it may be
  written by (:func:`mention_names`), so that every synonym of the slice appears in a
  context once (SapBERT's lesson for linkers: synonym pairs are what a bi-encoder learns
  from, and a concept's names beyond those its index embeds are the ones it needs).

Both stores return the same rows (Neo4j through ``cover.cypher``, the embedded
store by reading its graph), so a seed gives the same instances on either.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from kgsynth.cypher import query
from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.cypher.motif import FACT_TYPES
from kgsynth.cypher.plan import RING, sample_key
from kgsynth.errors import ConfigError
from kgsynth.graph.schema import check_group
from kgsynth.graph.store import GraphStore, batched

#: Motif name of single-concept instances.
MENTION_MOTIF = "mention"
#: Motif name of the relational instances (the builtin one-fact motif).
EDGE_MOTIF = "single_edge"
_BATCH = 2_000

Node = list[Any]  # [id, name, group, synonyms, xrefs]
Rel = list[Any]  # [subject, type, object, evidence, source_labels, provenance]


class SliceSpec(BaseModel):
    """One ``--cover`` value: all of its conditions hold for a concept of the slice."""

    text: str
    groups: list[str] | None = None
    prefix: str = ""
    root: str | None = None


def parse_slice(text: str) -> SliceSpec:
    """``group:Disease,prefix:MESH:D`` -> a :class:`SliceSpec`; unknown keys are a clear error."""
    spec = SliceSpec(text=text)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ConfigError("--cover needs a slice such as group:Disease, prefix:MESH:D or subtree:MESH:D009369")
    for part in parts:
        key, sep, value = part.partition(":")
        if not sep or not value:
            raise ConfigError(f"--cover {text!r}: {part!r} is not KEY:VALUE (group:, prefix:, subtree:)")
        if key == "group":
            spec.groups = [*(spec.groups or []), check_group(value)]
        elif key == "prefix":
            spec.prefix = value
        elif key == "subtree":
            spec.root = value
        else:
            raise ConfigError(f"--cover {text!r}: unknown condition {key!r}; use group:, prefix: or subtree:")
    return spec


class Uncoverable(BaseModel):
    id: str
    name: str
    group: str
    reason: str


class CoverReport(BaseModel):
    slices: list[str]
    backend: str
    seed: int
    per_concept: int
    every_name: bool = False
    total: int
    covered: int
    uncoverable: list[Uncoverable] = Field(default_factory=list)
    uncoverable_by_reason: dict[str, int] = Field(default_factory=dict)
    #: Concepts that got relational instances / only single-concept ones / a mix.
    with_relations: int = 0
    mention_only: int = 0
    topped_up: int = 0
    instances: int = 0
    relational_instances: int = 0
    mention_instances: int = 0
    #: Fewest and most instances a covered concept is in.
    min_per_concept: int = 0
    max_per_concept: int = 0
    seconds: float = 0.0
    out: str = ""


# -- reading the store -------------------------------------------------------------
class _Reader:
    """The four reads coverage sampling needs, answered by either store."""

    def __init__(self, store: GraphStore) -> None:
        from kgsynth.graph.memory import MemoryStore

        self.store = store
        self.graph = store.graph if isinstance(store, MemoryStore) else None
        if self.graph is None and not hasattr(store, "read"):
            raise ConfigError(f"coverage sampling does not support the {store.backend} store")

    def _node(self, node_id: str) -> Node:
        d = self.graph.nodes[node_id]
        return [node_id, d.get("name", ""), d.get("group") or "Other", list(d.get("synonyms", [])),
                list(d.get("xrefs", []))]

    def concepts(self, groups: list[str] | None, prefix: str) -> list[Node]:
        if self.graph is None:
            rows = self.store.read(query("cover", "cover_concepts"), groups=groups, prefix=prefix)
            return [r["node"] for r in rows]
        return [self._node(n) for n in sorted(self.graph.nodes) if n.startswith(prefix)
                and (groups is None or (self.graph.nodes[n].get("group") or "Other") in groups)]

    def nodes(self, ids: Iterable[str]) -> list[Node]:
        ids = sorted(set(ids))
        if self.graph is None:
            return [r["node"] for chunk in batched(ids, _BATCH)
                    for r in self.store.read(query("cover", "cover_nodes"), ids=chunk)]
        return [self._node(n) for n in ids if n in self.graph]

    def children(self, ids: list[str]) -> set[str]:
        if self.graph is None:
            return {r["id"] for chunk in batched(ids, _BATCH)
                    for r in self.store.read(query("cover", "cover_children"), ids=chunk)}
        return {c for i in ids if i in self.graph for c, _, t in self.graph.in_edges(i, keys=True) if t == "IS_A"}

    def facts(self, ids: list[str], types: list[str]) -> list[tuple[Node, Node, Rel]]:
        """Facts touching ``ids``, each once, sorted by (subject, type, object)."""
        found: dict[tuple[str, str, str], tuple[Node, Node, Rel]] = {}
        if self.graph is None:
            for chunk in batched(ids, _BATCH):
                for r in self.store.read(query("cover", "cover_facts"), ids=chunk, types=types):
                    found[(r["r"][0], r["r"][1], r["r"][2])] = (r["a"], r["b"], r["r"])
        else:
            wanted = set(types)
            for i in ids:
                if i not in self.graph:
                    continue
                edges = [*self.graph.out_edges(i, keys=True, data=True), *self.graph.in_edges(i, keys=True, data=True)]
                for s, o, t, d in edges:
                    if t in wanted and s != o and (s, t, o) not in found:
                        rel = [s, t, o, list(d.get("evidence", [])), list(d.get("source_labels", [])),
                               list(d.get("provenance", []))]
                        found[(s, t, o)] = (self._node(s), self._node(o), rel)
        return [found[k] for k in sorted(found)]


def slice_concepts(store: GraphStore, specs: list[SliceSpec], reader: _Reader | None = None) -> list[Node]:
    """Node rows of every concept in the union of ``specs``, sorted by id."""
    reader = reader or _Reader(store)
    chosen: dict[str, Node] = {}
    for spec in specs:
        if spec.root is None:
            rows = reader.concepts(spec.groups, spec.prefix)
        else:
            if not reader.nodes([spec.root]):
                raise ConfigError(f"--cover {spec.text!r}: subtree root {spec.root} is not in the graph")
            below = {spec.root}
            level = [spec.root]
            while level:  # breadth first over IS_A, one query per level; a DAG visits each concept once
                level = sorted(reader.children(level) - below)
                below.update(level)
            rows = [n for n in reader.nodes(below) if n[0].startswith(spec.prefix)
                    and (spec.groups is None or n[2] in spec.groups)]
        for node in rows:
            chosen.setdefault(node[0], node)
    return [chosen[k] for k in sorted(chosen)]


# -- building instances -----------------------------------------------------------
def _concept(slot: str, node: Node) -> InstanceConcept:
    cid, name, group, synonyms, xrefs = node
    return InstanceConcept(slot=slot, id=cid, name=name, group=group, synonyms=synonyms, xrefs=xrefs)


def node_names(node: Node) -> list[str]:
    """Preferred name first, then synonyms, blanks and repeats dropped."""
    return list(dict.fromkeys(n for n in [node[1], *node[3]] if n and n.strip()))


def mention_names(node: Node) -> list[str]:
    """The names a note may use in prose: MeSH-style inversions (``Defects, Septal``) dropped
    when the same words also come in normal order; all names if every one is inverted."""
    names = node_names(node)

    def words(name: str) -> tuple[str, ...]:
        return tuple(sorted(name.replace(",", " ").lower().split()))

    plain = {words(n) for n in names if ", " not in n}
    kept = [n for n in names if ", " not in n or words(n) not in plain]
    return kept or names


def edge_instance(a: Node, b: Node, rel: Rel, stratum: str = "cover") -> MotifInstance:
    s, t, o, evidence, source_labels, provenance = rel
    return MotifInstance(
        motif=EDGE_MOTIF, stratum=stratum, concepts=[_concept("subject", a), _concept("object", b)],
        relations=[InstanceRelation(subject=s, type=t, object=o, evidence=evidence, source_labels=source_labels,
                                    provenance=provenance)],
    )


def mention_instance(node: Node, mention: str, replica: int, stratum: str = "cover") -> MotifInstance:
    """A single-concept instance: the note must name ``node`` as ``mention``."""
    digest = hashlib.sha1(f"{MENTION_MOTIF}|{node[0]}|{mention}|{replica}".encode()).hexdigest()[:16]
    return MotifInstance(id=f"{MENTION_MOTIF}-{digest}", motif=MENTION_MOTIF, stratum=stratum,
                         concepts=[_concept("concept", node)], relations=[], mention=mention)


def cover_sample(
    store: GraphStore,
    specs: list[SliceSpec],
    per_concept: int = 1,
    seed: int | None = None,
    types: list[str] | None = None,
    relations_only: bool = False,
    max_uncoverable: int = 1000,
    every_name: bool = False,
) -> tuple[list[MotifInstance], CoverReport]:
    """Instances putting every named concept of the slice into at least ``per_concept`` of them
    (and, with ``every_name``, each of its names into a single-concept one)."""
    if per_concept < 1:
        raise ConfigError("--per-concept must be >= 1")
    if every_name and relations_only:
        raise ConfigError("--every-name writes single-concept notes, --relations-only forbids them: choose one")
    began = time.perf_counter()
    seed = secrets.randbelow(2**31) if seed is None else seed
    types = list(types or FACT_TYPES)
    reader = _Reader(store)
    nodes = slice_concepts(store, specs, reader)
    in_slice = {n[0] for n in nodes}
    by_concept: dict[str, list[tuple[int, tuple[Node, Node, Rel]]]] = {}
    salt = random.Random(f"cover|{seed}").getrandbits(32)
    for chunk in batched([n[0] for n in nodes], _BATCH):
        for fact in reader.facts(chunk, types):
            a, b, rel = fact
            rank = (sample_key(rel[0], rel[1], rel[2]) + salt) % RING
            for end in {a[0], b[0]} & in_slice:
                by_concept.setdefault(end, []).append((rank, fact))
    order = sorted(in_slice, key=lambda c: (sample_key(c, "cover", str(seed)), c))
    counts = dict.fromkeys(in_slice, 0)
    taken: set[tuple[str, str, str]] = set()
    instances: list[MotifInstance] = []
    uncoverable: list[Uncoverable] = []
    node_of = {n[0]: n for n in nodes}
    mixed = mention_only = with_relations = 0
    relational = 0
    for cid in order:
        node = node_of[cid]
        names = mention_names(node)
        if not names:
            uncoverable.append(Uncoverable(id=cid, name="", group=node[2], reason="no name to write in a note"))
            continue
        facts = sorted(by_concept.get(cid, []), key=lambda x: (x[0], x[1][2][:3]))
        if facts:
            with_relations += 1
        for _, (a, b, rel) in facts:
            if counts[cid] >= per_concept:
                break
            key = (rel[0], rel[1], rel[2])
            if key in taken or not node_names(a) or not node_names(b):
                continue
            taken.add(key)
            instances.append(edge_instance(a, b, rel))
            relational += 1
            for end in {a[0], b[0]} & in_slice:
                counts[end] += 1
        wanted = max(per_concept - counts[cid], len(names) if every_name else 0)
        if wanted <= 0:
            continue
        if relations_only:
            why = "no fact to write it into" if counts[cid] == 0 else f"only {counts[cid]} facts to write it into"
            uncoverable.append(Uncoverable(id=cid, name=names[0], group=node[2], reason=why))
            continue
        if counts[cid]:
            mixed += 1
        else:
            mention_only += 1
        start = random.Random(f"{seed}|{cid}").randrange(len(names))
        for replica in range(wanted):
            instances.append(mention_instance(node, names[(start + replica) % len(names)], replica))
        counts[cid] += wanted
    covered = [counts[c] for c in in_slice if counts[c] >= per_concept]
    reasons: dict[str, int] = {}
    for u in uncoverable:
        key = u.reason if not u.reason.startswith("only ") else "fewer facts than --per-concept"
        reasons[key] = reasons.get(key, 0) + 1
    report = CoverReport(
        slices=[s.text for s in specs], backend=store.backend, seed=seed, per_concept=per_concept,
        every_name=every_name,
        total=len(in_slice), covered=len(covered), uncoverable=uncoverable[:max_uncoverable],
        uncoverable_by_reason=dict(sorted(reasons.items())), with_relations=with_relations,
        mention_only=mention_only, topped_up=mixed, instances=len(instances), relational_instances=relational,
        mention_instances=len(instances) - relational, min_per_concept=min(covered, default=0),
        max_per_concept=max(covered, default=0), seconds=round(time.perf_counter() - began, 3),
    )
    return instances, report
