"""Turn a writer's tagged output into a :class:`NoteRecord` and check it before it is kept.

The annotation is correct by construction (offsets come from :func:`strip_tags`);
:func:`validate` still re-checks every guarantee on the finished record, because a
record that breaks one must go to the rejects file, never to the dataset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from kgsynth.cypher.instance import MotifInstance
from kgsynth.generation.lexicon import Lexicon, load_lexicon
from kgsynth.generation.record import Anaphor, Entity, NoteRecord, NoteRelation, Trigger
from kgsynth.generation.tags import complete_mentions, resolve_anaphors, strip_tags
from kgsynth.graph.schema import RELATION_TYPES, SEMANTIC_GROUPS, SYMMETRIC_TYPES

#: More mentions of one concept on a line than this reads as degenerate repetition.
MAX_MENTIONS_PER_LINE = 2


def sampled_relations(instance: MotifInstance, entities: list[Entity], text: str,
                      lexicon: Lexicon | None = None, anaphors: Sequence[Anaphor] = ()) -> list[NoteRelation]:
    """The instance's facts that the text states, each with the phrase that states it.

    A fact is stated where a mention of its subject and one of its object stand on one line
    with one of its type's lexicon phrases between them, in that phrasing's order (either
    order for symmetric types); an anaphor counts as a mention of its antecedent. The first
    such statement of a fact is its annotation; a fact the text does not state gets no
    relation (:func:`validate` then rejects the note).
    """
    lexicon = lexicon or load_lexicon()
    statements = lexicon.statements(text, entities, anaphors)
    out = []
    for r in instance.relations:
        for st in statements:
            if st.type == r.type and _same_fact(st.subject.concept_id, st.object.concept_id, r.subject, r.object,
                                                r.type):
                trigger = Trigger(start=st.trigger_start, end=st.trigger_end, text=st.phrase)
                subject, object_ = (st.subject, st.object) if st.subject.concept_id == r.subject else (
                    st.object, st.subject)
                out.append(NoteRelation(subject=subject.id, type=r.type, object=object_.id, trigger=trigger,
                                        novelty=r.novelty, evidence=list(r.evidence)))
                break
    return out


def _same_fact(s: str, o: str, subject: str, object_: str, type_: str) -> bool:
    return (s, o) == (subject, object_) or (type_ in SYMMETRIC_TYPES and (o, s) == (subject, object_))


def build_record(tagged: str, instance: MotifInstance, lexicon: Lexicon | None = None,
                 **fields: object) -> NoteRecord:
    """A record from tagged text; raises :class:`~kgsynth.generation.tags.TagError` when tags are unsound."""
    stripped = strip_tags(tagged, instance)
    entities = complete_mentions(stripped.text, stripped.entities, instance, reserved=stripped.anaphors)
    anaphors = resolve_anaphors(stripped.anaphors, entities)
    return NoteRecord(
        text=stripped.text,
        entities=entities,
        relations=sampled_relations(instance, entities, stripped.text, lexicon, anaphors),
        anaphors=anaphors,
        instance=instance,
        **fields,
    )


def _concept(record: NoteRecord, entity_id: str) -> str:
    e = record.entity(entity_id)
    return e.concept_id if e else ""


def validate(record: NoteRecord) -> list[str]:
    """Every broken guarantee of ``record`` (empty when it may enter the dataset)."""
    problems = list(record.span_errors())
    instance = record.instance
    known = {c.id: c for c in instance.concepts} if instance else {}
    ids = {e.id for e in record.entities}
    if len(ids) != len(record.entities):
        problems.append("duplicate entity ids")
    for e in record.entities:
        concept = known.get(e.concept_id)
        if concept is None:
            problems.append(f"{e.id} grounded to {e.concept_id!r}, not a concept of the instance")
        elif e.type != concept.group:
            problems.append(f"{e.id} has type {e.type!r}, concept {e.concept_id} is {concept.group!r}")
        if e.type not in SEMANTIC_GROUPS:
            problems.append(f"{e.id} has type {e.type!r}, not an allowed semantic group")
    for name, rels in (("relation", record.relations), ("extracted relation", record.extracted_relations)):
        for r in rels:
            if r.type not in RELATION_TYPES:
                problems.append(f"{name} type {r.type!r} is not allowed")
            if r.subject not in ids or r.object not in ids:
                problems.append(f"{name} {r.subject}-{r.type}-{r.object} points at a missing entity")
    if not record.entities:
        problems.append("no entity mentioned")
    if instance:
        stated = {(r.type, *sorted((_concept(record, r.subject), _concept(record, r.object)))) for r in record.relations
                  if r.trigger is not None}
        for fact in instance.relations:
            if (fact.type, *sorted((fact.subject, fact.object))) not in stated:
                problems.append(f"fact {fact.subject} {fact.type} {fact.object} is not stated with a relation phrase")
        lines = record.text.split("\n")
        starts = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
        for i, start in enumerate(starts):
            end = start + len(lines[i])
            per_concept = Counter(e.concept_id for e in record.entities if start <= e.start < end)
            crowded = [c for c, k in per_concept.items() if k > MAX_MENTIONS_PER_LINE]
            if crowded:
                problems.append(f"line {i + 1} names {crowded[0]} {per_concept[crowded[0]]} times")
    if instance and instance.single_concept:
        from kgsynth.generation.mention import mention_problems

        problems += mention_problems(record, instance)
    if not record.text.strip():
        problems.append("empty text")
    return problems
