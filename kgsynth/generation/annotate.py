"""Turn a writer's tagged output into a :class:`NoteRecord` and check it before it is kept.

The annotation is correct by construction (offsets come from :func:`strip_tags`);
:func:`validate` still re-checks every guarantee on the finished record, because a
record that breaks one must go to the rejects file, never to the dataset.
"""

from __future__ import annotations

from kgsynth.cypher.instance import MotifInstance
from kgsynth.generation.record import Entity, NoteRecord, NoteRelation
from kgsynth.generation.tags import complete_mentions, mention_surface, strip_tags
from kgsynth.graph.schema import RELATION_TYPES, SEMANTIC_GROUPS


def sampled_relations(instance: MotifInstance, entities: list[Entity], text: str = "") -> list[NoteRelation]:
    """The instance's facts whose two concepts are both mentioned.

    Each fact links the closest pair of mentions of its two concepts on one line (else
    overall), which is the pair in the sentence that states it when the writer followed
    the one-line-per-fact constraint.
    """
    by_concept: dict[str, list[Entity]] = {}
    for e in entities:
        by_concept.setdefault(e.concept_id, []).append(e)
    out = []
    for r in instance.relations:
        if r.subject not in by_concept or r.object not in by_concept:
            continue
        pairs = [(s, o) for s in by_concept[r.subject] for o in by_concept[r.object] if s.id != o.id]
        if not pairs:
            continue
        def line(e: Entity) -> int:
            return text.count("\n", 0, e.start)

        s, o = min(pairs, key=lambda p: (line(p[0]) != line(p[1]), abs(p[0].start - p[1].start), p[0].start))
        out.append(NoteRelation(subject=s.id, type=r.type, object=o.id))
    return out


def build_record(tagged: str, instance: MotifInstance, **fields: object) -> NoteRecord:
    """A record from tagged text; raises :class:`~kgsynth.generation.tags.TagError` when tags are unsound."""
    stripped = strip_tags(tagged, instance)
    entities = complete_mentions(stripped.text, stripped.entities, instance)
    return NoteRecord(
        text=stripped.text,
        entities=entities,
        relations=sampled_relations(instance, entities, stripped.text),
        instance=instance,
        **fields,
    )


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
    if instance and instance.single_concept:
        problems += _mention_problems(record, instance)
    elif instance and not record.relations:
        problems.append("no sampled fact has both of its concepts mentioned")
    if not record.text.strip():
        problems.append("empty text")
    return problems


def _mention_problems(record: NoteRecord, instance: MotifInstance) -> list[str]:
    """A single-concept note must name its concept, by the instance's mention, at least once."""
    concept = instance.concepts[0]
    wanted = mention_surface(instance)
    if not any(e.concept_id == concept.id and e.text == wanted for e in record.entities):
        return [f"{concept.id} is not mentioned as {wanted!r}"]
    return []
