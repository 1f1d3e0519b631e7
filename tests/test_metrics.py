"""Entity and relation scores against nervaluate, seqeval and hand-computed cases."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from nervaluate import Evaluator
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from kgsynth.errors import InputError
from kgsynth.evaluation.metrics import evaluate, match_entities
from kgsynth.evaluation.scores import Counts, bootstrap
from kgsynth.generation.record import Entity, NoteRecord, NoteRelation

TYPES = ["Disease", "Chemical", "Gene"]


def ent(n: int, start: int, end: int, type_: str, concept: str = "") -> Entity:
    return Entity(id=f"T{n}", start=start, end=end, text="x" * (end - start), type=type_, concept_id=concept)


def note(
    doc_id: str, entities: list[Entity], relations: list[NoteRelation] | None = None, size: int = 400
) -> NoteRecord:
    return NoteRecord(id=doc_id, text="x" * size, entities=entities, relations=relations or [])


def random_corpus(seed: int, docs: int = 30, slots: int = 30) -> tuple[list[NoteRecord], list[NoteRecord]]:
    """Entities sit in 10-char slots, so each prediction overlaps at most one gold entity."""
    rng = random.Random(seed)
    gold, pred = [], []
    for d in range(docs):
        g, p = [], []
        for s in range(slots):
            base = s * 10
            has_gold = rng.random() < 0.5
            if has_gold:
                a = base + rng.randint(1, 3)
                b = a + rng.randint(1, 5)
                g.append(ent(len(g) + 1, a, b, rng.choice(TYPES)))
                r = rng.random()
                if r < 0.5:
                    p.append(ent(len(p) + 1, a, b, g[-1].type if rng.random() < 0.8 else rng.choice(TYPES)))
                elif r < 0.8:
                    a2, b2 = max(base, a + rng.randint(-1, 1)), min(base + 9, b + rng.randint(-1, 2))
                    if b2 > a2:
                        p.append(ent(len(p) + 1, a2, b2, g[-1].type if rng.random() < 0.8 else rng.choice(TYPES)))
            elif rng.random() < 0.2:
                a = base + rng.randint(1, 3)
                p.append(ent(len(p) + 1, a, a + rng.randint(1, 5), rng.choice(TYPES)))
        gold.append(note(str(d), g, size=slots * 10))
        pred.append(note(str(d), p, size=slots * 10))
    return gold, pred


def _nervaluate(gold: list[NoteRecord], pred: list[NoteRecord]) -> dict:
    def spans(records: list[NoteRecord]) -> list[list[dict]]:
        return [[{"label": e.type, "start": e.start, "end": e.end - 1} for e in r.entities] for r in records]

    return Evaluator(spans(gold), spans(pred), tags=TYPES, loader="default").evaluate()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_entity_modes_agree_with_nervaluate(seed: int) -> None:
    gold, pred = random_corpus(seed)
    report = evaluate(gold, pred, bootstrap_samples=0)
    reference = _nervaluate(gold, pred)
    for ours, theirs in (("strict", "strict"), ("exact", "exact"), ("partial", "ent_type")):
        ref = reference["overall"][theirs]
        mine = report.entity[ours].micro
        assert mine.tp == ref.correct, ours
        assert mine.tp + mine.fp == ref.actual and mine.support == ref.possible
        assert mine.precision == pytest.approx(ref.precision) and mine.recall == pytest.approx(ref.recall)
        assert mine.f1 == pytest.approx(ref.f1)
    for t in TYPES:
        ref = reference["entities"][t]["strict"]
        mine = report.entity["strict"].per_type[t]
        assert (mine.tp, mine.tp + mine.fp, mine.support) == (ref.correct, ref.actual, ref.possible)


def _bio(record: NoteRecord) -> list[str]:
    tags = ["O"] * len(record.text)
    for e in record.entities:
        tags[e.start] = f"B-{e.type}"
        for i in range(e.start + 1, e.end):
            tags[i] = f"I-{e.type}"
    return tags


@pytest.mark.parametrize("seed", [4, 5])
def test_strict_mode_agrees_with_seqeval(seed: int) -> None:
    gold, pred = random_corpus(seed)
    report = evaluate(gold, pred, bootstrap_samples=0)
    ref = classification_report(
        [_bio(g) for g in gold], [_bio(p) for p in pred], mode="strict", scheme=IOB2, output_dict=True
    )
    strict = report.entity["strict"]
    assert strict.micro.precision == pytest.approx(ref["micro avg"]["precision"])
    assert strict.micro.recall == pytest.approx(ref["micro avg"]["recall"])
    assert strict.micro.f1 == pytest.approx(ref["micro avg"]["f1-score"])
    assert strict.macro_f1 == pytest.approx(ref["macro avg"]["f1-score"])
    for t in TYPES:
        assert strict.per_type[t].f1 == pytest.approx(ref[t]["f1-score"])
        assert strict.per_type[t].support == ref[t]["support"]


def test_hand_computed_entities() -> None:
    gold = [note("d", [ent(1, 0, 5, "Disease"), ent(2, 10, 15, "Chemical"), ent(3, 20, 25, "Gene")])]
    pred = [
        note(
            "d",
            [
                ent(1, 0, 5, "Disease"),  # strict hit
                ent(2, 0, 5, "Disease"),  # duplicate: false positive
                ent(3, 10, 15, "Gene"),  # exact span, wrong type
                ent(4, 21, 24, "Gene"),  # partial hit
            ],
        )
    ]
    r = evaluate(gold, pred, bootstrap_samples=0)
    assert (r.entity["strict"].micro.tp, r.entity["strict"].micro.fp, r.entity["strict"].micro.fn) == (1, 3, 2)
    assert (r.entity["exact"].micro.tp, r.entity["exact"].micro.fp, r.entity["exact"].micro.fn) == (2, 2, 1)
    assert (r.entity["partial"].micro.tp, r.entity["partial"].micro.fp, r.entity["partial"].micro.fn) == (2, 2, 1)
    # type-only: gold {D:1,C:1,G:1}, pred {D:2,G:2} -> tp 2 (D, G), fp 2, fn 1 (C)
    assert (r.entity["type"].micro.tp, r.entity["type"].micro.fp, r.entity["type"].micro.fn) == (2, 2, 1)
    assert r.entity["strict"].micro.precision == pytest.approx(0.25)
    assert r.entity["strict"].micro.recall == pytest.approx(1 / 3)
    assert r.entity["strict"].micro.f1 == pytest.approx(2 / 7)
    # macro over Disease (P .5 R 1), Chemical (R 0, P undefined), Gene (P 0, R 0)
    assert r.entity["strict"].macro_precision == pytest.approx(0.25)
    assert r.entity["strict"].macro_recall == pytest.approx(1 / 3)


def test_empty_predictions_and_empty_gold() -> None:
    gold = [note("d", [ent(1, 0, 5, "Disease")])]
    r = evaluate(gold, [note("d", [])], bootstrap_samples=0)
    s = r.entity["strict"].micro
    assert (s.tp, s.fp, s.fn, s.precision, s.recall, s.f1) == (0, 0, 1, None, 0.0, 0.0)
    r = evaluate([note("d", [])], [note("d", [ent(1, 0, 5, "Disease")])], bootstrap_samples=0)
    s = r.entity["strict"].micro
    assert (s.tp, s.fp, s.fn, s.precision, s.recall, s.f1) == (0, 1, 0, 0.0, None, 0.0)
    r = evaluate([note("d", [])], [note("d", [])], bootstrap_samples=0)
    s = r.entity["strict"].micro
    assert (s.precision, s.recall, s.f1) == (None, None, None)  # nothing to score, not a zero
    with pytest.raises(InputError, match="no documents"):
        evaluate([], [note("d", [])])


def test_relation_modes_mention_level() -> None:
    g_ents = [ent(1, 0, 5, "Chemical", "MESH:C1"), ent(2, 10, 15, "Disease", "MESH:D1"), ent(3, 20, 25, "Gene", "G:1")]
    gold = [
        note(
            "d",
            g_ents,
            [
                NoteRelation(subject="T1", type="TREATS", object="T2"),
                NoteRelation(subject="T3", type="BINDS", object="T1"),
            ],
        )
    ]
    p_ents = [
        ent(1, 0, 5, "Chemical", "MESH:C1"),
        ent(2, 11, 14, "Disease", "MESH:D1"),  # boundary off by one
        ent(3, 40, 45, "Gene", "G:1"),  # same concept, elsewhere
    ]
    pred = [
        note(
            "d",
            p_ents,
            [
                NoteRelation(subject="T1", type="TREATS", object="T2"),  # relaxed hit (span overlap)
                NoteRelation(subject="T1", type="ASSOCIATED_WITH", object="T3"),  # pair hit (reversed, by concept)
                NoteRelation(subject="T1", type="TREATS", object="T9"),  # dangling
            ],
        )
    ]
    r = evaluate(gold, pred, bootstrap_samples=0)
    strict, relaxed, pair = (r.relation[m].micro for m in ("strict", "relaxed", "pair"))
    assert (strict.tp, strict.fp, strict.fn) == (0, 2, 2)
    assert (relaxed.tp, relaxed.fp, relaxed.fn) == (1, 1, 1)
    assert (pair.tp, pair.fp, pair.fn) == (2, 0, 0)
    assert r.issues.dangling_relations == 1
    assert r.relation["relaxed"].per_type["TREATS"].tp == 1


def test_relation_concept_level_ignores_which_mention() -> None:
    gold_ents = [ent(1, 0, 5, "Chemical", "MESH:C1"), ent(2, 10, 15, "Disease", "MESH:D1,MESH:D2")]
    pred_ents = [ent(1, 30, 35, "Chemical", "MESH:C1"), ent(2, 40, 45, "Disease", "MESH:D2")]
    rel = [NoteRelation(subject="T1", type="CAUSES", object="T2")]
    r = evaluate(
        [note("d", gold_ents, rel)], [note("d", pred_ents, rel)], relation_level="concept", bootstrap_samples=0
    )
    strict = r.relation["strict"].micro
    assert (strict.tp, strict.fp, strict.fn) == (1, 0, 1)  # composite gold expands to (C1,D1) and (C1,D2)
    reversed_rel = [NoteRelation(subject="T2", type="CAUSES", object="T1")]
    r = evaluate(
        [note("d", gold_ents, rel)], [note("d", pred_ents, reversed_rel)], relation_level="concept", bootstrap_samples=0
    )
    assert r.relation["strict"].micro.tp == 0 and r.relation["relaxed"].micro.tp == 1


def test_duplicate_ids_and_disjoint_documents_are_errors() -> None:
    with pytest.raises(InputError, match="twice"):
        evaluate([note("a", []), note("a", [])], [note("a", [])])
    with pytest.raises(InputError, match="no document id"):
        evaluate([note("a", [])], [note("b", [])])


def test_missing_and_extra_documents_are_reported() -> None:
    gold = [note("a", [ent(1, 0, 5, "Disease")]), note("b", [ent(1, 0, 5, "Disease")])]
    pred = [note("a", [ent(1, 0, 5, "Disease")]), note("z", [ent(1, 0, 5, "Disease")])]
    r = evaluate(gold, pred, bootstrap_samples=0)
    assert r.issues.missing_in_pred == ["b"] and r.issues.extra_in_pred == ["z"]
    assert (r.entity["strict"].micro.tp, r.entity["strict"].micro.fn, r.entity["strict"].micro.fp) == (1, 1, 0)


def test_bad_predictions_are_counted() -> None:
    gold = [note("a", [ent(1, 0, 5, "Disease")], size=50)]
    bad = NoteRecord(
        id="a",
        text="x" * 50,
        entities=[
            Entity(id="T1", start=0, end=5, text="xxxxx", type="Disease", concept_id=""),
            Entity(id="T2", start=45, end=60, text="x", type="Disease", concept_id=""),  # out of range
            Entity(id="T3", start=10, end=12, text="yy", type="Dragon", concept_id=""),  # unknown type, bad text
        ],
        relations=[NoteRelation(subject="T1", type="LOVES", object="T3")],
    )
    r = evaluate(gold, [bad], bootstrap_samples=0)
    assert r.issues.out_of_range_entities == 1
    assert r.issues.text_mismatch_entities == 1
    assert r.issues.unknown_entity_types == {"Dragon": 1}
    assert r.issues.unknown_relation_types == {"LOVES": 1}
    assert (r.entity["strict"].micro.tp, r.entity["strict"].micro.fp) == (1, 1)


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    gold, pred = random_corpus(7)
    a = evaluate(gold, pred, bootstrap_samples=300, seed=11)
    b = evaluate(gold, pred, bootstrap_samples=300, seed=11)
    ci = a.entity["strict"].ci
    assert ci == b.entity["strict"].ci
    assert ci.f1.low < a.entity["strict"].micro.f1 < ci.f1.high
    assert ci.f1.high - ci.f1.low < 0.3
    assert bootstrap([], 10) is None
    one = [{"X": Counts(tp=1, fp=1, fn=0)}]
    assert bootstrap(one, 50).f1.low == pytest.approx(2 / 3)


def test_match_entities_gives_per_type_counts() -> None:
    counts = match_entities([ent(1, 0, 3, "Gene")], [ent(1, 0, 3, "Disease")], "strict")
    assert counts["Gene"].fn == 1 and counts["Disease"].fp == 1


def test_agrees_with_nervaluate_on_perturbed_biored(shared_data: Path) -> None:
    from kgsynth.evaluation.readers import read_records

    gold = read_records(shared_data / "biored" / "Dev.PubTator").records
    rng = random.Random(0)
    pred = []
    for g in gold:
        kept = []
        for e in g.entities:
            r = rng.random()
            if r < 0.1:
                continue  # missed
            if r < 0.2:
                e = e.model_copy(update={"end": max(e.start + 1, e.end - 1)})  # boundary error
            elif r < 0.3:
                e = e.model_copy(update={"type": "Chemical" if e.type != "Chemical" else "Gene"})  # type error
            kept.append(e)
        pred.append(g.model_copy(update={"entities": kept}))
    report = evaluate(gold, pred, bootstrap_samples=0)
    tags = sorted({e.type for g in gold for e in g.entities})

    def spans(records: list[NoteRecord]) -> list[list[dict]]:
        return [[{"label": e.type, "start": e.start, "end": e.end - 1} for e in r.entities] for r in records]

    reference = Evaluator(spans(gold), spans(pred), tags=tags, loader="default").evaluate()["overall"]
    for ours, theirs in (("strict", "strict"), ("exact", "exact"), ("partial", "ent_type")):
        mine, ref = report.entity[ours].micro, reference[theirs]
        assert (mine.tp, mine.tp + mine.fp, mine.support) == (ref.correct, ref.actual, ref.possible)
        assert mine.f1 == pytest.approx(ref.f1)
    assert report.entity["strict"].micro.tp < report.entity["exact"].micro.tp < report.entity["partial"].micro.tp
