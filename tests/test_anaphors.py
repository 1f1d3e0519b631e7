"""Facts stated across two sentences: an anaphor ("this variant") stands for a mention named before it."""

from __future__ import annotations

import pytest

from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.evaluation.check import GraphView, check_note
from kgsynth.evaluation.re_pairs import build_pairs, pair_shape
from kgsynth.generation.annotate import build_record, validate
from kgsynth.generation.lexicon import load_lexicon
from kgsynth.generation.record import Anaphor, annotation_errors
from kgsynth.generation.tags import TagError, strip_tags
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.model import Concept, Relation

INSTANCE = MotifInstance(
    motif="single_edge", stratum="ASSOCIATED_WITH",
    concepts=[InstanceConcept(slot="a", id="X:V1", name="p.R491C", group="Variant"),
              InstanceConcept(slot="b", id="X:D1", name="McArdle disease", group="Disease")],
    relations=[InstanceRelation(subject="X:V1", type="ASSOCIATED_WITH", object="X:D1")],
)
TAGGED = ("Sequencing revealed [[p.R491C|C1]].\n"
          "[[This variant|A1]] was associated with [[McArdle disease|C2]] in the proband.")


def test_an_anaphor_is_no_entity_and_points_at_the_latest_mention() -> None:
    record = build_record(TAGGED, INSTANCE)
    assert [e.text for e in record.entities] == ["p.R491C", "McArdle disease"]
    (anaphor,) = record.anaphors
    assert record.text[anaphor.start:anaphor.end] == "This variant" and anaphor.antecedent == "T1"
    assert validate(record) == [] and annotation_errors(record) == []


def test_a_fact_stated_with_an_anaphor_is_annotated_between_its_antecedent_and_the_other_mention() -> None:
    record = build_record(TAGGED, INSTANCE)
    (relation,) = record.relations
    assert (relation.subject, relation.type, relation.object) == ("T1", "ASSOCIATED_WITH", "T2")
    assert relation.trigger is not None and relation.trigger.text == "was associated with"
    assert record.text.index("was associated") == relation.trigger.start  # the trigger is on the second line
    # Without the anaphor the second line states nothing (the lexicon needs a mention on each side).
    assert load_lexicon().statements(record.text, record.entities) == []
    store = MemoryStore()
    store.upsert_concepts(Concept(id=c.id, name=c.name, group=c.group) for c in INSTANCE.concepts)
    store.upsert_relations([Relation(subject="X:V1", type="ASSOCIATED_WITH", object="X:D1")])
    verdict = check_note(record, GraphView(store))
    assert verdict.faithfulness == 1.0 and verdict.passed


def test_the_pair_of_an_anaphor_fact_is_related_and_shares_no_sentence() -> None:
    record = build_record(TAGGED, INSTANCE)
    (pair,) = build_pairs([record])
    assert pair.label == "ASSOCIATED_WITH"
    shape = pair_shape([record])
    assert shape.shared == 0.0 and shape.positive_if_apart == 1.0


@pytest.mark.parametrize("bad, why", [
    ("[[This variant|A1]] was associated with [[McArdle disease|C2]].", "before any mention"),
    ("[[p.R491C|C1]] was seen. [[this variant (new)|A1]] was associated with [[McArdle disease|C2]].",
     "plain words"),
    ("[[p.R491C|C1]] was seen. [[this one|A3]] was noted.", "names no concept"),
])
def test_unsound_anaphors_are_tag_errors(bad: str, why: str) -> None:
    with pytest.raises(TagError, match=why):
        strip_tags(bad, INSTANCE)


def test_a_broken_anaphor_annotation_is_reported() -> None:
    record = build_record(TAGGED, INSTANCE)
    moved = record.model_copy(update={"anaphors": [Anaphor(start=0, end=4, text="This", antecedent="T9")]})
    problems = annotation_errors(moved)
    assert any("does not give 'This'" in p for p in problems)
    assert any("missing entity T9" in p for p in problems)
