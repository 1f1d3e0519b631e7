"""Note-level balance: which instance each generation job writes about.

Sampling balances *instances* over relation types, but a KG has only so many facts of
a rare type (BioRED train: 3 Conversion facts against 2,000 Association ones), and one
note per instance leaves the dataset as skewed as the graph. The plan instead fixes
how many notes each relation type gets, as even as the facts allow: water-filling
over per-type capacities (distinct facts x ``max_notes_per_fact``), so every type
below its capacity gets the same count and only types that run out of facts get
fewer. A type's notes are spread over its facts as evenly as possible; repeated
facts differ because every job has its own seed (phrasing, note type, demographics,
companions).

The plan is a list: job ``k`` writes about ``instances[schedule[k]]``. It depends only
on the instances, ``n``, the cap and the seed, so a resumed run (which skips the job
numbers already written) continues the same plan. Jobs are interleaved across types,
so any prefix of the plan is itself nearly balanced.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from kgsynth.cypher.instance import MotifInstance
from kgsynth.errors import ConfigError

NoteBalance = Literal["relation_type", "none"]


class TypePlan(BaseModel):
    """What the plan gives one relation type."""

    type: str
    facts: int  # distinct instances whose anchor fact has this type
    notes: int
    max_notes_per_fact: int  # the most notes any one of its facts gets
    notes_per_fact: float
    #: The type got fewer notes than the even share because its facts ran out.
    capped: bool


class NotePlan(BaseModel):
    balance: NoteBalance
    requested: int
    planned: int
    max_notes_per_fact: int
    seed: int
    types: list[TypePlan] = Field(default_factory=list)
    #: Largest over smallest per-type note count (None with fewer than two types).
    max_min_ratio: float | None = None
    fingerprint: str = ""
    schedule: list[int] = Field(default_factory=list, exclude=True)


#: The plan's "type" of single-concept (mention) instances, which have no fact.
MENTION_TYPE = "(mention)"


def anchor_type(instance: MotifInstance) -> str:
    """The relation type an instance was sampled for (its stratum's type, else its first fact's)."""
    if instance.single_concept:
        return MENTION_TYPE
    stratum = instance.stratum.split("|", 1)[0] if instance.stratum else ""
    types = {r.type for r in instance.relations}
    return stratum if stratum in types else instance.relations[0].type


def water_fill(n: int, capacities: dict[str, int]) -> dict[str, int]:
    """Split ``n`` over keys as evenly as possible without exceeding any key's capacity.

    Keys whose capacity is below the even level get all of it; the others share the
    rest, differing by at most one (the extra ones go to keys in sorted order).
    """
    quota = {k: 0 for k in capacities}
    left = min(n, sum(capacities.values()))
    keys = sorted((c, k) for k, c in capacities.items() if c > 0)
    while keys:
        share = left // len(keys)
        if keys[0][0] <= share:
            cap, key = keys.pop(0)
            quota[key] = cap
            left -= cap
            continue
        names = sorted(k for _, k in keys)
        for i, key in enumerate(names):
            quota[key] = share + (1 if i < left % len(names) else 0)
        break
    return quota


def _fingerprint(instance_ids: Sequence[str], n: int, cap: int, seed: int, balance: str) -> str:
    digest = hashlib.sha1(json.dumps([list(instance_ids), n, cap, seed, balance]).encode("utf-8"))
    return digest.hexdigest()[:16]


def plan_notes(
    instances: Sequence[MotifInstance],
    n: int,
    balance: NoteBalance = "relation_type",
    max_notes_per_fact: int = 10,
    seed: int = 0,
) -> NotePlan:
    """The job -> instance schedule of a generation run (see the module docstring).

    ``balance="none"`` is the plain cycle (job ``k`` -> instance ``k mod len``).
    """
    if max_notes_per_fact < 1:
        raise ConfigError("--max-notes-per-fact must be >= 1")
    if not instances:
        raise ConfigError("no instances to plan notes for")
    plan = NotePlan(balance=balance, requested=n, planned=0, max_notes_per_fact=max_notes_per_fact, seed=seed)
    # The plain cycle does not depend on n (a resume may ask for more); a balanced plan does.
    plan.fingerprint = _fingerprint([i.id for i in instances], n if balance != "none" else 0,
                                    max_notes_per_fact if balance != "none" else 0, seed, balance)
    if balance == "none":
        plan.schedule = [k % len(instances) for k in range(n)]
    else:
        plan.schedule = _with_mentions(instances, n, max_notes_per_fact, seed, plan)
    plan.planned = len(plan.schedule)
    counts: dict[str, list[int]] = {}
    for idx in plan.schedule:
        counts.setdefault(anchor_type(instances[idx]), []).append(idx)
    if balance == "none":
        facts: dict[str, set[str]] = {}
        for inst in instances:
            facts.setdefault(anchor_type(inst), set()).add(inst.id)
        for t in sorted(facts):
            jobs = counts.get(t, [])
            per = {instances[i].id: 0 for i in jobs}
            for i in jobs:
                per[instances[i].id] += 1
            plan.types.append(TypePlan(type=t, facts=len(facts[t]), notes=len(jobs),
                                       max_notes_per_fact=max(per.values(), default=0),
                                       notes_per_fact=round(len(jobs) / len(facts[t]), 2), capped=False))
    notes = [t.notes for t in plan.types if t.type != MENTION_TYPE]
    if len(notes) >= 2:
        plan.max_min_ratio = round(max(notes) / min(notes), 2) if min(notes) else None
    return plan


def _with_mentions(instances: Sequence[MotifInstance], n: int, cap: int, seed: int, plan: NotePlan) -> list[int]:
    """Single-concept instances are coverage, not facts to balance: each gets its share of ``n``
    (one note each when ``n`` is the number of instances), the relational ones are balanced.
    """
    mentions = [i for i, inst in enumerate(instances) if inst.single_concept]
    if not mentions:
        return _balanced(instances, n, cap, seed, plan)
    relational = [i for i, inst in enumerate(instances) if not inst.single_concept]
    n_mention = n if not relational else round(n * len(mentions) / len(instances))
    mention_jobs = [mentions[k % len(mentions)] for k in range(n_mention)]
    plan.types.append(TypePlan(type=MENTION_TYPE, facts=len({instances[i].id for i in mentions}), notes=n_mention,
                               max_notes_per_fact=-(-n_mention // len(mentions)) if n_mention else 0,
                               notes_per_fact=round(n_mention / len(mentions), 2), capped=False))
    if not relational:
        return mention_jobs
    sub = _balanced([instances[i] for i in relational], n - n_mention, cap, seed, plan)
    # Interleave by position so that any prefix of the plan holds both kinds in proportion.
    keyed = [((k + 0.5) / len(mention_jobs), 0, idx) for k, idx in enumerate(mention_jobs)]
    keyed += [((k + 0.5) / len(sub), 1, relational[j]) for k, j in enumerate(sub)]
    return [idx for *_, idx in sorted(keyed)]


def _balanced(
    instances: Sequence[MotifInstance], n: int, cap: int, seed: int, plan: NotePlan
) -> list[int]:
    rng = random.Random(f"note-plan:{seed}")
    by_type: dict[str, list[int]] = {}
    seen: set[str] = set()
    for idx, inst in enumerate(instances):
        if inst.id in seen:
            continue  # the same facts twice are one fact
        seen.add(inst.id)
        by_type.setdefault(anchor_type(inst), []).append(idx)
    capacities = {t: len(v) * cap for t, v in by_type.items()}
    quota = water_fill(n, capacities)
    top = max(quota.values(), default=0)
    keyed: list[tuple[float, float, int]] = []
    for t in sorted(by_type):
        facts = list(by_type[t])
        rng.shuffle(facts)
        q = quota[t]
        per_fact = [q // len(facts) + (1 if i < q % len(facts) else 0) for i in range(len(facts))]
        # Round r lists every fact that gets more than r notes: repeats come after first uses.
        order = [facts[i] for r in range(max(per_fact, default=0)) for i in range(len(facts)) if per_fact[i] > r]
        for pos, idx in enumerate(order):
            keyed.append(((pos + 0.5) / q, rng.random(), idx))
        plan.types.append(TypePlan(
            type=t, facts=len(facts), notes=q, max_notes_per_fact=max(per_fact, default=0),
            notes_per_fact=round(q / len(facts), 2), capped=q == capacities[t] and q < top,
        ))
    keyed.sort()
    return [idx for _, _, idx in keyed]
