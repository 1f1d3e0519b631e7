"""Constrained extraction, offset alignment and the train -> extract -> evaluate CLI flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.generation.record import NoteRecord
from kgsynth.training.align import align, find_spans
from kgsynth.training.extract import salvage
from kgsynth.training.formatting import ExtractedEntity, ExtractedRelation, Extraction, target
from tests.test_train import make_note, notes, tiny_model, write_notes  # noqa: F401  (tiny_model is a fixture)


def test_find_spans_whole_words_then_ignoring_case() -> None:
    text = "NASA staff took ASA. Asa again, asa."
    assert find_spans(text, "ASA") == [(16, 19)]
    assert find_spans(text, "asa") == [(32, 35)]
    assert find_spans("Aspirin and aspirin", "ASPIRIN") == [(0, 7), (12, 19)]
    assert find_spans("x", " ") == []


def test_align_places_longest_first_and_links_relations() -> None:
    text = "Type 2 diabetes was treated with metformin; diabetes and Metformin again."
    extraction = Extraction(
        entities=[
            ExtractedEntity(text="diabetes", type="Disease"),
            ExtractedEntity(text="Type 2 diabetes", type="Disease"),
            ExtractedEntity(text="metformin", type="Chemical"),
            ExtractedEntity(text="insulin", type="Chemical"),
        ],
        relations=[
            ExtractedRelation(subject="metformin", type="TREATS", object="Type 2 diabetes"),
            ExtractedRelation(subject="insulin", type="TREATS", object="diabetes"),
        ],
    )
    every = align(text, extraction, "all")
    assert [(e.text, e.type) for e in every.entities] == [
        ("Type 2 diabetes", "Disease"),
        ("metformin", "Chemical"),
        ("diabetes", "Disease"),
    ]
    assert all(text[e.start : e.end] == e.text for e in every.entities)
    assert every.unplaced_mentions == ["insulin"] and every.dropped_relations == 1
    assert [(r.subject, r.type, r.object) for r in every.relations] == [("T2", "TREATS", "T1")]
    first = align(text, extraction, "first")
    assert len(first.entities) == 3
    # "Metformin" (other case) is not annotated once the exact-case match exists
    assert "Metformin" not in [e.text for e in every.entities]


def test_gold_answer_aligns_back_to_the_gold_annotation() -> None:
    note = make_note(7)
    aligned = align(note.text, target(note), "all")
    gold = {(e.start, e.end, e.type) for e in note.entities}
    got = {(e.start, e.end, e.type) for e in aligned.entities}
    assert gold <= got  # the lower-cased drug also matches its capitalized repeat, as annotators would
    assert len(aligned.relations) == 1


def test_salvage_keeps_complete_items_of_a_cut_answer() -> None:
    cut = '{"entities":[{"text":"fever","type":"Disease"},{"text":"asp'
    assert salvage(cut) == Extraction(entities=[ExtractedEntity(text="fever", type="Disease")])
    cut = '{"entities":[],"relations":[{"subject":"a","type":"TREATS","object":"b"},{"sub'
    assert len(salvage(cut).relations) == 1
    assert salvage('{"ent') == Extraction()


@pytest.mark.slow
def test_train_extract_evaluate_through_the_cli(tiny_model: Path, tmp_path: Path) -> None:  # noqa: F811
    from kgsynth.evaluation.metrics import evaluate

    data = write_notes(tmp_path / "notes.jsonl", notes(3, 2))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"base_model: {tiny_model}\nlora_r: 8\nlora_alpha: 32\nlearning_rate: 0.01\n"
        "batch_tokens: 400\nmax_length: 400\nval_fraction: 0.3\nepochs: 1\nsave_every: 1\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(
        app, ["train", "--config", str(cfg), "--data", str(data), "--out", str(run), "--lora-r", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["steps"] >= 1 and report["notes_val"] == 2
    saved = (run / "best" / "train_config.yaml").read_text()
    assert "lora_r: 4" in saved and "quantize: true" in saved  # the flag won over the YAML value

    preds = tmp_path / "preds.jsonl"
    args = ["extract", "--adapter", str(run / "best"), "--input", str(data), "--out", str(preds)]
    result = runner.invoke(app, [*args, "--max-new-tokens", "32", "--limit", "4", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["notes"] == 4 and summary["complete"] + summary["truncated"] == 4
    lines = preds.read_text().splitlines()
    predicted = [NoteRecord.model_validate_json(line) for line in lines]  # every answer parsed into a record
    gold = [NoteRecord.model_validate_json(line) for line in data.read_text().splitlines()][:4]
    assert [p.id for p in predicted] == [g.id for g in gold] and all(not p.span_errors() for p in predicted)
    assert evaluate(gold, predicted, bootstrap_samples=0).documents == 4


def test_cli_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": 5}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "--data", str(bad), "--out", str(tmp_path / "r")])
    assert result.exit_code != 0
    assert "bad.jsonl:2" in result.stderr
    result = CliRunner().invoke(app, ["train", "--data", str(bad), "--lora-r", "0"])
    assert result.exit_code != 0 and "lora_r" in result.stderr


class _EchoExtractor:
    """Stands in for the model: extract_file's resume logic does not depend on it."""

    adapter = Path("echo")

    def __init__(self) -> None:
        self.seen: list[str] = []

    def predict(self, record: NoteRecord, report: object = None) -> NoteRecord:
        self.seen.append(record.id)
        return NoteRecord(id=record.id, text=record.text)


def test_extract_file_resumes_without_duplicates(tmp_path: Path) -> None:
    from kgsynth.training.extract import extract_file

    records = notes(4, 1)
    out = tmp_path / "preds.jsonl"
    partial = out.with_name(out.name + ".partial")
    partial.write_text(NoteRecord(id=records[0].id, text=records[0].text).model_dump_json() + '\n{"id": "torn', "utf-8")
    fake = _EchoExtractor()
    report = extract_file(fake, records, out, "in", show_progress=False)  # type: ignore[arg-type]
    assert fake.seen == [r.id for r in records[1:]] and report.skipped_done == 1
    ids = [NoteRecord.model_validate_json(line).id for line in out.read_text().splitlines()]
    assert ids == [r.id for r in records] and not partial.exists()
