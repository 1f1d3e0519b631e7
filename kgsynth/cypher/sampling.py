"""Stratified, reproducible motif sampling whose cost does not grow with the graph.

Strata are anchor relation types (optionally times subject/object group). For each
stratum a seeded start point on the ring of sample keys is drawn in Python, and
anchors are read in ring order, one window at a time, until the stratum's quota is
met: the sample is "the first q distinct instances after a random point", which is
a uniform draw of anchors (keys are hashes) that both stores compute identically
and that needs only index range seeks. Quotas start as even as possible; whatever
a scarce stratum cannot take is handed to strata that can.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from kgsynth.cypher.instance import MotifInstance
from kgsynth.cypher.motif import Motif
from kgsynth.cypher.plan import RING, Plan, build_instance, compile_motif
from kgsynth.errors import ConfigError
from kgsynth.graph.store import GraphStore

Balance = Literal["relation_type", "none"]

#: Anchors a stratum may read per instance of its even share before it is declared
#: scarce: this bounds the cost of motifs that rarely complete (triangles).
DEFAULT_SCAN_FACTOR = 20
#: ... but never fewer than this many anchors.
MIN_SCAN = 2_000


class Matcher(Protocol):
    def prepare(self, plan: Plan) -> None: ...
    def count(self, type_: str) -> int: ...
    def marginals(self, type_: str) -> tuple[Any, Any]: ...
    def window(
        self, plan: Plan, type_: str, groups_a: list[str], groups_b: list[str], lo: int, hi: int, salt: int
    ) -> list[dict[str, Any]]: ...


def matcher_for(store: GraphStore) -> Matcher:
    """The matcher of a store's backend."""
    from kgsynth.graph.memory import MemoryStore

    if isinstance(store, MemoryStore):
        from kgsynth.cypher.match_memory import MemoryMatcher

        return MemoryMatcher(store.graph)
    from kgsynth.graph.neo4j_store import Neo4jStore

    if isinstance(store, Neo4jStore):
        from kgsynth.cypher.match_neo4j import Neo4jMatcher

        return Neo4jMatcher(store)
    raise ConfigError(f"motif sampling does not support the {store.backend} store")


class Stratum(BaseModel):
    key: str
    type: str
    groups_a: list[str]
    groups_b: list[str]


class StratumReport(BaseModel):
    stratum: str
    anchors: int
    target: int
    achieved: int
    #: Every anchor of the stratum was read.
    exhausted: bool
    #: The scan budget ran out before the quota was met.
    budget_hit: bool
    #: How far short of its even share the stratum stayed.
    short: int


class SampleReport(BaseModel):
    motif: str
    backend: str
    seed: int
    n: int
    achieved: int
    balance: str
    balance_entities: bool
    strata: list[StratumReport]
    distribution: dict[str, int]
    #: Largest over smallest achieved count among strata (None if a stratum got nothing).
    max_min_ratio: float | None
    scarce: dict[str, int]
    seconds: float
    instances_per_s: float
    out: str = ""


class _Cursor:
    """Reads one stratum's anchors in ring order from a seeded start."""

    def __init__(self, stratum: Stratum, start: int, salt: int, anchors: int, scan_limit: int | None) -> None:
        self.stratum, self.start, self.salt, self.anchors = stratum, start, salt, anchors
        self.covered = 0
        if anchors == 0:
            self.limit = 0
        elif scan_limit is None or scan_limit >= anchors:
            self.limit = RING
        else:
            self.limit = max(1, math.ceil(scan_limit * RING / anchors))
        self.pending: deque[dict[str, Any]] = deque()
        self.rows_seen = 0
        self.taken: list[MotifInstance] = []

    @property
    def done(self) -> bool:
        return not self.pending and self.covered >= self.limit

    @property
    def exhausted(self) -> bool:
        return self.anchors == 0 or (self.done and self.limit == RING)

    def _width(self, need: int) -> int:
        scanned = self.covered * self.anchors / RING
        hit_rate = min(1.0, max(0.02, self.rows_seen / scanned)) if scanned >= 1 else 1.0
        want = max(32.0, 1.5 * need / hit_rate)
        return max(1, min(self.limit - self.covered, math.ceil(want * RING / self.anchors)))

    def next_ranges(self, need: int, chunks: int) -> list[tuple[int, int]]:
        """Claim the next window of the ring as up to ``chunks`` key ranges, in ring order."""
        width = self._width(need)
        lo = (self.start + self.covered) % RING
        self.covered += width
        parts = [(lo, lo + width)] if lo + width <= RING else [(lo, RING), (0, lo + width - RING)]
        expected = width * self.anchors / RING
        pieces = max(1, min(chunks, int(expected // _CHUNK_ANCHORS)))
        ranges = []
        for a, b in parts:
            step = max(1, math.ceil((b - a) / pieces))
            ranges += [(x, min(b, x + step)) for x in range(a, b, step)]
        return ranges

    def accept(self, rows: list[dict[str, Any]]) -> None:
        self.rows_seen += len(rows)
        self.pending.extend(rows)

    def fill(self, fetch: _Fetcher, quota: int, seen: set[str]) -> None:
        """Take distinct instances until ``quota`` are held or the stratum is done."""
        while len(self.taken) < quota and not self.done:
            if not self.pending:
                fetch([(self, quota - len(self.taken))])
                continue
            instance = build_instance(fetch.plan, self.stratum.key, self.pending.popleft())
            if instance.id not in seen:
                seen.add(instance.id)
                self.taken.append(instance)


#: A window expected to hold more anchors than this is split for parallel reading.
_CHUNK_ANCHORS = 250


class _Fetcher:
    """Reads windows for several cursors at once, concurrently where the matcher allows
    it (Neo4j). Rows are handed to each cursor in ring order, so the sample does not
    depend on which query finished first."""

    def __init__(self, matcher: Matcher, plan: Plan, pool: ThreadPoolExecutor | None, workers: int) -> None:
        self.matcher, self.plan, self.pool, self.workers = matcher, plan, pool, workers

    def __call__(self, jobs: list[tuple[_Cursor, int]]) -> None:
        chunks = max(1, self.workers // max(1, len(jobs)))
        tasks = [(cursor, lo, hi) for cursor, need in jobs for lo, hi in cursor.next_ranges(need, chunks)]

        def run(task: tuple[_Cursor, int, int]) -> list[dict[str, Any]]:
            cursor, lo, hi = task
            s = cursor.stratum
            return self.matcher.window(self.plan, s.type, s.groups_a, s.groups_b, lo, hi, cursor.salt)

        results = self.pool.map(run, tasks) if self.pool is not None and len(tasks) > 1 else map(run, tasks)
        for (cursor, _, _), rows in zip(tasks, results, strict=True):
            cursor.accept(rows)

    def prefetch(self, jobs: list[tuple[_Cursor, int]]) -> None:
        """The next window of every stratum that will need one, in one concurrent batch."""
        todo = [(c, q - len(c.taken)) for c, q in jobs if q > len(c.taken) and not c.pending and not c.done]
        if todo:
            self(todo)


def split_evenly(n: int, keys: list[str]) -> dict[str, int]:
    """``n`` over ``keys`` as evenly as possible; the remainder goes to the first keys."""
    if not keys:
        return {}
    base, extra = divmod(n, len(keys))
    return {k: base + (1 if i < extra else 0) for i, k in enumerate(keys)}


def split_proportionally(n: int, weights: dict[str, int]) -> dict[str, int]:
    """Largest-remainder split of ``n`` in proportion to ``weights`` (the graph's own mix)."""
    total = sum(weights.values())
    if total == 0:
        return dict.fromkeys(weights, 0)
    exact = {k: n * w / total for k, w in weights.items()}
    shares = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: (shares[k] - exact[k], k))[: n - sum(shares.values())]:
        shares[k] += 1
    return shares


def strata_for(plan: Plan, matcher: Matcher, balance_entities: bool) -> list[Stratum]:
    """One stratum per anchor type (times subject/object group with entity balance)."""
    strata = []
    for type_ in sorted(plan.anchor_types):
        if not balance_entities:
            strata.append(Stratum(key=type_, type=type_, groups_a=plan.groups_a, groups_b=plan.groups_b))
            continue
        subjects, objects = matcher.marginals(type_)
        for ga in plan.groups_a:
            for gb in plan.groups_b:
                if subjects.get(ga, 0) and objects.get(gb, 0):
                    strata.append(Stratum(key=f"{type_}:{ga}>{gb}", type=type_, groups_a=[ga], groups_b=[gb]))
    return strata


def sample(
    store: GraphStore,
    motif: Motif,
    n: int,
    seed: int | None = None,
    balance: Balance = "relation_type",
    balance_entities: bool = False,
    scan_factor: int = DEFAULT_SCAN_FACTOR,
    matcher: Matcher | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[list[MotifInstance], SampleReport]:
    """Up to ``n`` distinct instances of ``motif``, balanced over strata; reproducible for a seed."""
    if n < 0:
        raise ConfigError("--n must be >= 0")
    began = time.perf_counter()
    seed = secrets.randbelow(2**31) if seed is None else seed
    plan = compile_motif(motif)
    matcher = matcher or matcher_for(store)
    matcher.prepare(plan)
    strata = strata_for(plan, matcher, balance_entities)
    share = math.ceil(n / max(1, len(strata)))
    scan_limit = max(MIN_SCAN, scan_factor * share) if scan_factor > 0 else None
    cursors: dict[str, _Cursor] = {}
    for s in strata:
        rng = random.Random(f"{seed}|{motif.name}|{s.key}")
        cursors[s.key] = _Cursor(s, rng.getrandbits(32), rng.getrandbits(32), matcher.count(s.type), scan_limit)
    keys = [s.key for s in strata if cursors[s.key].anchors > 0]
    if balance == "none":
        targets = split_proportionally(n, {k: cursors[k].anchors for k in keys})
    else:
        targets = split_evenly(n, keys)
    initial = dict(targets)
    seen: set[str] = set()
    workers = getattr(matcher, "parallel", 1)
    with ThreadPoolExecutor(max_workers=workers) if workers > 1 else nullcontext() as pool:
        fetch = _Fetcher(matcher, plan, pool, workers)
        _balance(fetch, keys, cursors, targets, n, seen, on_progress)
    instances = [i for s in strata for i in cursors[s.key].taken]
    report = _report(store, motif, seed, n, balance, balance_entities, strata, cursors, initial, instances, began)
    return instances, report


def _balance(
    fetch: _Fetcher,
    keys: list[str],
    cursors: dict[str, _Cursor],
    targets: dict[str, int],
    n: int,
    seen: set[str],
    on_progress: Callable[[int], None] | None,
) -> None:
    """Fill every stratum to its target; hand what scarce strata cannot take to the others."""
    while True:
        fetch.prefetch([(cursors[k], targets[k]) for k in keys])
        for key in keys:
            cursors[key].fill(fetch, targets[key], seen)
            if on_progress:
                on_progress(sum(len(c.taken) for c in cursors.values()))
        deficit = n - sum(len(c.taken) for c in cursors.values())
        open_keys = [k for k in keys if not cursors[k].done]
        if deficit <= 0 or not open_keys:
            break
        for key in open_keys:
            targets[key] = len(cursors[key].taken)
        for _ in range(deficit):  # water-filling: the smallest open stratum gets the next unit
            smallest = min(open_keys, key=lambda k: targets[k])
            targets[smallest] += 1


def _report(
    store: GraphStore,
    motif: Motif,
    seed: int,
    n: int,
    balance: str,
    balance_entities: bool,
    strata: list[Stratum],
    cursors: dict[str, _Cursor],
    initial: dict[str, int],
    instances: list[MotifInstance],
    began: float,
) -> SampleReport:
    rows = []
    for s in strata:
        c = cursors[s.key]
        target = initial.get(s.key, 0)
        rows.append(
            StratumReport(
                stratum=s.key,
                anchors=c.anchors,
                target=target,
                achieved=len(c.taken),
                exhausted=c.exhausted,
                budget_hit=c.done and not c.exhausted,
                short=max(0, target - len(c.taken)),
            )
        )
    counts = [r.achieved for r in rows if r.anchors > 0]
    ratio = (max(counts) / min(counts)) if counts and min(counts) > 0 else None
    seconds = time.perf_counter() - began
    return SampleReport(
        motif=motif.name,
        backend=store.backend,
        seed=seed,
        n=n,
        achieved=len(instances),
        balance=balance,
        balance_entities=balance_entities,
        strata=rows,
        distribution={r.stratum: r.achieved for r in rows},
        max_min_ratio=round(ratio, 3) if ratio is not None else None,
        scarce={r.stratum: r.short for r in rows if r.short > 0},
        seconds=round(seconds, 4),
        instances_per_s=round(len(instances) / seconds, 1) if seconds > 0 else 0.0,
    )
