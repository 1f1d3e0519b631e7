"""Coverage write-back and report: idempotent, identical on both stores, usable from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.cypher import load_queries
from kgsynth.cypher.coverage import coverage_report
from kgsynth.cypher.instance import MotifInstance
from kgsynth.cypher.motif import builtin_motifs
from kgsynth.cypher.sampling import sample
from kgsynth.errors import InputError
from kgsynth.generation.coverage import note_coverage, write_notes
from kgsynth.generation.record import Entity, NoteRecord, NoteRelation, iter_jsonl_records
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.sample import sample_graph
from kgsynth.graph.store import GraphStore


# One plain sentence per sampled fact with exact offsets: notes for coverage tests without a model.
def template_note(instance: MotifInstance, note_type: str = "template", dataset: str = "template") -> NoteRecord:
    """A note stating each relation of ``instance`` as "<subject> <type> <object>."."""
    text = ""
    entities: list[Entity] = []
    relations = []

    def mention(concept_id: str) -> str:
        nonlocal text
        concept = instance.concept(concept_id)
        name = (concept.name if concept else "") or concept_id
        entity = Entity(
            id=f"T{len(entities) + 1}",
            start=len(text),
            end=len(text) + len(name),
            text=name,
            type=concept.group if concept else "Other",
            concept_id=concept_id,
        )
        entities.append(entity)
        text += name
        return entity.id

    for rel in instance.relations:
        subject = mention(rel.subject)
        text += f" {rel.type.lower().replace('_', ' ')} "
        obj = mention(rel.object)
        text += ". "
        relations.append(NoteRelation(subject=subject, type=rel.type, object=obj))
    return NoteRecord(
        text=text.rstrip(),
        entities=entities,
        relations=relations,
        instance=instance,
        note_type=note_type,
        dataset=dataset,
        backend="template",
    )



def _load(store: GraphStore) -> None:
    concepts, relations = sample_graph()
    store.upsert_concepts(concepts)
    store.upsert_relations(relations)


def _notes(store: GraphStore) -> list[NoteRecord]:
    bundles, _ = sample(store, builtin_motifs()["patient_bundle"], 5, seed=1)
    edges, _ = sample(store, builtin_motifs()["single_edge"], 6, seed=1)
    notes = [template_note(i, note_type="discharge_summary") for i in bundles]
    notes += [template_note(i, note_type="abstract", dataset="demo") for i in edges]
    # a mention of a concept the graph does not have is counted, not written
    notes.append(
        NoteRecord(
            text="Foo.", entities=[Entity(id="T1", start=0, end=3, text="Foo", type="Disease", concept_id="MESH:NOPE")]
        )
    )
    return notes


def test_template_notes_are_sound_and_carry_their_facts(memory_store: MemoryStore) -> None:
    _load(memory_store)
    for note in _notes(memory_store)[:-1]:
        assert note.span_errors() == []
        cov = note_coverage(note)
        assert {f.key for f in cov.facts} == {f"{r.subject}|{r.type}|{r.object}" for r in note.instance.relations}


def test_memory_write_back_is_idempotent_and_counts(memory_store: MemoryStore) -> None:
    _load(memory_store)
    notes = _notes(memory_store)
    first = write_notes(memory_store, notes)
    assert first.notes == 12 and first.unknown_concepts == 1
    report = coverage_report(memory_store, top=5)
    write_notes(memory_store, notes)
    assert coverage_report(memory_store, top=5) == report
    assert report.notes == 12
    assert report.notes_per_motif == {"single_edge": 6, "patient_bundle": 5, "": 1}
    treats = next(t for t in report.relation_types if t.type == "TREATS")
    assert treats.graph_edges == 7 and 1 <= treats.facts_in_graph <= 7
    mentioned = {c.id for c in report.top_concepts}
    assert not mentioned & {c.id for c in report.uncovered_high_degree}
    degrees = [c.degree for c in report.uncovered_high_degree]
    assert degrees == sorted(degrees, reverse=True)
    # a fresh process sees the same coverage (sidecar file beside the store)
    memory_store.checkpoint()
    assert coverage_report(MemoryStore(memory_store.path), top=5) == report


def test_both_stores_report_the_same_coverage(neo4j_store: GraphStore, memory_store: MemoryStore) -> None:
    _load(neo4j_store)
    _load(memory_store)
    notes = _notes(memory_store)
    assert write_notes(neo4j_store, notes) == write_notes(memory_store, notes)
    write_notes(neo4j_store, notes)  # idempotent on Neo4j too
    on_neo4j = coverage_report(neo4j_store, top=8).model_dump(exclude={"backend"})
    on_memory = coverage_report(memory_store, top=8).model_dump(exclude={"backend"})
    assert on_neo4j == on_memory
    # graph reads ignore the note nodes: concept counts are unchanged
    assert neo4j_store.stats().concepts == memory_store.stats().concepts == 37


def test_named_browser_queries_exist() -> None:
    names = set(load_queries("coverage"))
    assert {
        "cov_notes_per_motif",
        "cov_relation_types",
        "cov_balance",
        "cov_concepts_covered",
        "cov_uncovered_high_degree",
    } <= names


def test_bad_note_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.jsonl"
    path.write_text('{"text": "ok"}\n{"entities": 3}\n')
    with pytest.raises(InputError, match=r"notes\.jsonl:2"):
        list(iter_jsonl_records(path))


def test_cli_coverage_writes_back_then_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEO4J_URI", raising=False)  # --store must pick the embedded store
    runner = CliRunner()
    store = tmp_path / "g.json.gz"
    runner.invoke(app, ["graph", "load-sample", "--store", str(store), "--json"])
    notes_dir = tmp_path / "notes"
    notes_dir.mkdir()
    graph = MemoryStore(store)
    (notes_dir / "a.jsonl").write_text("".join(n.model_dump_json() + "\n" for n in _notes(graph)))
    result = runner.invoke(app, ["coverage", "--notes", str(notes_dir), "--store", str(store), "--json", "--top", "3"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["written"]["notes"] == 12 and report["notes"] == 12
    assert len(report["uncovered_high_degree"]) == 3
    again = json.loads(runner.invoke(app, ["coverage", "--store", str(store), "--json"]).stdout)
    assert again["notes"] == 12 and "written" not in again
