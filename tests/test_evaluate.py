"""`kgsynth evaluate` end to end on the real corpora, and on broken inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.errors import InputError
from kgsynth.evaluation.readers import read_records
from kgsynth.generation.record import Entity, NoteRecord

runner = CliRunner()


def run_json(*args: str) -> dict:
    result = runner.invoke(app, ["evaluate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def counts(report: dict, kind: str, mode: str) -> tuple[int, int, int]:
    micro = report[kind][mode]["micro"]
    return micro["tp"], micro["fp"], micro["fn"]


@pytest.mark.parametrize(
    ("gold", "pred", "entities", "relations"),
    [
        ("biored/Dev.PubTator", "biored/Dev.BioC.XML", 3533, 1162),
        ("biored/Dev.BioC.JSON", "biored/Dev.PubTator", 3533, 1162),
        ("bc5cdr/CDR_DevelopmentSet.PubTator.txt", "bc5cdr/CDR_DevelopmentSet.PubTator.txt", 9591, 1019),
    ],
)
def test_gold_against_itself_is_perfect(shared_data: Path, gold: str, pred: str, entities: int, relations: int) -> None:
    report = run_json("--gold", str(shared_data / gold), "--pred", str(shared_data / pred), "--bootstrap", "50")
    assert report["relation_level"] == "concept"
    for mode in ("strict", "exact", "partial", "type"):
        assert counts(report, "entity", mode) == (entities, 0, 0)
        assert report["entity"][mode]["micro"]["f1"] == 1.0
    for mode in ("strict", "relaxed", "pair"):
        assert counts(report, "relation", mode) == (relations, 0, 0)
    assert report["entity"]["strict"]["ci"]["f1"] == {"low": 1.0, "high": 1.0}


def _blocks(path: Path) -> list[list[str]]:
    return [b.split("\n") for b in path.read_text(encoding="utf-8").strip("\n").split("\n\n")]


def _write_blocks(path: Path, blocks: list[list[str]]) -> Path:
    path.write_text("\n\n".join("\n".join(b) for b in blocks) + "\n", encoding="utf-8")
    return path


def test_dropped_mentions_give_the_expected_recall(shared_data: Path, tmp_path: Path) -> None:
    gold = shared_data / "biored" / "Dev.PubTator"
    blocks = _blocks(gold)
    dropped = 0
    for block in blocks:
        mentions = [i for i, line in enumerate(block) if len(line.split("\t")) == 6]
        if mentions:
            del block[mentions[-1]]
            dropped += 1
    pred = _write_blocks(tmp_path / "pred.PubTator", blocks)
    report = run_json("--gold", str(gold), "--pred", str(pred), "--bootstrap", "0")
    assert dropped == 100
    assert counts(report, "entity", "strict") == (3533 - dropped, 0, dropped)
    assert report["entity"]["strict"]["micro"]["recall"] == pytest.approx((3533 - dropped) / 3533)
    assert report["entity"]["strict"]["micro"]["precision"] == 1.0


def test_changed_relation_types_give_the_expected_scores(shared_data: Path, tmp_path: Path) -> None:
    gold = shared_data / "biored" / "Dev.PubTator"
    blocks = _blocks(gold)
    changed = 0
    for block in blocks:
        fields = [line.split("\t") for line in block]
        if any(len(f) == 6 and "," in f[5] for f in fields):
            continue  # composite mentions expand to several keys; keep the expected count simple
        single = {f[5] for f in fields if len(f) == 6}
        for i, f in enumerate(fields):
            if len(f) == 5 and not f[1].isdigit() and f[2] in single and f[3] in single:
                f[1] = "Bind" if f[1] != "Bind" else "Association"
                block[i] = "\t".join(f)
                changed += 1
                break
    pred = _write_blocks(tmp_path / "pred.PubTator", blocks)
    report = run_json("--gold", str(gold), "--pred", str(pred), "--bootstrap", "0")
    assert changed > 50
    assert counts(report, "relation", "strict") == (1162 - changed, changed, changed)
    assert counts(report, "relation", "relaxed") == (1162 - changed, changed, changed)
    assert counts(report, "relation", "pair") == (1162, 0, 0)
    assert report["relation"]["strict"]["micro"]["f1"] == pytest.approx((1162 - changed) / 1162)
    assert counts(report, "entity", "strict") == (3533, 0, 0)


def _jsonl(path: Path, records: list[NoteRecord]) -> Path:
    path.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_predictions_against_pubtator_gold(shared_data: Path, tmp_path: Path) -> None:
    gold_set = read_records(shared_data / "biored" / "Dev.PubTator")
    preds = [r.model_copy(update={"entities": r.entities[::2]}) for r in gold_set.records[:10]]
    pred = _jsonl(tmp_path / "pred.jsonl", preds)
    result = runner.invoke(
        app, ["evaluate", "--gold", str(shared_data / "biored" / "Dev.PubTator"), "--pred", str(pred), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["issues"]["missing_in_pred"]) == 90  # counted, scored as empty predictions
    kept = sum(len(r.entities) for r in preds)
    assert report["entity"]["strict"]["micro"]["tp"] == kept
    assert report["entity"]["strict"]["micro"]["fn"] == 3533 - kept


def test_table_output_names_the_issues(shared_data: Path, tmp_path: Path) -> None:
    gold_set = read_records(shared_data / "biored" / "Dev.PubTator")
    first = gold_set.records[0]
    broken = first.model_copy(
        update={
            "entities": [
                *first.entities,
                Entity(id="T999", start=5, end=99999, text="zz", type="Dragon", concept_id=""),
            ]
        }
    )
    pred = _jsonl(tmp_path / "pred.jsonl", [broken])
    result = runner.invoke(
        app, ["evaluate", "--gold", str(shared_data / "biored" / "Dev.PubTator"), "--pred", str(pred), "--per-type"]
    )
    assert result.exit_code == 0, result.output
    assert "Entities" in result.output and "strict" in result.output
    assert "99 gold documents have no prediction" in result.output
    assert "offsets outside the text" in result.output


def test_broken_inputs_are_clear_errors(tmp_path: Path, shared_data: Path) -> None:
    gold = str(shared_data / "biored" / "Dev.PubTator")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    missing_field = tmp_path / "bad.jsonl"
    missing_field.write_text('{"id": "1", "text": "abc", "entities": [{"id": "T1", "start": 0, "text": "a"}]}\n')
    not_json = tmp_path / "bad2.jsonl"
    not_json.write_text('{"id": "1", "text": "abc"}\n{oops\n')
    other_ids = _jsonl(tmp_path / "other.jsonl", [NoteRecord(id="nope", text="abc")])
    for pred, fragment in (
        (empty, "empty"),
        (missing_field, "bad.jsonl:1: invalid note record: entities.0.end"),
        (not_json, "bad2.jsonl:2"),
        (other_ids, "no document id of the predictions is in the gold"),
        (tmp_path / "absent.jsonl", "no such file"),
    ):
        result = runner.invoke(app, ["evaluate", "--gold", gold, "--pred", str(pred)])
        assert result.exit_code == InputError.exit_code, (pred, result.output)
        assert fragment in result.stderr and "Traceback" not in result.output


def test_generated_notes_at_mention_level(tmp_path: Path) -> None:
    from kgsynth.evaluation.synthetic import template_notes
    from kgsynth.generation.record import NoteRelation
    from kgsynth.graph.sample import sample_graph

    concepts, relations = sample_graph()
    gold = template_notes(concepts, relations, 30, seed=4, variety=3)
    pred = []
    for i, note in enumerate(gold):
        rel = note.relations[0]
        if i % 3 == 0:  # every third note: relation direction reversed
            rel = NoteRelation(subject=rel.object, type=rel.type, object=rel.subject)
        pred.append(note.model_copy(update={"relations": [rel]}))
    gold_path, pred_path = _jsonl(tmp_path / "gold.jsonl", gold), _jsonl(tmp_path / "pred.jsonl", pred)
    report = run_json("--gold", str(gold_path), "--pred", str(pred_path), "--bootstrap", "0")
    assert report["relation_level"] == "mention"
    assert counts(report, "entity", "strict") == (60, 0, 0)
    assert counts(report, "relation", "strict") == (20, 10, 10)
    assert counts(report, "relation", "relaxed") == (30, 0, 0)  # BioRED-style: direction ignored
