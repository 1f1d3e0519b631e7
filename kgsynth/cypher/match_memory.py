"""The embedded store's motif matcher: the same plan and rows as ``motifs.cypher``.

Per relation type it keeps the anchors sorted by sample key (a precomputed
candidate list, built once per type and process), so a window of the ring is a
binary search plus the anchors inside it: the cost of a sample does not depend on
the size of the graph once the list exists. Extension follows the Cypher text
rule for rule (same rank, same tie-breaks), which a test checks against Neo4j.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from typing import Any

import networkx as nx

from kgsynth.cypher.plan import Arm, Closing, Plan, rank, sample_key

Anchor = tuple[int, str, str]


class MemoryMatcher:
    """Matches plans on a :class:`~kgsynth.graph.memory.MemoryStore` graph."""

    def __init__(self, graph: nx.MultiDiGraph) -> None:
        self.graph = graph
        self._anchors: dict[str, list[Anchor]] = {}
        self._keys: dict[str, list[int]] = {}

    def prepare(self, plan: Plan) -> None:
        for type_ in plan.anchor_types:
            self._index(type_)

    def _index(self, type_: str) -> list[Anchor]:
        """Anchors of ``type_`` in ring order; one pass over the edges builds every type."""
        if not self._anchors:
            by_type: dict[str, list[Anchor]] = {}
            for s, o, t in self.graph.edges(keys=True):
                by_type.setdefault(t, []).append((sample_key(s, t, o), s, o))
            for t, anchors in by_type.items():
                anchors.sort()
                self._anchors[t] = anchors
                self._keys[t] = [a[0] for a in anchors]
        return self._anchors.get(type_, [])

    def count(self, type_: str) -> int:
        return len(self._index(type_))

    def marginals(self, type_: str) -> tuple[Counter[str], Counter[str]]:
        """Anchors of ``type_`` per subject group and per object group."""
        anchors = self._index(type_)
        return Counter(self._group(s) for _, s, _ in anchors), Counter(self._group(o) for _, _, o in anchors)

    def window(
        self, plan: Plan, type_: str, groups_a: list[str], groups_b: list[str], lo: int, hi: int, salt: int
    ) -> list[dict[str, Any]]:
        """Rows for anchors with ``lo <= sk < hi``, ordered by (sk, subject, object)."""
        anchors = self._index(type_)
        keys = self._keys.get(type_, [])
        wanted_a, wanted_b = set(groups_a), set(groups_b)
        rows = []
        for i in range(bisect_left(keys, lo), bisect_left(keys, hi)):
            sk, a, b = anchors[i]
            if a == b or self._group(a) not in wanted_a or self._group(b) not in wanted_b:
                continue
            row = self._extend(plan, sk, a, type_, b, salt)
            if row is not None:
                rows.append(row)
        return rows

    # -- extension ------------------------------------------------------------
    def _extend(self, plan: Plan, sk: int, a: str, type_: str, b: str, salt: int) -> dict[str, Any] | None:
        arm_rows: list[list[list[Any]]] = []
        if plan.closing is not None:
            closed = self._close(plan.closing, sk, a, b, salt)
            if closed is None:
                return None
            arm_rows.append(closed)
        for arm in plan.arms:
            found = self._arm(arm, sk, a, b, salt)
            if len(found) < arm.min:
                return None
            arm_rows.append(found)
        arm_rows += [[]] * (2 - len(arm_rows))
        return {
            "sk": sk,
            "a": self._node(a),
            "b": self._node(b),
            "r": self._rel(a, type_, b),
            "arm1": arm_rows[0],
            "arm2": arm_rows[1],
        }

    def _incident(self, h: str, out: bool, inn: bool, types: list[str]) -> list[tuple[str, str, str, str]]:
        """(neighbour, subject, type, object) of edges at ``h`` in the allowed directions."""
        wanted = set(types)
        found = []
        if out:
            found += [(o, h, t, o) for _, o, t in self.graph.out_edges(h, keys=True) if t in wanted]
        if inn:
            found += [(s, s, t, h) for s, _, t in self.graph.in_edges(h, keys=True) if t in wanted]
        return found

    def _arm(self, arm: Arm, sk: int, a: str, b: str, salt: int) -> list[list[Any]]:
        h = a if arm.from_subject else b
        groups = set(arm.groups)
        best: dict[str, tuple[int, int, tuple[str, str, str]]] = {}
        for y, s, t, o in self._incident(h, arm.out, arm.inn, arm.types):
            if y in (a, b) or self._group(y) not in groups:
                continue
            esk = sample_key(s, t, o)
            candidate = (rank(esk, sk, salt), esk, (s, t, o))
            if y not in best or candidate[:2] < best[y][:2]:
                best[y] = candidate
        chosen = sorted(best.items(), key=lambda item: (item[1][0], item[0]))[: arm.max]
        return [[self._node(y), self._rel(*triple)] for y, (_, _, triple) in chosen]

    def _close(self, tri: Closing, sk: int, a: str, b: str, salt: int) -> list[list[Any]] | None:
        groups = set(tri.groups)
        from_a: dict[str, list[tuple[int, tuple[str, str, str]]]] = {}
        for c, s, t, o in self._incident(a, tri.out2, tri.in2, tri.types2):
            from_a.setdefault(c, []).append((sample_key(s, t, o), (s, t, o)))
        best = None
        for c, s, t, o in self._incident(b, tri.out3, tri.in3, tri.types3):
            if c in (a, b) or c not in from_a or self._group(c) not in groups:
                continue
            esk3 = sample_key(s, t, o)
            for esk2, triple2 in from_a[c]:
                candidate = (rank(esk2, esk3, sk, salt), c, esk2, esk3, triple2, (s, t, o))
                if best is None or candidate[:4] < best[:4]:
                    best = candidate
        if best is None:
            return None
        c, triple2, triple3 = best[1], best[4], best[5]
        return [[self._node(c), self._rel(*triple2)], [None, self._rel(*triple3)]]

    # -- rows -----------------------------------------------------------------
    def _group(self, node: str) -> str:
        return self.graph.nodes[node].get("group") or "Other"

    def _node(self, node: str) -> list[Any]:
        data = self.graph.nodes[node]
        return [
            node,
            data.get("name") or "",
            data.get("group") or "Other",
            list(data.get("synonyms") or []),
            list(data.get("xrefs") or []),
        ]

    def _rel(self, s: str, t: str, o: str) -> list[Any]:
        data = self.graph.edges[s, o, t]
        return [
            s,
            t,
            o,
            list(data.get("evidence") or []),
            list(data.get("source_labels") or []),
            list(data.get("provenance") or []),
            data.get("novelty") or "",
        ]
