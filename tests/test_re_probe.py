"""The RE utility probe: pair building, entity markers and scoring on a tiny hand-checked corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kgsynth.evaluation.metrics import relation_counts
from kgsynth.evaluation.re_probe import (
    NONE,
    RE_LABELS,
    Corpus,
    Pair,
    ProbeSettings,
    build_pairs,
    domain_copies,
    mark,
    pair_shape,
    predict_labels,
    predicted_records,
    score_rows,
    sentences,
    train_head,
)
from kgsynth.evaluation.scores import Counts, difference_interval
from kgsynth.generation.record import Entity, NoteRecord, NoteRelation

REPO = Path(__file__).resolve().parents[1]


def _e(eid: str, text: str, full: str, etype: str, cid: str, nth: int = 0) -> Entity:
    start = -1
    for _ in range(nth + 1):
        start = full.index(text, start + 1)
    return Entity(id=eid, start=start, end=start + len(text), text=text, type=etype, concept_id=cid)


def _doc1() -> NoteRecord:
    text = "BRCA1 variant c.68del causes breast cancer. Tamoxifen binds BRCA1 in human cells."
    ents = [
        _e("T1", "BRCA1", text, "Gene", "NCBIGene:672"),
        _e("T2", "c.68del", text, "Variant", "tmVar:c|DEL|68|"),
        _e("T3", "breast cancer", text, "Disease", "MESH:D001943"),
        _e("T4", "Tamoxifen", text, "Chemical", "MESH:D013629"),
        _e("T5", "BRCA1", text, "Gene", "NCBIGene:672", nth=1),
        _e("T6", "human", text, "Species", "NCBITaxon:9606"),
    ]
    rels = [
        NoteRelation(subject="T2", type="POSITIVE_CORRELATION", object="T3"),
        NoteRelation(subject="T4", type="BINDS", object="T5"),
        NoteRelation(subject="T1", type="TREATS", object="T3"),  # not a BioRED type: pair left out
    ]
    return NoteRecord(id="d1", text=text, entities=ents, relations=rels)


def _doc2() -> NoteRecord:
    text = "Aspirin and heparin were compared in stroke."
    ents = [
        _e("T1", "Aspirin", text, "Chemical", "MESH:D001241"),
        _e("T2", "heparin", text, "Chemical", "MESH:D006493"),
        _e("T3", "stroke", text, "Disease", "MESH:D020521"),
    ]
    rels = [NoteRelation(subject="T1", type="COMPARISON", object="T2")]
    return NoteRecord(id="d2", text=text, entities=ents, relations=rels)


def test_pairs_are_unordered_concepts_of_biored_groups_with_gold_labels() -> None:
    pairs = build_pairs([_doc1(), _doc2()])
    by_key = {(p.doc, p.a, p.b): p.label for p in pairs}
    # doc 1: 4 pairable concepts (Species left out) = 6 pairs, minus the TREATS-only pair.
    assert len([p for p in pairs if p.doc == 0]) == 5
    assert by_key[(0, "MESH:D001943", "tmVar:c|DEL|68|")] == "POSITIVE_CORRELATION"
    assert by_key[(0, "MESH:D013629", "NCBIGene:672")] == "BINDS"  # two BRCA1 mentions, one concept
    assert (0, "MESH:D001943", "NCBIGene:672") not in by_key  # TREATS: neither BioRED type nor unrelated
    assert by_key[(0, "MESH:D001943", "MESH:D013629")] == NONE
    assert all(p.a < p.b for p in pairs)
    assert not any("NCBITaxon" in p.a + p.b for p in pairs)
    assert {(p.a, p.b): p.label for p in pairs if p.doc == 1} == {
        ("MESH:D001241", "MESH:D006493"): "COMPARISON",
        ("MESH:D001241", "MESH:D020521"): NONE,
        ("MESH:D006493", "MESH:D020521"): NONE,
    }


def test_markers_wrap_every_pairable_mention_and_offsets_follow() -> None:
    record = _doc1()
    text, spans = mark(record)
    assert text == (
        "* BRCA1 * variant * c.68del * causes * breast cancer *. * Tamoxifen * binds * BRCA1 * in human cells."
    )
    assert [text[s.start : s.end] for s in spans] == [
        "* BRCA1 *", "* c.68del *", "* breast cancer *", "* Tamoxifen *", "* BRCA1 *",
    ]
    assert [s.concepts for s in spans][1] == ["tmVar:c|DEL|68|"]
    assert sentences(text) == [(0, 55), (56, len(text))]


def test_nested_mentions_keep_the_outer_one() -> None:
    text = "BRCA1 gene mutation carriers"
    ents = [
        Entity(id="T1", start=0, end=19, text="BRCA1 gene mutation", type="Variant", concept_id="tmVar:x"),
        Entity(id="T2", start=0, end=5, text="BRCA1", type="Gene", concept_id="NCBIGene:672"),
    ]
    marked, spans = mark(NoteRecord(id="n", text=text, entities=ents))
    assert marked == "* BRCA1 gene mutation * carriers" and [s.entity for s in spans] == ["T1"]


def test_scoring_matches_hand_computed_counts() -> None:
    dev = [_doc1(), _doc2()]
    pairs = build_pairs(dev)
    # Predict: doc1 PosCorr right, BINDS as ASSOCIATED_WITH (1 fp + 1 fn), one None pair as
    # ASSOCIATED_WITH (fp); doc2 COMPARISON right.
    wanted = {
        (0, "MESH:D001943", "tmVar:c|DEL|68|"): "POSITIVE_CORRELATION",
        (0, "MESH:D013629", "NCBIGene:672"): "ASSOCIATED_WITH",
        (0, "MESH:D001943", "MESH:D013629"): "ASSOCIATED_WITH",
        (1, "MESH:D001241", "MESH:D006493"): "COMPARISON",
    }
    labels = [wanted.get((p.doc, p.a, p.b), NONE) for p in pairs]
    row, per_doc = score_rows("x", 2, pairs, dev, pairs, labels, 0.0, bootstrap_samples=50)
    # tp 2, fp 2, fn 1 (the TREATS gold relation is not scored: not a BioRED type).
    assert row.micro_precision == pytest.approx(2 / 4)
    assert row.micro_recall == pytest.approx(2 / 3)
    assert row.micro_f1 == pytest.approx(4 / 7)
    assert row.per_type["BINDS"].f1 == 0.0 and row.per_type["BINDS"].support == 1
    assert row.per_type["COMPARISON"].f1 == 1.0
    assert row.per_type["ASSOCIATED_WITH"].precision == 0.0
    assert per_doc[1] == {"COMPARISON": Counts(tp=1)}
    assert row.per_type["COMPARISON"].f1_ci is not None


def test_predicted_records_use_one_single_id_entity_per_concept() -> None:
    text = "breast and ovarian cancer with BRCA1"
    composite = Entity(id="T1", start=0, end=25, text=text[:25], type="Disease", concept_id="MESH:D1,MESH:D2")
    gene = Entity(id="T2", start=31, end=36, text="BRCA1", type="Gene", concept_id="NCBIGene:672")
    record = NoteRecord(id="c", text=text, entities=[composite, gene])
    pairs = [Pair(doc=0, a="MESH:D1", b="NCBIGene:672"), Pair(doc=0, a="MESH:D2", b="NCBIGene:672")]
    (pred,) = predicted_records([record], pairs, ["ASSOCIATED_WITH", NONE])
    assert [e.concept_id for e in pred.entities] == ["MESH:D1", "NCBIGene:672"]
    gold = record.model_copy(update={"relations": [NoteRelation(subject="T1", type="ASSOCIATED_WITH", object="T2")]})
    # The composite gold mention gives two keys; the prediction finds one of them.
    assert relation_counts([gold], [pred]) == [{"ASSOCIATED_WITH": Counts(tp=1, fn=1)}]


def test_pair_shape_counts_shared_sentence_pairs_by_hand() -> None:
    shape = pair_shape([_doc1(), _doc2()])
    # doc1: 5 pairs (BRCA1-breast cancer is TREATS, left out); sentence 1 holds BRCA1, c.68del, breast cancer,
    # sentence 2 Tamoxifen and BRCA1: shared are BRCA1-c.68del (none), c.68del-breast cancer (+), Tamoxifen-BRCA1
    # (+); apart are Tamoxifen-c.68del and Tamoxifen-breast cancer. doc2: 3 pairs in one sentence, 1 positive.
    assert (shape.docs, shape.pairs) == (2, 8)
    assert shape.positive == pytest.approx(3 / 8) and shape.shared == pytest.approx(6 / 8)
    assert shape.positive_if_shared == pytest.approx(3 / 6) and shape.positive_if_apart == 0.0
    assert shape.positives_shared == 1.0
    assert shape.type_share == pytest.approx({"BINDS": 1 / 3, "COMPARISON": 1 / 3, "POSITIVE_CORRELATION": 1 / 3})


def test_loss_weights_decide_between_contradicting_examples() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    real = [1 if v > 0 else 0 for v in x[:, 0]]
    flipped = [1 - y for y in real]
    both = np.concatenate([x, x])
    settings = ProbeSettings(epochs=30, batch_size=16, lr=1e-2, hidden=16, dropout=0.0)
    # The same points twice, once with each label: the weight says which labels the head learns.
    favour_real = train_head(both, real + flipped, settings, [1.0] * 40 + [0.05] * 40)
    favour_flipped = train_head(both, real + flipped, settings, [0.05] * 40 + [1.0] * 40)
    names = RE_LABELS[:2]
    expect_real = [names[y] for y in real]
    assert sum(a == b for a, b in zip(predict_labels(favour_real, x), expect_real, strict=True)) >= 36
    assert sum(a != b for a, b in zip(predict_labels(favour_flipped, x), expect_real, strict=True)) >= 36


def test_staged_mix_trains_the_notes_first_and_the_real_pairs_last() -> None:
    """A curriculum row: the stage-1 corpus is trained last, so where two corpora contradict each
    other it decides the labels (mixed in one pass, the larger corpus would), and the staged row of
    ``run_rows`` is exactly ``train_head`` on stage 0 continued by ``train_head`` on stage 1."""
    import numpy as np

    from kgsynth.evaluation.re_probe import run_rows, subset

    rng = np.random.default_rng(2)
    x = rng.normal(size=(24, 6)).astype(np.float32)
    real_y = [1 if v > 0 else 0 for v in x[:, 0]]
    note_x = np.concatenate([x, x, x])  # three times as many notes, all with the opposite label
    note_y = [1 - y for y in real_y] * 3
    settings = ProbeSettings(epochs=60, batch_size=8, lr=1e-2, hidden=16, dropout=0.0)
    names = RE_LABELS[:2]
    expect = [names[y] for y in real_y]

    def right(head) -> int:  # noqa: ANN001
        return sum(a == b for a, b in zip(predict_labels(head, x), expect, strict=True))

    mixed = train_head(np.concatenate([x, note_x]), real_y + note_y, settings)
    staged = train_head(x, real_y, settings, init=train_head(note_x, note_y, settings))
    assert right(mixed) <= 6 and right(staged) >= 20

    pairs = [Pair(doc=i % 2, a=f"A{i}", b=f"B{i}", label=names[y]) for i, y in enumerate(real_y)]
    docs = []
    for d in (0, 1):
        ids = [c for p in pairs if p.doc == d for c in (p.a, p.b)]
        text = " ".join(ids)
        docs.append(NoteRecord(id=f"d{d}", text=text, entities=[
            _e(f"T{k}", cid, text, "Gene", cid) for k, cid in enumerate(ids)], relations=[]))
    real = Corpus(records=docs, pairs=pairs, x=x)
    notes = Corpus(records=docs, pairs=[p.model_copy(update={"label": names[1 - y]}) for p, y in
                                       zip(pairs * 3, real_y * 3, strict=True)], x=note_x)
    assert subset(real.model_copy(update={"stage": 1}), [0]).stage == 1
    _, predictions = run_rows([("notes, then real", [notes, real.model_copy(update={"stage": 1})])], real,
                              settings, bootstrap_samples=10)
    by_hand = predict_labels(staged, x)
    assert [len(r.relations) for r in predictions[0]] == [
        sum(1 for p, label in zip(pairs, by_hand, strict=True) if p.doc == d and label != NONE) for d in (0, 1)]


def test_domain_copies_keep_a_shortcut_of_the_notes_out_of_real_predictions() -> None:
    """Notes whose label follows a feature real text does not share: with copies, real text is unaffected."""
    import numpy as np

    rng = np.random.default_rng(1)
    real_x = rng.normal(size=(60, 4)).astype(np.float32)
    real_y = [1 if v > 0 else 0 for v in real_x[:, 0]]
    note_x = rng.normal(size=(60, 4)).astype(np.float32)
    note_y = [1 if v > 0 else 0 for v in note_x[:, 1]]  # the notes' label follows another feature
    note_x[:, 0] = np.where(np.array(note_y) == 1, -2.0, 2.0)  # ... and contradicts the real rule
    real = Corpus(records=[], pairs=[], x=real_x)
    note = Corpus(records=[], pairs=[], x=note_x)
    assert domain_copies(real, False).x.shape == (60, 12)
    assert np.array_equal(domain_copies(real, False).x[:, 8:], np.zeros((60, 4)))
    assert np.array_equal(domain_copies(note, True).x[:, 4:8], np.zeros((60, 4)))
    settings = ProbeSettings(epochs=40, batch_size=16, lr=1e-2, hidden=16, dropout=0.0)
    names = RE_LABELS[:2]
    expect = [names[y] for y in real_y]
    plain = train_head(np.concatenate([real_x, note_x]), real_y + note_y, settings)
    copies = train_head(np.concatenate([domain_copies(real, False).x, domain_copies(note, True).x]),
                        real_y + note_y, settings)
    right_plain = sum(a == b for a, b in zip(predict_labels(plain, real_x), expect, strict=True))
    right_copies = sum(a == b for a, b in zip(predict_labels(copies, domain_copies(real, False).x), expect,
                                              strict=True))
    assert right_copies >= 54 and right_copies > right_plain


def test_paired_difference_interval() -> None:
    a = [{"X": Counts(tp=1)}, {"X": Counts(fn=1)}, {"X": Counts(tp=1)}]
    assert difference_interval(a, a, 200, 0).model_dump() == {"low": 0.0, "high": 0.0}
    better = [{"X": Counts(tp=1)}] * 3
    ci = difference_interval(better, a, 200, 0)
    assert ci is not None and ci.low >= 0.0 and ci.high > 0.0


@pytest.mark.slow  # loads MiniLM
def test_tiny_re_benchmark_rows_cache_and_kgsynth_evaluate_agree(shared_data: Path, tmp_path: Path) -> None:
    from kgsynth.evaluation.readers import write_records

    write_records(tmp_path / "notes.jsonl", [_doc1(), _doc2()])
    cmd = [sys.executable, str(REPO / "bench" / "utility.py"), "--task", "re", "--train-docs", "3", "--dev-docs",
           "2", "--max-len", "64", "--bootstrap", "20", "--head-epochs", "2", "--json",
           "--train", str(shared_data / "biored" / "Train.PubTator"),
           "--dev", str(shared_data / "biored" / "Dev.PubTator"),
           "--generated", str(tmp_path / "notes.jsonl"), "--feature-cache", str(tmp_path / "cache"),
           "--save-predictions", str(tmp_path / "pred")]
    runs = [subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO) for _ in range(2)]
    assert all(p.returncode == 0 for p in runs), runs[0].stderr[-2000:]
    first, second = (json.loads(p.stdout) for p in runs)
    assert [r["train"] for r in first["rows"]] == [
        "BioRED train", "BioRED train + notes", "notes only", "BioRED train + rare-type notes"]
    assert first["rare_type_notes"] == 2  # both notes state a rare type (BINDS, COMPARISON)
    assert [r["train_pairs"] for r in first["rows"]][2] == 8
    assert len(list((tmp_path / "cache").glob("re-features-*.npy"))) == 3
    # The second run reads the cached features and scores the same.
    assert [r["micro_f1"] for r in first["rows"]] == [r["micro_f1"] for r in second["rows"]]
    # --baseline adds two rows; the same notes as baseline score as the notes do (same features, seed).
    with_base = subprocess.run([*cmd, "--baseline", str(tmp_path / "notes.jsonl")], capture_output=True, text=True,
                               timeout=600, cwd=REPO)
    assert with_base.returncode == 0, with_base.stderr[-2000:]
    based = json.loads(with_base.stdout)["rows"]
    assert [r["train"] for r in based[4:]] == ["BioRED train + baseline notes", "baseline notes only"]
    assert [r["micro_f1"] for r in based[4:]] == [r["micro_f1"] for r in first["rows"][1:3]]
    row = first["rows"][1]
    from kgsynth.evaluation.readers import read_records

    gold = tmp_path / "gold.jsonl"
    write_records(gold, read_records(shared_data / "biored" / "Dev.PubTator").records[:2])
    scored = subprocess.run(
        [sys.executable, "-m", "kgsynth", "evaluate", "--gold", str(gold),
         "--pred", str(tmp_path / "pred" / "row1.jsonl"),
         "--relation-level", "concept", "--bootstrap", "20", "--json"],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert scored.returncode == 0, scored.stderr[-1000:]
    relaxed = json.loads(scored.stdout)["relation"]["relaxed"]["micro"]
    assert relaxed["f1"] == pytest.approx(row["micro_f1"]) and relaxed["recall"] == pytest.approx(row["micro_recall"])


def test_feature_cache_key_follows_the_feature_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Changed feature code must not reuse features cached by the old code."""
    import kgsynth.evaluation.re_probe as probe

    tokenizer, model = probe.load_encoder()
    records = [_doc1(), _doc2()]
    first = probe.prepare(records, tokenizer, model, max_len=64, cache_dir=tmp_path)
    again = probe.prepare(records, tokenizer, model, max_len=64, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("re-features-*.npy"))) == 1 and (first.x == again.x).all()
    monkeypatch.setattr(probe, "_feature_code", lambda: "a changed pair_vector")
    probe.prepare(records, tokenizer, model, max_len=64, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("re-features-*.npy"))) == 2
