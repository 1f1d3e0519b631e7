"""Note-level balance: per-type counts hit exactly where facts allow, never over the per-fact cap."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.errors import ConfigError
from kgsynth.generation.note_plan import anchor_type, plan_notes, water_fill

REPO = Path(__file__).resolve().parents[1]


def _instances(facts_per_type: dict[str, int]) -> list[MotifInstance]:
    out = []
    for t, k in facts_per_type.items():
        for i in range(k):
            a, b = f"A:{t}{i}", f"B:{t}{i}"
            out.append(MotifInstance(
                motif="single_edge", stratum=t,
                concepts=[InstanceConcept(slot="subject", id=a, name=f"a {t} {i}", group="Gene"),
                          InstanceConcept(slot="object", id=b, name=f"b {t} {i}", group="Disease")],
                relations=[InstanceRelation(subject=a, type=t, object=b)],
            ))
    return out


def test_water_fill_is_even_below_capacity_and_exact() -> None:
    assert water_fill(100, {"A": 1000, "B": 1000, "C": 6, "D": 30}) == {"A": 32, "B": 32, "C": 6, "D": 30}
    assert water_fill(10, {"A": 2, "B": 2}) == {"A": 2, "B": 2}  # all capped: as many as facts allow
    assert water_fill(7, {"A": 10, "B": 10}) == {"A": 4, "B": 3}


def test_plan_hits_per_type_counts_and_respects_the_cap() -> None:
    facts = {"ASSOCIATED_WITH": 456, "POSITIVE_CORRELATION": 455, "BINDS": 60, "COTREATMENT": 31,
             "COMPARISON": 28, "DRUG_INTERACTION": 11, "CONVERSION": 3}
    instances = _instances(facts)
    plan = plan_notes(instances, 1400, "relation_type", max_notes_per_fact=8, seed=3)
    counts = Counter(anchor_type(instances[i]) for i in plan.schedule)
    # Capacities: DRUG_INTERACTION 88, CONVERSION 24 are capped; the other five share the rest evenly:
    # (1400 - 88 - 24) / 5 = 257.6 -> 258, 258, 258, 257, 257 (remainder to sorted keys first), but
    # COMPARISON's capacity is 224 and COTREATMENT's 248, so they cap too and the last three share the rest.
    assert counts["CONVERSION"] == 24 and counts["DRUG_INTERACTION"] == 88
    assert counts["COMPARISON"] == 224 and counts["COTREATMENT"] == 248
    rest = 1400 - 24 - 88 - 224 - 248
    assert sorted(counts[t] for t in ("ASSOCIATED_WITH", "POSITIVE_CORRELATION", "BINDS")) == [
        rest // 3, rest // 3, rest - 2 * (rest // 3)]
    assert len(plan.schedule) == 1400 == plan.planned
    per_fact = Counter(instances[i].id for i in plan.schedule)
    assert max(per_fact.values()) <= 8
    # Within a type, notes are spread evenly over its facts (counts differ by at most one).
    for t in facts:
        mine = [per_fact[inst.id] for inst in instances if inst.stratum == t]
        assert max(mine) - min(mine) <= 1
    by_type = {t.type: t for t in plan.types}
    assert by_type["CONVERSION"].capped and not by_type["ASSOCIATED_WITH"].capped
    assert by_type["CONVERSION"].notes_per_fact == 8.0 and by_type["ASSOCIATED_WITH"].facts == 456


def test_plan_is_deterministic_interleaved_and_falls_short_only_when_facts_run_out() -> None:
    instances = _instances({"X": 2, "Y": 50})
    a = plan_notes(instances, 40, "relation_type", max_notes_per_fact=5, seed=1)
    b = plan_notes(instances, 40, "relation_type", max_notes_per_fact=5, seed=1)
    assert a.schedule == b.schedule and a.fingerprint == b.fingerprint
    assert a.fingerprint != plan_notes(instances, 40, "relation_type", max_notes_per_fact=5, seed=2).fingerprint
    # X gets 10 notes of 40: the scarce type is spread through the plan, not left to the end.
    assert [Counter(anchor_type(instances[i]) for i in a.schedule[k : k + 8])["X"] for k in (0, 32)] == [2, 2]
    short = plan_notes(_instances({"X": 2}), 40, "relation_type", max_notes_per_fact=5)
    assert short.planned == 10
    assert plan_notes(instances, 7, "none").schedule == [0, 1, 2, 3, 4, 5, 6]
    with pytest.raises(ConfigError):
        plan_notes(instances, 5, max_notes_per_fact=0)


def test_generate_cli_reports_the_plan_and_resumes_it(tmp_path: Path) -> None:
    inst = tmp_path / "inst.jsonl"
    inst.write_text("".join(i.model_dump_json() + "\n" for i in _instances({"BINDS": 2, "ASSOCIATED_WITH": 20})))
    out = tmp_path / "notes"
    cmd = [sys.executable, "-m", "kgsynth", "generate", "--instances", str(inst), "--out", str(out), "--backend",
           "template", "--n", "20", "--max-notes-per-fact", "4", "--no-extract", "--json"]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    first = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
    types = {t["type"]: t for t in first["plan"]["types"]}
    assert types["BINDS"]["notes"] == 8 and types["ASSOCIATED_WITH"]["notes"] == 12
    assert first["written"] == 20
    rows = [json.loads(line) for f in sorted(out.glob("notes-*.jsonl*")) for line in f.read_text().splitlines()]
    assert Counter(r["relations"][0]["type"] for r in rows) == {"BINDS": 8, "ASSOCIATED_WITH": 12}
    again = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
    assert again["skipped_done"] == 20 and again["written"] == 0
    other = subprocess.run([*cmd[:-1], "--seed", "9", "--json"], env=env, capture_output=True, text=True)
    assert other.returncode != 0 and "another note plan" in other.stderr


def test_single_concept_instances_are_covered_once_not_balanced() -> None:
    """Coverage samples mix mention instances (no fact) with relational ones: each mention gets one
    note when n is the number of instances, the relational ones are balanced among themselves."""
    from kgsynth.cypher.cover import mention_instance
    from kgsynth.generation.note_plan import MENTION_TYPE

    relational = _instances({"TREATS": 3, "CAUSES": 1})
    mentions = [mention_instance([f"MESH:D{i:06d}", f"Concept {i}", "Disease", [], []], f"Concept {i}", 0)
                for i in range(12)]
    mixed = mentions[:6] + relational + mentions[6:]
    plan = plan_notes(mixed, len(mixed), "relation_type", max_notes_per_fact=10, seed=1)
    counts = Counter(plan.schedule)
    assert all(counts[mixed.index(m)] == 1 for m in mentions)
    by_type = {t.type: t.notes for t in plan.types}
    assert by_type[MENTION_TYPE] == 12 and by_type["TREATS"] == by_type["CAUSES"] == 2
    assert plan.max_min_ratio == 1.0  # over relation types only
    first_half = plan.schedule[: len(mixed) // 2]
    assert any(mixed[i].single_concept for i in first_half) and not all(mixed[i].single_concept for i in first_half)
    only = plan_notes(mentions, 24, "relation_type", seed=1)
    assert Counter(only.schedule) == Counter({i: 2 for i in range(12)})
    assert anchor_type(mentions[0]) == MENTION_TYPE
