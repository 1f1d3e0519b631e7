"""Template notes: one plain sentence per sampled fact, with exact offsets.

Not a generator (that is :mod:`kgsynth.generation`): these notes exist so that
coverage write-back, its tests and its Browser demo can run without a model.
"""

from __future__ import annotations

from kgsynth.cypher.instance import MotifInstance
from kgsynth.generation.record import Entity, NoteRecord, NoteRelation


def template_note(instance: MotifInstance, note_type: str = "template", dataset: str = "template") -> NoteRecord:
    """A note stating each relation of ``instance`` as "<subject> <type> <object>."."""
    text = ""
    entities: list[Entity] = []
    relations = []

    def mention(concept_id: str) -> str:
        nonlocal text
        concept = instance.concept(concept_id)
        name = (concept.name if concept else "") or concept_id
        entity = Entity(
            id=f"T{len(entities) + 1}",
            start=len(text),
            end=len(text) + len(name),
            text=name,
            type=concept.group if concept else "Other",
            concept_id=concept_id,
        )
        entities.append(entity)
        text += name
        return entity.id

    for rel in instance.relations:
        subject = mention(rel.subject)
        text += f" {rel.type.lower().replace('_', ' ')} "
        obj = mention(rel.object)
        text += ". "
        relations.append(NoteRelation(subject=subject, type=rel.type, object=obj))
    return NoteRecord(
        text=text.rstrip(),
        entities=entities,
        relations=relations,
        instance=instance,
        note_type=note_type,
        dataset=dataset,
        backend="template",
    )
