"""Coverage sampling (`kgsynth sample --cover`) on a small hand-made KG, on both stores."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.cypher.cover import cover_sample, mention_names, parse_slice
from kgsynth.errors import ConfigError
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.model import Concept, Relation
from kgsynth.graph.store import GraphStore


def build(store: GraphStore) -> None:
    """A disease tree (D1 > D2 > D3, D1 > D4), two drugs, a symptom and a nameless placeholder."""
    concepts = [
        Concept(id="MESH:D000001", name="Neoplasms", synonyms=["Tumors", "Neoplasms, Benign"], group="Disease"),
        Concept(id="MESH:D000002", name="Breast Neoplasms", synonyms=["Neoplasms, Breast"], group="Disease"),
        Concept(id="MESH:D000003", name="Triple Negative Breast Neoplasms", group="Disease"),
        Concept(id="MESH:D000004", name="Lung Neoplasms", group="Disease"),
        Concept(id="MESH:D000010", name="Tamoxifen", group="Chemical"),
        Concept(id="MESH:D000011", name="Cisplatin", synonyms=["Platinol"], group="Chemical"),
        Concept(id="HP:0000001", name="Breast pain", group="Phenotype"),
    ]
    store.upsert_concepts(concepts)
    rel = [
        ("MESH:D000002", "IS_A", "MESH:D000001"), ("MESH:D000003", "IS_A", "MESH:D000002"),
        ("MESH:D000004", "IS_A", "MESH:D000001"),
        ("MESH:D000010", "TREATS", "MESH:D000002"), ("MESH:D000010", "TREATS", "MESH:D000003"),
        ("MESH:D000011", "TREATS", "MESH:D000004"), ("MESH:D000011", "CAUSES", "MESH:D000003"),
        ("MESH:D000002", "HAS_PHENOTYPE", "HP:0000001"),
        ("MESH:D000004", "SAME_AS", "UMLS:C0000004"),  # a nameless placeholder end
        ("MESH:D000001", "ASSOCIATED_WITH", "UMLS:C0000001"),  # a fact whose other end has no name
    ]
    store.upsert_relations(Relation(subject=s, type=t, object=o) for s, t, o in rel)
    store.checkpoint()


def per_concept(instances) -> Counter[str]:
    return Counter(c.id for i in instances for c in i.concepts)


@pytest.mark.parametrize("k", [1, 3])
def test_every_concept_of_the_slice_gets_k_instances(store: GraphStore, k: int):
    build(store)
    instances, report = cover_sample(store, [parse_slice("prefix:MESH:")], per_concept=k, seed=7)
    counts = per_concept(instances)
    assert report.total == 6 and report.covered == 6 and not report.uncoverable
    assert all(counts[f"MESH:D00000{i}"] >= k for i in (1, 2, 3, 4))
    assert counts["MESH:D000010"] >= k and counts["MESH:D000011"] >= k
    assert len({i.id for i in instances}) == len(instances)
    for instance in instances:
        if instance.motif == "single_edge":
            (rel,) = instance.relations
            assert rel.type not in ("IS_A", "SAME_AS") and "UMLS:C0000001" not in (rel.subject, rel.object)
        else:
            assert instance.motif == "mention" and instance.single_concept
            assert instance.mention in {instance.concepts[0].name, *instance.concepts[0].synonyms}
    # Neoplasms' only fact has a nameless other end: it is covered by single-concept instances
    neoplasms = [i for i in instances if i.concepts[0].id == "MESH:D000001"]
    assert len(neoplasms) == k and all(i.motif == "mention" for i in neoplasms)
    assert {i.mention for i in neoplasms} <= {"Neoplasms", "Tumors", "Neoplasms, Benign"}
    assert report.relational_instances + report.mention_instances == report.instances == len(instances)


def test_slices_by_group_subtree_and_uncoverable(store: GraphStore):
    build(store)
    _, report = cover_sample(store, [parse_slice("subtree:MESH:D000002")], seed=1)
    assert report.total == 2  # Breast Neoplasms and its child
    _, report = cover_sample(store, [parse_slice("group:Disease,subtree:MESH:D000001"),
                                     parse_slice("group:Phenotype")], seed=1)
    assert report.total == 5
    _, report = cover_sample(store, [parse_slice("prefix:UMLS:")], seed=1)
    assert report.total == 2 and report.covered == 0
    assert report.uncoverable_by_reason == {"no name to write in a note": 2}
    assert {u.id for u in report.uncoverable} == {"UMLS:C0000001", "UMLS:C0000004"}
    instances, report = cover_sample(store, [parse_slice("group:Disease")], per_concept=2, seed=1,
                                     relations_only=True)
    assert all(i.relations for i in instances)
    why = {u.id: u.reason for u in report.uncoverable}
    assert why["MESH:D000001"] == "no fact to write it into"
    assert report.covered + len(report.uncoverable) == report.total == 4


def test_every_name_writes_each_name_of_each_concept_once(store: GraphStore):
    build(store)
    instances, report = cover_sample(store, [parse_slice("prefix:MESH:")], per_concept=1, seed=2, every_name=True)
    mentions = [(i.concepts[0].id, i.mention) for i in instances if i.motif == "mention"]
    assert len(mentions) == len(set(mentions)) == report.mention_instances
    # every prose name of every concept is written exactly once, facts or not: "Neoplasms, Benign" too
    # (no plain twin), not "Neoplasms, Breast" (an inversion of "Breast Neoplasms")
    assert set(mentions) == {
        ("MESH:D000001", "Neoplasms"), ("MESH:D000001", "Tumors"), ("MESH:D000001", "Neoplasms, Benign"),
        ("MESH:D000002", "Breast Neoplasms"), ("MESH:D000003", "Triple Negative Breast Neoplasms"),
        ("MESH:D000004", "Lung Neoplasms"),
        ("MESH:D000010", "Tamoxifen"), ("MESH:D000011", "Cisplatin"), ("MESH:D000011", "Platinol")}
    assert report.every_name and report.covered == report.total == 6
    plain, _ = cover_sample(store, [parse_slice("prefix:MESH:")], per_concept=1, seed=2)
    assert report.relational_instances == sum(1 for i in plain if i.motif == "single_edge")
    with pytest.raises(ConfigError, match="choose one"):
        cover_sample(store, [parse_slice("prefix:MESH:")], every_name=True, relations_only=True)


def test_same_seed_same_instances_on_both_stores(memory_store: MemoryStore, neo4j_store: GraphStore):
    build(memory_store)
    build(neo4j_store)
    spec = [parse_slice("prefix:MESH:"), parse_slice("group:Phenotype")]
    a, ra = cover_sample(memory_store, spec, per_concept=2, seed=3)
    b, rb = cover_sample(neo4j_store, spec, per_concept=2, seed=3)
    assert [i.model_dump() for i in a] == [i.model_dump() for i in b]
    assert ra.model_dump(exclude={"backend", "seconds"}) == rb.model_dump(exclude={"backend", "seconds"})
    c, _ = cover_sample(memory_store, spec, per_concept=2, seed=4)
    assert [i.id for i in c] != [i.id for i in a] or [i.mention for i in c] != [i.mention for i in a]


def test_bad_slices_are_clear_errors(memory_store: MemoryStore):
    build(memory_store)
    for text, message in (("grup:Disease", "unknown condition"), ("group:Diseases", "unknown semantic group"),
                          ("Disease", "not KEY:VALUE"), ("", "needs a slice")):
        with pytest.raises(ConfigError, match=message):
            parse_slice(text)
    with pytest.raises(ConfigError, match="subtree root MESH:D999 is not in the graph"):
        cover_sample(memory_store, [parse_slice("subtree:MESH:D999")])
    with pytest.raises(ConfigError, match="per-concept"):
        cover_sample(memory_store, [parse_slice("group:Disease")], per_concept=0)


def test_mention_names_drop_inversions_with_a_plain_twin():
    node = ["MESH:D1", "Breast Neoplasms", "Disease", ["Neoplasms, Breast", "Cancer of Breast", "Insulin, Neutral"], []]
    assert mention_names(node) == ["Breast Neoplasms", "Cancer of Breast", "Insulin, Neutral"]
    assert mention_names(["MESH:C1", "insulin, neutral", "Chemical", [], []]) == ["insulin, neutral"]


def test_cli_sample_cover_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NEO4J_URI", raising=False)
    store_path = tmp_path / "g.json.gz"
    build(MemoryStore(store_path))
    out = tmp_path / "cover.jsonl"
    result = CliRunner().invoke(app, ["sample", "--cover", "group:Disease", "--cover", "prefix:UMLS:",
                                      "--per-concept", "2", "--seed", "5", "--out", str(out),
                                      "--store", str(store_path), "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["total"] == 6 and report["covered"] == 4 and report["uncoverable_by_reason"] == {
        "no name to write in a note": 2}
    lines = out.read_text().splitlines()
    assert len(lines) == report["instances"] and json.loads(lines[0])["id"]
    result = CliRunner().invoke(app, ["sample", "--out", str(out), "--store", str(store_path)])
    assert result.exit_code != 0 and "--motif" in result.output
    result = CliRunner().invoke(app, ["sample", "--cover", "group:Chemical", "--every-name", "--seed", "5",
                                      "--out", str(out), "--store", str(store_path), "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    mentions = sorted(json.loads(line)["mention"] for line in out.read_text().splitlines()
                      if json.loads(line)["motif"] == "mention")
    assert report["every_name"] and mentions == ["Cisplatin", "Platinol", "Tamoxifen"]
