"""KG-aware consistency checks on hand-built notes, against both graph stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.errors import InputError
from kgsynth.evaluation.check import CONTRADICTS, GraphView, check_note, check_notes
from kgsynth.evaluation.readers import iter_jsonl_records, write_records
from kgsynth.evaluation.synthetic import template_notes
from kgsynth.generation.record import Entity, NoteRecord, NoteRelation
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.model import Concept, Relation
from kgsynth.graph.sample import sample_graph
from kgsynth.graph.store import GraphStore

METFORMIN, T2DM, CKD = "MESH:D008687", "MESH:D003924", "MESH:D007676"
ACETAMINOPHEN, DILI, ASPIRIN, ASTHMA = "MESH:D000082", "MESH:D056486", "MESH:D001241", "MESH:D001249"
GROUP = {METFORMIN: "Chemical", ACETAMINOPHEN: "Chemical", ASPIRIN: "Chemical"}


def load_sample(store: GraphStore) -> GraphStore:
    concepts, relations = sample_graph()
    store.upsert_concepts(concepts)
    store.upsert_relations(relations)
    return store


def make_note(
    sampled: tuple[str, str, str],
    sentence: list[tuple[str, str | None]],
    extracted: list[tuple[int, str, int]],
    types: dict[int, str] | None = None,
) -> NoteRecord:
    """A note from (text, concept id or None) pieces; entity n is the n-th piece with a concept."""
    text, entities = "", []
    for piece, concept in sentence:
        if concept is not None:
            n = len(entities) + 1
            etype = (types or {}).get(n, GROUP.get(concept, "Disease"))
            entities.append(
                Entity(
                    id=f"T{n}", start=len(text), end=len(text) + len(piece), text=piece, type=etype, concept_id=concept
                )
            )
        text += piece
    s, t, o = sampled
    instance = MotifInstance(
        motif="single_edge",
        concepts=[
            InstanceConcept(slot="a", id=s, name="", group=GROUP.get(s, "Disease")),
            InstanceConcept(slot="b", id=o, name="", group=GROUP.get(o, "Disease")),
        ],
        relations=[InstanceRelation(subject=s, type=t, object=o)],
    )
    rels = [NoteRelation(subject=f"T{a}", type=rt, object=f"T{b}") for a, rt, b in extracted]
    return NoteRecord(text=text, entities=entities, relations=rels, extracted_relations=rels, instance=instance)


def test_contradiction_table_is_symmetric() -> None:
    for a, others in CONTRADICTS.items():
        for b in others:
            assert a in CONTRADICTS[b]
    assert {"CAUSES", "CONTRAINDICATED_FOR"} <= CONTRADICTS["TREATS"]


def drop_phrase(note: NoteRecord) -> NoteRecord:
    """``note`` edited so that its first fact's relation phrase is gone (the mentions stay)."""
    t = note.relations[0].trigger
    assert t is not None
    delta = len("and") - (t.end - t.start)
    entities = [e if e.start < t.start else e.model_copy(update={"start": e.start + delta, "end": e.end + delta})
                for e in note.entities]
    return note.model_copy(update={"text": note.text[: t.start] + "and" + note.text[t.end :], "entities": entities,
                                   "relations": [r.model_copy(update={"trigger": None}) for r in note.relations]})


def test_each_check_on_both_stores(store: GraphStore) -> None:
    graph = GraphView(load_sample(store))
    faithful = make_note(
        (METFORMIN, "TREATS", T2DM),
        [("Metformin", METFORMIN), (" was started for ", None), ("T2DM", T2DM), (" at this visit.", None)],
        [(1, "TREATS", 2)],
    )
    r = check_note(faithful, graph)
    assert r.passed and r.flags == [] and r.faithfulness == 1.0
    assert r.extraction_ran and r.extraction_expressed == 1

    # The writer's own extraction pass is a second signal: it never decides the verdict.
    silent_pass = faithful.model_copy(update={"extracted_relations": []})
    r = check_note(silent_pass, graph)
    assert r.passed and r.faithfulness == 1.0 and not r.extraction_ran
    # An extraction pass that ran and found nothing is a recall of 0, not "did not run".
    found_nothing = faithful.model_copy(update={"extracted_relations": [], "decoding": {"extraction": True}})
    r = check_note(found_nothing, graph)
    assert r.passed and r.extraction_ran and r.extraction_expressed == 0 and r.extraction_facts == 0

    # The text edited so that the relation phrase is gone: the fact is no longer stated.
    edited = make_note(
        (METFORMIN, "TREATS", T2DM),
        [("Metformin", METFORMIN), (" and also ", None), ("T2DM", T2DM), (" at this visit.", None)],
        [(1, "TREATS", 2)],
    )
    r = check_note(edited, graph)
    assert r.flags == ["unfaithful"] and r.faithfulness == 0.0 and not r.passed
    assert r.extraction_expressed == 1  # the extraction pass would have said "expressed"
    assert check_note(edited, graph, min_faithfulness=0.0).passed
    # Wrong direction for a directed type: "T2DM was started for Metformin" states nothing sampled.
    backwards_phrase = make_note(
        (METFORMIN, "TREATS", T2DM),
        [("T2DM", T2DM), (" was started for ", None), ("Metformin", METFORMIN), (" today.", None)],
        [],
    )
    r = check_note(backwards_phrase, graph)
    assert "unfaithful" in r.flags and "hallucination" in r.flags
    assert [(f.subject, f.type, f.object) for f in r.absent_from_kg] == [(T2DM, "TREATS", METFORMIN)]
    # The annotation decides only when asked to (gold notes whose text does not use the lexicon).
    assert check_note(edited, graph, use_annotations=True).passed

    contra = make_note(
        (METFORMIN, "TREATS", T2DM),
        [("Type 2 diabetes", T2DM), (" was treated with ", None), ("Metformin", METFORMIN), (" today; ", None),
         ("CKD", CKD), (" was treated with ", None), ("metformin", METFORMIN), (" too.", None)],
        [],
    )
    r = check_note(contra, graph)
    assert "contradiction" in r.flags and r.contradicting[0].kg_types == ["CONTRAINDICATED_FOR"]
    assert r.contradicting[0].object == CKD and r.faithfulness == 1.0

    caused = make_note(
        (ACETAMINOPHEN, "CAUSES", DILI),
        [("Paracetamol", ACETAMINOPHEN), (" caused ", None), ("hepatotoxicity", DILI), (" last year; ", None),
         ("asthma", ASTHMA), (" was treated with ", None), ("paracetamol", ACETAMINOPHEN), (" too.", None)],
        [],
    )
    r = check_note(caused, graph)
    assert r.passed is False and r.flags == ["hallucination"]
    assert [(f.subject, f.type, f.object) for f in r.absent_from_kg] == [(ACETAMINOPHEN, "TREATS", ASTHMA)]

    backwards = make_note(
        (ACETAMINOPHEN, "CAUSES", DILI),
        [("Paracetamol", ACETAMINOPHEN), (" was effective against ", None), ("DILI", DILI), (" here.", None)],
        [],
    )
    r = check_note(backwards, graph)
    assert r.contradicting and r.contradicting[0].kg_types == ["CAUSES"] and "unfaithful" in r.flags

    elsewhere = make_note(
        (METFORMIN, "TREATS", T2DM),
        [("Metformin", METFORMIN), (" was started for ", None), ("T2DM", T2DM), (" today, and ", None),
         ("T2DM", T2DM), (" was positively correlated with ", None), ("CKD", CKD), (" here.", None)],
        [],
    )
    r = check_note(elsewhere, graph)
    assert r.passed and r.flags == ["extra_in_kg"] and r.extra_in_kg[0].type == "POSITIVE_CORRELATION"

    ungrounded = make_note(
        (METFORMIN, "TREATS", T2DM),
        [("the sugar pill", METFORMIN), (" was started for ", None), ("T2DM", T2DM), (" today.", None)],
        [],
    )
    r = check_note(ungrounded, graph)
    assert r.flags == ["ungrounded"] and "sugar pill" in r.ungrounded[0]

    mistyped = make_note(
        (METFORMIN, "TREATS", T2DM),
        [("Metformin", METFORMIN), (" was started for ", None), ("T2DM", T2DM), (" today.", None)],
        [],
        types={1: "Disease"},
    )
    r = check_note(mistyped, graph)
    assert r.flags == ["type_mismatch"] and "concept group Chemical" in r.type_mismatches[0]

    broken = faithful.model_copy(
        update={"entities": [faithful.entities[0].model_copy(update={"end": 5}), faithful.entities[1]]}
    )
    r = check_note(broken, graph)
    assert "span_error" in r.flags

    unknown = make_note(
        (METFORMIN, "TREATS", T2DM), [("Metformin", METFORMIN), (" and ", None), ("zorblax", "MESH:X999")], []
    )
    r = check_note(unknown, graph)
    assert "unknown_concept" in r.flags and "unfaithful" in r.flags

    junk = make_note(
        (METFORMIN, "TREATS", T2DM),
        [("1. ", None), ("Metformin", METFORMIN), (" was started for ", None), ("T2DM", T2DM),
         (" see https://x.org.", None)],
        [],
    )
    r = check_note(junk, graph)
    assert r.flags == ["degenerate"] and r.degenerate == ["url", "list_numbering"] and r.faithfulness == 1.0


def test_same_as_names_ground_a_mention(memory_store: MemoryStore) -> None:
    store = load_sample(memory_store)
    note = make_note(
        (METFORMIN, "TREATS", T2DM),
        [("Glucophage", METFORMIN), (" was started for ", None), ("T2DM", T2DM), (" today.", None)], [],
    )
    assert check_note(note, GraphView(store)).flags == ["ungrounded"]
    store.upsert_concepts([Concept(id="RXNORM:6809", name="Glucophage", group="Chemical")])
    store.upsert_relations([Relation(subject="RXNORM:6809", type="SAME_AS", object=METFORMIN)])
    assert check_note(note, GraphView(store)).passed


def test_template_notes_pass_and_run_rates(memory_store: MemoryStore) -> None:
    store = load_sample(memory_store)
    concepts, relations = sample_graph()
    notes = template_notes(concepts, relations, 40, seed=3, variety=3)
    assert len({n.id for n in notes}) == 40 and all(not n.span_errors() for n in notes)
    report = check_notes(notes, store)
    assert report.notes == 40 and report.passed == 40 and report.fact_recall == 1.0
    assert report.faithfulness_by == "trigger" and report.degenerate_notes == 0 and "no judge" in report.judge
    assert all(n.relations[0].trigger for n in notes)
    bad = drop_phrase(notes[0])
    report = check_notes([bad, *notes[1:]], store)
    assert report.passed == 39 and report.flag_counts == {"unfaithful": 1}
    assert report.fact_recall == pytest.approx(39 / 40)
    assert report.flag_rates["unfaithful"] == pytest.approx(1 / 40)


def test_check_cli_filters_atomically(tmp_path: Path) -> None:
    store_path = tmp_path / "kg.json.gz"
    with MemoryStore(store_path) as store:
        load_sample(store)
    concepts, relations = sample_graph()
    notes = template_notes(concepts, relations, 10, seed=1, variety=2)
    notes[3] = drop_phrase(notes[3])
    notes_dir = tmp_path / "notes"
    write_records(notes_dir / "part-1.jsonl", notes[:5])
    write_records(notes_dir / "part-2.jsonl", notes[5:])
    out = tmp_path / "kept" / "pass.jsonl"
    runner = CliRunner()
    result = runner.invoke(app, ["check", str(notes_dir), "--store", str(store_path), "--filter", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["notes"] == 10 and report["passed"] == 9 and report["filtered"]["written"] == 9
    kept = list(iter_jsonl_records(out))
    assert [n.id for n in kept] == [n.id for i, n in enumerate(notes) if i != 3]
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]
    table = runner.invoke(app, ["check", str(notes_dir / "part-1.jsonl"), "--store", str(store_path)])
    assert table.exit_code == 0 and "unfaithful" in table.output


def test_check_cli_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "entities": [{"id": "T1"}]}\n')
    result = CliRunner().invoke(app, ["check", str(bad), "--store", str(tmp_path / "kg.json.gz")])
    assert result.exit_code == InputError.exit_code and "bad.jsonl:1" in result.stderr
    empty_dir = tmp_path / "none"
    empty_dir.mkdir()
    result = CliRunner().invoke(app, ["check", str(empty_dir), "--store", str(tmp_path / "kg.json.gz")])
    assert result.exit_code == InputError.exit_code and "no *.jsonl" in result.stderr


def test_symmetric_types_are_kg_relation_types():
    from kgsynth.graph.schema import RELATION_TYPES, SYMMETRIC_TYPES

    assert SYMMETRIC_TYPES.issubset(RELATION_TYPES)
    assert "TREATS" not in SYMMETRIC_TYPES  # drug -> disease has a direction
