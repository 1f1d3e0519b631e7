"""Map corpus documents (BioRED, BC5CDR, NCBI-disease) onto the project's NoteRecord.

Gold corpora and generated notes then meet in one model, so one metric code path
scores both. Entity types become kgsynth semantic groups and ids get their namespace
(``D003924`` -> ``MESH:D003924``) because that is how the KG and the generator spell
them. A composite mention keeps all its ids in ``concept_id`` joined by
:data:`CONCEPT_SEPARATOR`; :func:`concept_ids` splits them again.

Corpus relations are document level (between concept ids, not mentions). Each one
is attached to a representative entity per concept: the first mention whose only id
is that concept, else the first mention that includes it. The metrics compare such
relations by concept id (as BioRED's own evaluation does), so the choice of
representative does not change scores.
"""

from __future__ import annotations

from kgsynth.generation.record import Entity, NoteRecord, NoteRelation
from kgsynth.loaders.corpus import CorpusDocument, normalized_relation_type, qualified_id, semantic_group

#: Joins the ids of a composite mention in ``Entity.concept_id`` (tmVar ids contain "|").
CONCEPT_SEPARATOR = ","


def concept_ids(entity: Entity) -> list[str]:
    """All concept ids of an entity (composite mentions have several)."""
    return [c for c in entity.concept_id.split(CONCEPT_SEPARATOR) if c]


def to_note_record(doc: CorpusDocument, dataset: str = "") -> NoteRecord:
    """A NoteRecord with entities ``T1..`` in offset order and document-level relations.

    Relations whose concepts have no mention in the text are dropped (they cannot be
    anchored); :func:`unanchored_relations` counts them for reports.
    """
    entities: list[Entity] = []
    for n, m in enumerate(sorted(doc.mentions, key=lambda m: (m.start, m.end)), 1):
        group = semantic_group(m.type)
        ids = [qualified_id(i, group) for i in m.ids]
        entities.append(
            Entity(
                id=f"T{n}", start=m.start, end=m.end, text=m.text, type=group, concept_id=CONCEPT_SEPARATOR.join(ids)
            )
        )
    anchor = _anchors(entities)
    relations: list[NoteRelation] = []
    seen: set[tuple[str, str, str]] = set()
    for rel in doc.relations:
        subj, obj = anchor.get(_raw_key(rel.id1, entities)), anchor.get(_raw_key(rel.id2, entities))
        if subj is None or obj is None:
            continue
        key = (subj, normalized_relation_type(rel.type), obj)
        if key not in seen:
            seen.add(key)
            relations.append(NoteRelation(subject=subj, type=key[1], object=obj))
    return NoteRecord(id=doc.id, text=doc.text, entities=entities, relations=relations, dataset=dataset)


def unanchored_relations(doc: CorpusDocument) -> int:
    """Relations of ``doc`` that :func:`to_note_record` cannot attach to a mention."""
    record = to_note_record(doc)
    anchor = _anchors(record.entities)
    return sum(
        1
        for r in doc.relations
        if anchor.get(_raw_key(r.id1, record.entities)) is None or anchor.get(_raw_key(r.id2, record.entities)) is None
    )


def _anchors(entities: list[Entity]) -> dict[str, str]:
    """Concept id -> representative entity id (exact single-id mentions preferred)."""
    exact: dict[str, str] = {}
    partial: dict[str, str] = {}
    for e in entities:
        ids = concept_ids(e)
        for cid in ids:
            target = exact if len(ids) == 1 else partial
            target.setdefault(cid, e.id)
    return {**partial, **exact}


def _raw_key(raw_id: str, entities: list[Entity]) -> str:
    """The qualified id a relation's raw id refers to (its namespace follows the mentions)."""
    raw_id = raw_id.strip()
    for e in entities:
        for cid in concept_ids(e):
            if cid == raw_id or cid.split(":", 1)[-1] == raw_id:
                return cid
    return raw_id
