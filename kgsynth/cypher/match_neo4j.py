"""The Neo4j motif matcher: one parameterized query per motif, one call per ring window.

Before sampling, every relationship of the motif's types gets its sample key
``sk`` (computed in Python, identical to the embedded store's) and a range index
per type. That one-off step is incremental: a ``(:SampleIndex {type, edges})``
node remembers how many relationships were keyed, and only a changed count (read
from the count store, O(1)) triggers keying the new ones.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kgsynth.console import err
from kgsynth.cypher import query
from kgsynth.cypher.plan import Plan, sample_key
from kgsynth.graph.neo4j_store import Neo4jStore
from kgsynth.graph.schema import SEMANTIC_GROUPS
from kgsynth.graph.store import batched

_WRITE_BATCH = 20_000


def plan_types(plan: Plan) -> list[str]:
    """Every relation type a plan reads a sample key from."""
    types = list(plan.anchor_types)
    for arm in plan.arms:
        types += arm.types
    if plan.closing is not None:
        types += plan.closing.types2 + plan.closing.types3
    return sorted(set(types))


def ensure_sample_keys(
    store: Neo4jStore, types: list[str], counts: dict[str, int] | None = None, force: bool = False
) -> int:
    """Give relationships of ``types`` their ``sk`` and index it; returns how many were keyed.

    ``counts`` (relationships per type, from the count store) may be passed when known.
    """
    counts = counts if counts is not None else count_types(store, types)
    state = {row["type"]: row["edges"] for row in store.read(query("motifs", "sample_key_state"))}
    keyed = 0
    for type_ in types:
        total = counts.get(type_, 0)
        if total == 0 or (not force and state.get(type_) == total):
            continue
        store.run(query("motifs", "sample_key_index", TYPE=type_))
        missing = store.read(query("motifs", "sample_key_missing", TYPE=type_))
        if missing:
            err.print(f"[dim]indexing sample keys of {len(missing):,} {type_} relationships[/dim]")
        for rows in batched(missing, _WRITE_BATCH):
            payload = [{"eid": r["eid"], "sk": sample_key(r["subject"], type_, r["object"])} for r in rows]
            store.write(query("motifs", "sample_key_set"), rows=payload)
        keyed += len(missing)
        store.write(query("motifs", "sample_key_mark"), type=type_, edges=total)
        store.run(query("motifs", "await_indexes"))
    return keyed


def count_types(store: Neo4jStore, types: list[str], workers: int = 4) -> dict[str, int]:
    """Relationships per type from the count store (constant time each), queried concurrently."""

    def one(type_: str) -> int:
        return store.read(query("store", "count_relations_of_type", TYPE=type_))[0]["n"]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(types, pool.map(one, types), strict=True))


class Neo4jMatcher:
    """Matches plans on a :class:`Neo4jStore`; windows may be fetched from several threads."""

    parallel = 4

    def __init__(self, store: Neo4jStore) -> None:
        self.store = store
        self._counts: dict[str, int] = {}

    def prepare(self, plan: Plan) -> None:
        types = plan_types(plan)
        self._counts.update(count_types(self.store, types, self.parallel))
        ensure_sample_keys(self.store, types, self._counts)

    def count(self, type_: str) -> int:
        if type_ not in self._counts:
            self._counts.update(count_types(self.store, [type_]))
        return self._counts[type_]

    def marginals(self, type_: str) -> tuple[Counter[str], Counter[str]]:
        """Anchors of ``type_`` per subject / object group, from the count store (O(1) each)."""
        total = self.count(type_)
        subjects: Counter[str] = Counter()
        objects: Counter[str] = Counter()
        for group in SEMANTIC_GROUPS:
            if group == "Other":
                continue
            subjects[group] = self.store.read(query("motifs", "count_from_label", LABEL=group, TYPE=type_))[0][
                "n"
            ]
            objects[group] = self.store.read(query("motifs", "count_to_label", LABEL=group, TYPE=type_))[0]["n"]
        subjects["Other"] = total - sum(subjects.values())
        objects["Other"] = total - sum(objects.values())
        return +subjects, +objects

    def window(
        self, plan: Plan, type_: str, groups_a: list[str], groups_b: list[str], lo: int, hi: int, salt: int
    ) -> list[dict[str, Any]]:
        """One call of the motif's query for the anchors with ``lo <= sk < hi``."""
        params = plan.params(groups_a, groups_b, lo, hi, salt)
        return self.store.read(query("motifs", plan.query, TYPE=type_), **params)
