"""The graph-store contract: every test runs on MemoryStore and on the real Neo4j."""

from __future__ import annotations

import pytest

from kgsynth.graph.model import Concept, Provenance, Relation
from kgsynth.graph.sample import sample_graph
from kgsynth.graph.store import GraphStore

UMLS = Provenance(source="UMLS", release="2024AA", file="MRCONSO.RRF")
MESH = Provenance(source="MeSH", release="2025", file="desc2025.xml")


def diabetes(**extra) -> Concept:
    fields = dict(
        id="UMLS:C0011860",
        name="Diabetes Mellitus, Non-Insulin-Dependent",
        synonyms=["type 2 diabetes", "T2DM"],
        semantic_types=["T047"],
        group="Disease",
        xrefs=["MESH:D003924", "SNOMEDCT:44054006"],
        provenance=[UMLS],
    )
    fields.update(extra)
    return Concept(**fields)


def metformin_treats() -> Relation:
    return Relation(
        subject="UMLS:C0025598",
        type="TREATS",
        object="UMLS:C0011860",
        source_labels=["may_treat"],
        evidence=["PMID:1", "PMID:2"],
        novelty="Novel",
        provenance=[UMLS],
    )


def snapshot(store: GraphStore) -> tuple[list, list]:
    return list(store.iter_concepts()), list(store.iter_relations())


def test_concept_round_trip_keeps_every_property(store: GraphStore) -> None:
    concept = diabetes()
    store.upsert_concepts([concept])
    assert store.get_concept(concept.id) == concept


def test_relation_round_trip_keeps_every_property(store: GraphStore) -> None:
    relation = metformin_treats()
    store.upsert_relations([relation])
    assert store.find_relations(subject=relation.subject) == [relation]


def test_upsert_twice_changes_nothing(store: GraphStore) -> None:
    concepts, relations = sample_graph()
    store.upsert_concepts(concepts)
    store.upsert_relations(relations)
    first = snapshot(store)
    store.upsert_concepts(concepts)
    store.upsert_relations(relations)
    assert snapshot(store) == first
    assert store.stats().concepts == len(concepts)
    assert store.stats().relations == len(relations)


def test_upsert_merges_lists_and_keeps_first_name(store: GraphStore) -> None:
    store.upsert_concepts([diabetes()])
    store.upsert_concepts(
        [diabetes(name="Type 2 diabetes", synonyms=["T2DM", "NIDDM"], xrefs=["ICD10CM:E11"], provenance=[MESH])]
    )
    merged = store.get_concept("UMLS:C0011860")
    assert merged is not None
    assert merged.name == "Diabetes Mellitus, Non-Insulin-Dependent"
    assert merged.synonyms == ["type 2 diabetes", "T2DM", "NIDDM"]
    assert merged.xrefs == ["MESH:D003924", "SNOMEDCT:44054006", "ICD10CM:E11"]
    assert merged.provenance == [UMLS, MESH]
    assert merged.sources == ["UMLS", "MeSH"]


def test_specific_group_replaces_other_but_not_the_reverse(store: GraphStore) -> None:
    store.upsert_concepts([diabetes(group="Other")])
    store.upsert_concepts([diabetes(group="Disease")])
    store.upsert_concepts([diabetes(group="Phenotype")])
    assert store.get_concept("UMLS:C0011860").group == "Disease"
    assert store.count_concepts_by_group() == {"Disease": 1}


def test_relation_evidence_accumulates_on_one_edge(store: GraphStore) -> None:
    store.upsert_relations([metformin_treats()])
    again = metformin_treats().model_copy(update={"evidence": ["PMID:2", "PMID:3"], "novelty": "No"})
    store.upsert_relations([again])
    [edge] = store.find_relations(subject="UMLS:C0025598", type="TREATS")
    assert edge.evidence == ["PMID:1", "PMID:2", "PMID:3"]
    assert edge.novelty == "Novel"
    assert store.count_relations_by_type() == {"TREATS": 1}


def test_relation_to_unknown_concepts_creates_placeholders(store: GraphStore) -> None:
    store.upsert_relations([metformin_treats()])
    placeholder = store.get_concept("UMLS:C0025598")
    assert placeholder == Concept(id="UMLS:C0025598")
    store.upsert_concepts([Concept(id="UMLS:C0025598", name="Metformin", group="Chemical")])
    assert store.get_concept("UMLS:C0025598").group == "Chemical"
    assert store.get_concept("UMLS:C0025598").name == "Metformin"


def test_same_triple_with_two_types_is_two_edges(store: GraphStore) -> None:
    store.upsert_relations([metformin_treats(), metformin_treats().model_copy(update={"type": "ASSOCIATED_WITH"})])
    types = [r.type for r in store.find_relations(subject="UMLS:C0025598", object="UMLS:C0011860")]
    assert types == ["ASSOCIATED_WITH", "TREATS"]


def test_neighbours_by_direction_and_type(store: GraphStore) -> None:
    concepts, relations = sample_graph()
    store.upsert_concepts(concepts)
    store.upsert_relations(relations)
    out = store.neighbors("MESH:D003924", "out")
    assert {r.type for r in out} == {"HAS_PHENOTYPE", "FINDING_SITE", "POSITIVE_CORRELATION"}
    incoming = store.neighbors("MESH:D003924", "in", types=["TREATS"])
    assert [r.subject for r in incoming] == ["MESH:D007328", "MESH:D008687"]
    both = store.neighbors("MESH:D003924", "both")
    assert len(both) == len(out) + len(store.neighbors("MESH:D003924", "in"))
    assert store.neighbors("MESH:NOPE", "both") == []


def test_counts_by_group_and_type(store: GraphStore) -> None:
    concepts, relations = sample_graph()
    store.upsert_concepts(concepts)
    store.upsert_relations(relations)
    expected_groups: dict[str, int] = {}
    for c in concepts:
        expected_groups[c.group] = expected_groups.get(c.group, 0) + 1
    expected_types: dict[str, int] = {}
    for r in relations:
        expected_types[r.type] = expected_types.get(r.type, 0) + 1
    assert store.count_concepts_by_group() == expected_groups
    assert store.count_relations_by_type() == expected_types
    stats = store.stats()
    assert (stats.concepts, stats.relations) == (len(concepts), len(relations))


def test_find_relations_filters_and_iterates_in_order(store: GraphStore) -> None:
    concepts, relations = sample_graph()
    store.upsert_concepts(concepts)
    store.upsert_relations(relations)
    treats = store.find_relations(type="TREATS")
    assert len(treats) == sum(r.type == "TREATS" for r in relations)
    assert treats == sorted(treats, key=lambda r: r.key)
    assert store.find_relations(subject="MESH:D008687", type="TREATS", object="MESH:D003924")[0].type == "TREATS"
    all_relations = list(store.iter_relations())
    assert [r.key for r in all_relations] == sorted(r.key for r in relations)
    assert [c.id for c in store.iter_concepts()] == sorted(c.id for c in concepts)
    with pytest.raises(ValueError):
        store.find_relations()


def test_clear_empties_the_graph(store: GraphStore) -> None:
    concepts, relations = sample_graph()
    store.upsert_concepts(concepts)
    store.upsert_relations(relations)
    store.clear()
    assert store.stats().concepts == 0 and store.stats().relations == 0
