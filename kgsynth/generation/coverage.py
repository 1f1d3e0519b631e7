"""Generated notes as coverage rows: what each note mentions and which KG facts it states.

The coverage store and report live in :mod:`kgsynth.cypher.coverage`, which knows
nothing of note records; this module reads notes and hands it plain rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kgsynth.cypher.coverage import Fact, Mention, NoteCoverage, WriteReport, write_coverage
from kgsynth.generation.record import NoteRecord, iter_jsonl_records
from kgsynth.graph.schema import RELATION_TYPES
from kgsynth.graph.store import GraphStore


def note_coverage(record: NoteRecord) -> NoteCoverage:
    """Mentions of grounded entities, and the facts the note expresses.

    Facts are the note's annotated relations mapped to concept ids; a note without
    relations falls back to the facts of the instance it was written from.
    """
    mentions = [
        Mention(concept_id=e.concept_id, start=e.start, end=e.end, text=e.text) for e in record.entities if e.concept_id
    ]
    facts: dict[str, Fact] = {}
    for rel in record.relations:
        subj, obj = record.entity(rel.subject), record.entity(rel.object)
        if subj and obj and subj.concept_id and obj.concept_id and rel.type in RELATION_TYPES:
            fact = Fact(subject=subj.concept_id, type=rel.type, object=obj.concept_id)
            facts.setdefault(fact.key, fact)
    if not facts and record.instance is not None:
        for rel in record.instance.relations:
            fact = Fact(subject=rel.subject, type=rel.type, object=rel.object)
            facts.setdefault(fact.key, fact)
    return NoteCoverage(
        id=record.id,
        note_type=record.note_type,
        dataset=record.dataset,
        motif=record.instance.motif if record.instance else "",
        mentions=mentions,
        facts=list(facts.values()),
    )


def write_notes(store: GraphStore, notes: Path | Iterable[NoteRecord], batch_size: int = 500) -> WriteReport:
    """Write notes (records, or a JSONL file / dataset folder of them) back to ``store``'s coverage."""
    records = iter_jsonl_records(notes) if isinstance(notes, Path) else notes
    return write_coverage(store, (note_coverage(r) for r in records), batch_size)
