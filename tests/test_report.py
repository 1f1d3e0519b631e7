"""Dataset quality figures (hand-computed) and the rendered HTML report."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.evaluation.quality import balances, distinct_n, length_stats, mean_pairwise_cosine, near_duplicates, words
from kgsynth.evaluation.readers import write_records
from kgsynth.evaluation.synthetic import template_notes
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.sample import sample_graph


def test_distinct_n_and_near_duplicates_by_hand() -> None:
    tokens = [words("the cat sat"), words("the cat ran")]
    assert distinct_n(tokens, 1) == pytest.approx(4 / 6)  # the, cat, sat, ran
    assert distinct_n(tokens, 2) == pytest.approx(3 / 4)  # (the cat) twice
    assert distinct_n(tokens, 3) == pytest.approx(2 / 2)
    assert distinct_n([[]], 1) is None
    a = words("metformin was started for type 2 diabetes today")
    b = words("metformin was started for type 2 diabetes yesterday")
    c = words("aspirin prevents myocardial infarction")
    # a and b share 5 of 7 distinct trigrams: Jaccard 5/7 ≈ 0.71
    assert near_duplicates([a, b, c], threshold=0.7) == (1, 2)
    assert near_duplicates([a, b, c], threshold=0.8) == (0, 0)
    assert near_duplicates([a, a, a], threshold=0.99) == (3, 3)


def test_balance_and_length() -> None:
    concepts, relations = sample_graph()
    notes = template_notes(concepts, relations, 40, variety=1)
    rel, ent = balances(notes)
    assert set(rel) == {"(all)", "single_edge"}
    counts = rel["(all)"].counts
    assert sum(counts.values()) == 40
    assert rel["(all)"].max_min_ratio == pytest.approx(max(counts.values()) / min(counts.values()))
    stats = length_stats([["a"] * n for n in (1, 2, 3, 4, 10)])
    assert (stats.mean_words, stats.median_words, stats.min_words, stats.max_words) == (4.0, 3.0, 1, 10)


@pytest.mark.slow
def test_embedding_cosine_uses_the_packaged_model() -> None:
    same, n = mean_pairwise_cosine(["Metformin treats diabetes."] * 3)
    assert n == 3 and same == pytest.approx(1.0, abs=1e-4)
    apart, _ = mean_pairwise_cosine(["Metformin treats diabetes.", "The weather in Lisbon was sunny."])
    assert apart < 0.5


@pytest.mark.slow
def test_report_cli_writes_html_with_baseline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEO4J_URI", raising=False)  # coverage is against this test's own embedded graph
    store_path = tmp_path / "kg.json.gz"
    concepts, relations = sample_graph()
    with MemoryStore(store_path) as store:
        store.upsert_concepts(concepts)
        store.upsert_relations(relations)
    notes, baseline = tmp_path / "notes.jsonl", tmp_path / "baseline.jsonl"
    write_records(notes, template_notes(concepts, relations, 60, seed=2, variety=3))
    write_records(baseline, template_notes(concepts, relations, 60, variety=1))
    out = tmp_path / "r" / "report.html"
    result = CliRunner().invoke(
        app,
        [
            "report",
            str(notes),
            "--baseline",
            str(baseline),
            "--out",
            str(out),
            "--store",
            str(store_path),
            "--no-embeddings",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    mine, base = data["stats"]
    assert mine["label"] == "notes" and base["label"] == "template baseline"
    assert base["diversity"]["distinct_2"] < mine["diversity"]["distinct_2"]
    assert base["diversity"]["exact_duplicate_texts"] == 60 - 40  # 40 facts, one fixed sentence each
    assert mine["consistency"]["pass_rate"] == 1.0
    assert base["coverage"]["facts_used"] == 40 and base["coverage"]["fact_coverage"] == 1.0
    page = out.read_text(encoding="utf-8")
    assert "Relation-type balance per motif" in page and "template baseline" in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 6
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert (out.stat().st_mode & 0o777) == 0o644
