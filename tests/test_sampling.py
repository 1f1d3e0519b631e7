"""Balanced motif sampling: reproducible, duplicate-free, balanced, and the same on both stores."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.cypher.instance import MotifInstance
from kgsynth.cypher.motif import Motif, builtin_motifs
from kgsynth.cypher.sampling import sample, split_evenly, split_proportionally
from kgsynth.cypher.synthetic import synthetic_graph
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.model import Concept, Relation
from kgsynth.graph.sample import sample_graph
from kgsynth.graph.store import GraphStore


def _fill(store: GraphStore, edges: int = 3000) -> None:
    concepts, relations = synthetic_graph(edges, seed=3)
    store.upsert_concepts(concepts)
    store.upsert_relations(relations)


@pytest.fixture(scope="module")
def synthetic_store() -> MemoryStore:
    store = MemoryStore(None)
    _fill(store)
    return store


def test_same_seed_same_sample_other_seed_other_sample(synthetic_store: MemoryStore) -> None:
    motif = builtin_motifs()["single_edge"]
    first, _ = sample(synthetic_store, motif, 200, seed=5)
    again, _ = sample(synthetic_store, motif, 200, seed=5)
    other, _ = sample(synthetic_store, motif, 200, seed=6)
    assert [i.id for i in first] == [i.id for i in again]
    assert set(i.id for i in first) != set(i.id for i in other)
    unseeded_a, report_a = sample(synthetic_store, motif, 200)
    unseeded_b, report_b = sample(synthetic_store, motif, 200)
    assert report_a.seed != report_b.seed or [i.id for i in unseeded_a] == [i.id for i in unseeded_b]
    replay, _ = sample(synthetic_store, motif, 200, seed=report_a.seed)
    assert [i.id for i in replay] == [i.id for i in unseeded_a]


def test_no_duplicates_and_balanced_strata(synthetic_store: MemoryStore) -> None:
    motif = builtin_motifs()["single_edge"]
    instances, report = sample(synthetic_store, motif, 600, seed=1)
    assert len({i.id for i in instances}) == len(instances) == 600
    counts = Counter(i.stratum for i in instances)
    # ASSOCIATED_MORPHOLOGY has 15 edges in this graph: scarce, reported with its shortfall
    assert report.distribution["ASSOCIATED_MORPHOLOGY"] == 15
    assert report.scarce["ASSOCIATED_MORPHOLOGY"] == report.strata[0].target - 15
    assert all(row.exhausted for row in report.strata if row.stratum in report.scarce)
    # the quota scarce strata could not take went to the others, which stay within one of each other
    plentiful = [c for s, c in counts.items() if s not in report.scarce]
    assert max(plentiful) - min(plentiful) <= 1
    assert report.max_min_ratio == pytest.approx(max(counts.values()) / min(counts.values()), abs=1e-3)
    # SAME_AS / IS_A exist in the graph but are never sampled as facts
    assert not {"SAME_AS", "IS_A"} & {r.type for i in instances for r in i.relations}


def test_instances_satisfy_their_motif(synthetic_store: MemoryStore) -> None:
    graph = synthetic_store.graph
    for name, motif in builtin_motifs().items():
        instances, _ = sample(synthetic_store, motif, 40, seed=2)
        assert instances, name
        for inst in instances:
            for rel in inst.relations:
                assert graph.has_edge(rel.subject, rel.object, rel.type)
            slots = Counter(c.slot for c in inst.concepts)
            for slot_name, slot in motif.slots.items():
                assert slot.min <= slots[slot_name] <= slot.max, (name, slot_name)
                groups = {c.group for c in inst.concepts if c.slot == slot_name}
                assert not slot.groups or groups <= set(slot.groups)
            assert len({c.id for c in inst.concepts}) == len(inst.concepts)
        if motif.shape == "star":
            assert all(len(i.concepts) == 1 + motif.slots["leaf"].max for i in instances)


def test_balance_none_follows_the_graph_and_entity_strata_split_groups(synthetic_store: MemoryStore) -> None:
    motif = builtin_motifs()["single_edge"]
    _, natural = sample(synthetic_store, motif, 300, seed=1, balance="none")
    assert natural.distribution["HAS_PHENOTYPE"] > 3 * natural.distribution["CAUSES"]
    _, entity = sample(synthetic_store, motif, 300, seed=1, balance_entities=True)
    assert "TREATS:Chemical>Disease" in entity.distribution
    assert all(":" in key and ">" in key for key in entity.distribution)


def test_split_helpers() -> None:
    assert split_evenly(10, ["a", "b", "c"]) == {"a": 4, "b": 3, "c": 3}
    assert split_proportionally(10, {"a": 1, "b": 3}) == {"a": 3, "b": 7}  # 2.5/7.5: the tie goes to "a"
    assert sum(split_proportionally(7, {"a": 5, "b": 5, "c": 5}).values()) == 7


@pytest.mark.slow
def test_both_stores_return_the_same_instances(neo4j_store: GraphStore) -> None:
    """The acceptance check: same graph, motif and seed => the same instances, in the same order."""
    memory = MemoryStore(None)
    concepts, relations = sample_graph()  # real-looking ids beside the synthetic ones
    for store in (neo4j_store, memory):
        _fill(store)
        store.upsert_concepts(concepts)
        store.upsert_relations(relations)
    for name, motif in builtin_motifs().items():
        for seed in (1, 2):
            on_memory, report_memory = sample(memory, motif, 120, seed=seed)
            on_neo4j, report_neo4j = sample(neo4j_store, motif, 120, seed=seed)
            assert on_memory, name
            assert [i.model_dump() for i in on_memory] == [i.model_dump() for i in on_neo4j], (name, seed)
            assert report_memory.distribution == report_neo4j.distribution
    entity_memory, _ = sample(memory, builtin_motifs()["single_edge"], 100, seed=3, balance_entities=True)
    entity_neo4j, _ = sample(neo4j_store, builtin_motifs()["single_edge"], 100, seed=3, balance_entities=True)
    assert [i.id for i in entity_memory] == [i.id for i in entity_neo4j]


def test_neo4j_keys_new_relationships_incrementally(neo4j_store: GraphStore) -> None:
    """Edges loaded after a first sample get sample keys on the next one (no stale index)."""
    motif = builtin_motifs()["single_edge"]
    neo4j_store.upsert_relations([Relation(subject="MESH:D1", type="TREATS", object="MESH:D2")])
    first, _ = sample(neo4j_store, motif, 5, seed=1)
    neo4j_store.upsert_concepts([Concept(id="MESH:D3", name="x", group="Disease")])
    neo4j_store.upsert_relations([Relation(subject="MESH:D1", type="TREATS", object="MESH:D3")])
    second, _ = sample(neo4j_store, motif, 5, seed=1)
    assert len(first) == 1 and len(second) == 2


def test_cli_sample_writes_jsonl_and_one_json_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEO4J_URI", raising=False)  # --store must pick the embedded store
    runner = CliRunner()
    store = tmp_path / "g.json.gz"
    assert runner.invoke(app, ["graph", "load-sample", "--store", str(store), "--json"]).exit_code == 0
    out = tmp_path / "out" / "two_hop.jsonl"
    args = ["sample", "--motif", "two_hop", "--n", "5", "--seed", "3", "--out", str(out), "--store", str(store)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    lines = out.read_text().splitlines()
    assert report["achieved"] == len(lines) == 5 and report["seed"] == 3
    instance = MotifInstance.model_validate_json(lines[0])
    assert [c.slot for c in instance.concepts] == ["drug", "disease", "symptom"]
    assert instance.relations[0].provenance == ["kgsynth-sample|1|sample_kg.json"]
    again = runner.invoke(app, [*args, "--json"])
    assert out.read_text().splitlines() == lines and again.exit_code == 0
    bad = runner.invoke(app, ["sample", "--motif", "nope", "--n", "1", "--out", str(out), "--store", str(store)])
    assert bad.exit_code != 0 and "unknown motif" in bad.stderr


def test_custom_yaml_motif_from_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEO4J_URI", raising=False)
    runner = CliRunner()
    store = tmp_path / "g.json.gz"
    runner.invoke(app, ["graph", "load-sample", "--store", str(store), "--json"])
    motif_file = tmp_path / "causes.yaml"
    motif_file.write_text(
        "name: chem_disease\nshape: edge\nslots: {c: {groups: [Chemical]}, d: {groups: [Disease]}}\n"
        "edges: [{subject: c, object: d, types: [TREATS, CAUSES, PREVENTS]}]\n"
    )
    out = tmp_path / "o.jsonl"
    result = runner.invoke(
        app,
        [
            "sample",
            "--motif",
            str(motif_file),
            "--n",
            "9",
            "--seed",
            "1",
            "--out",
            str(out),
            "--store",
            str(store),
            "--json",
        ],
    )
    report = json.loads(result.stdout)
    assert report["distribution"] == {"CAUSES": 2, "PREVENTS": 1, "TREATS": 6}
    assert report["scarce"] == {"CAUSES": 1, "PREVENTS": 2}
    assert Motif  # the model is importable for users writing motifs in Python


def test_sample_that_finds_nothing_fails_and_names_the_empty_strata(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An ontology-only graph has no TREATS edge: patient_bundle must not exit 0 with an empty file."""
    monkeypatch.delenv("NEO4J_URI", raising=False)  # the embedded store at --store, also in CI
    from kgsynth.errors import InputError
    from kgsynth.graph.model import Concept, Relation

    store_path = tmp_path / "kg.json.gz"
    with MemoryStore(store_path) as store:
        store.upsert_concepts([Concept(id="HP:1", name="Tremor", group="Phenotype"),
                               Concept(id="MONDO:1", name="Parkinson disease", group="Disease")])
        store.upsert_relations([Relation(subject="MONDO:1", type="HAS_PHENOTYPE", object="HP:1")])
    out = tmp_path / "inst.jsonl"
    result = CliRunner().invoke(app, ["sample", "--motif", "patient_bundle", "--n", "5", "--out", str(out),
                                      "--store", str(store_path), "--json"])
    assert result.exit_code == InputError.exit_code
    assert "0 of 5 instances" in result.stderr and "TREATS" in result.stderr
    assert not out.exists()
    ok = CliRunner().invoke(app, ["sample", "--motif", "single_edge", "--n", "5", "--out", str(out),
                                  "--store", str(store_path), "--json"])
    assert ok.exit_code == 0 and out.read_text().count("\n") == 1
