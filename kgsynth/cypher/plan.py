"""Compile a :class:`Motif` into one query plan both stores execute identically.

A plan names one query of ``motifs.cypher`` and the ``$parameters`` it needs.
The embedded matcher (:mod:`kgsynth.cypher.match_memory`) reads the same plan,
so "what an instance is" is defined once, here, and the two stores cannot drift.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel

from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.cypher.motif import Motif, MotifEdge

#: Sample keys are 32-bit; ring positions live in [0, RING).
RING = 1 << 32


def sample_key(subject: str, type_: str, object_: str) -> int:
    """The 32-bit hash of a fact both stores order anchors by (same bytes, same key)."""
    return int.from_bytes(hashlib.sha1(f"{subject}|{type_}|{object_}".encode()).digest()[:4], "big")


def rank(*parts: int) -> int:
    """Seeded choice order of extension edges: ``(sum of keys + salt) mod 2^32``."""
    return sum(parts) % RING


class Arm(BaseModel):
    """Concepts reached from one anchor end: star leaves, a path's third node, symptoms."""

    slot: str
    from_subject: bool
    out: bool
    inn: bool
    types: list[str]
    groups: list[str]
    min: int
    max: int

    def params(self) -> dict[str, Any]:
        return {
            "from_subject": self.from_subject,
            "out": self.out,
            "in": self.inn,
            "types": self.types,
            "groups": self.groups,
        }


class Closing(BaseModel):
    """The third concept of a triangle, joined to both anchor ends."""

    slot: str
    groups: list[str]
    types2: list[str]
    out2: bool
    in2: bool
    types3: list[str]
    out3: bool
    in3: bool

    def params(self) -> dict[str, Any]:
        return self.model_dump()


class Plan(BaseModel):
    """Everything a matcher needs; ``query`` names a query in ``motifs.cypher``."""

    motif: str
    query: str
    anchor_types: list[str]
    slot_a: str
    slot_b: str
    groups_a: list[str]
    groups_b: list[str]
    arms: list[Arm] = []
    closing: Closing | None = None

    def params(self, groups_a: list[str], groups_b: list[str], lo: int, hi: int, salt: int) -> dict[str, Any]:
        """The ``$parameters`` of one window query."""
        params: dict[str, Any] = {"lo": lo, "hi": hi, "salt": salt, "groups_a": groups_a, "groups_b": groups_b}
        for i, arm in enumerate(self.arms, 1):
            params[f"arm{i}"] = arm.params()
            params[f"min{i}"] = arm.min
            params[f"max{i}"] = arm.max
        if self.closing is not None:
            params["tri"] = self.closing.params()
        return params


def _directions(edge: MotifEdge, from_slot: str) -> tuple[bool, bool]:
    """(out, in) seen from ``from_slot``; an undirected edge allows both."""
    if not edge.directed:
        return True, True
    return edge.subject == from_slot, edge.object == from_slot


def compile_motif(motif: Motif) -> Plan:
    """The plan of a validated motif (shapes are checked by the model)."""
    anchor = motif.anchor
    a, b = anchor.subject, anchor.object
    base = {
        "motif": motif.name,
        "anchor_types": list(anchor.types),
        "slot_a": a,
        "slot_b": b,
        "groups_a": motif.slots[a].allowed_groups(),
        "groups_b": motif.slots[b].allowed_groups(),
    }
    if motif.shape == "edge":
        return Plan(query="match_edge", **base)
    if motif.shape == "star":
        k = motif.slots[b].max
        arm = Arm(
            slot=b,
            from_subject=True,
            out=True,
            inn=False,
            types=list(anchor.types),
            groups=motif.slots[b].allowed_groups(),
            min=k - 1,
            max=k - 1,
        )
        return Plan(query="match_tree1", arms=[arm], **base)
    if motif.shape == "triangle":
        (c,) = set(motif.slots) - {a, b}
        e2 = next(e for e in motif.edges[1:] if {e.subject, e.object} == {a, c})
        e3 = next(e for e in motif.edges[1:] if {e.subject, e.object} == {b, c})
        out2, in2 = _directions(e2, a)
        out3, in3 = _directions(e3, b)
        closing = Closing(
            slot=c,
            groups=motif.slots[c].allowed_groups(),
            types2=list(e2.types),
            out2=out2,
            in2=in2,
            types3=list(e3.types),
            out3=out3,
            in3=in3,
        )
        return Plan(query="match_triangle", closing=closing, **base)
    arms = []
    for edge in motif.edges[1:]:
        inner = edge.subject if edge.subject in (a, b) else edge.object
        outer = edge.object if inner == edge.subject else edge.subject
        out, inn = _directions(edge, inner)
        slot = motif.slots[outer]
        arms.append(
            Arm(
                slot=outer,
                from_subject=inner == a,
                out=out,
                inn=inn,
                types=list(edge.types),
                groups=slot.allowed_groups(),
                min=slot.min,
                max=slot.max,
            )
        )
    return Plan(query=f"match_tree{len(arms)}", arms=arms, **base)


def build_instance(plan: Plan, stratum: str, row: dict[str, Any]) -> MotifInstance:
    """A :class:`MotifInstance` from one matcher row (same row shape from both stores).

    Rows are compact lists, decoded cheaply on the Neo4j side: a node is
    ``[id, name, group, synonyms, xrefs]``, a relation
    ``[subject, type, object, evidence, source_labels, provenance]``, and an arm a
    list of ``[node or None, relation]`` pairs.
    """
    concepts = [_concept(plan.slot_a, row["a"]), _concept(plan.slot_b, row["b"])]
    relations = [_relation(row["r"])]
    if plan.closing is not None:
        extra = [(plan.closing.slot, item) for item in row["arm1"]]
    else:
        extra = [(arm.slot, item) for arm, key in zip(plan.arms, ("arm1", "arm2"), strict=False) for item in row[key]]
    for slot, (node, rel) in extra:
        if node is not None:
            concepts.append(_concept(slot, node))
        relations.append(_relation(rel))
    return MotifInstance(motif=plan.motif, stratum=stratum, concepts=concepts, relations=relations)


def _concept(slot: str, node: list[Any]) -> InstanceConcept:
    cid, name, group, synonyms, xrefs = node
    return InstanceConcept(slot=slot, id=cid, name=name, group=group, synonyms=synonyms, xrefs=xrefs)


def _relation(rel: list[Any]) -> InstanceRelation:
    s, t, o, evidence, source_labels, provenance, novelty = rel
    return InstanceRelation(subject=s, type=t, object=o, evidence=evidence, source_labels=source_labels,
                            provenance=provenance, novelty=novelty)
