"""The annotated note: the unit generation writes and evaluation and training read.

Offsets are character offsets into ``text`` with ``text[start:end] == mention``;
:meth:`NoteRecord.span_errors` states that invariant in one place so every writer
and reader can check it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from kgsynth.cypher.instance import MotifInstance
from kgsynth.errors import InputError
from kgsynth.inputs import iter_models


class Entity(BaseModel):
    """An entity mention grounded to a KG concept."""

    id: str  # "T1", "T2", ... unique within the note
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    type: str  # semantic group, e.g. "Disease"
    concept_id: str  # KG id, e.g. "MESH:D003924"


class Trigger(BaseModel):
    """The words that state a relation: ``text[start:end] == trigger.text``."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str


class Anaphor(BaseModel):
    """A phrase that refers back to a mention ("this gene"): ``text[start:end] == anaphor.text``.

    Not an entity (an NER model must not learn "this gene" as a name); a relation stated with
    an anaphor ("This gene was associated with ...") is annotated between its antecedent, the
    entity ``antecedent`` in an earlier sentence, and the other mention, so the two concepts of
    a fact need not share a sentence, as 14% of BioRED's related pairs do not.
    """

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    antecedent: str  # entity id of the mention it refers back to


class NoteRelation(BaseModel):
    """A relation between two entities of the note (by entity id), with the phrase that states it.

    ``novelty`` and ``evidence`` (PMIDs) are copied from the KG fact it expresses, so every
    training example traces back to its sources; both are empty where the graph has none.
    """

    subject: str
    type: str
    object: str
    trigger: Trigger | None = None
    novelty: str = ""
    evidence: list[str] = Field(default_factory=list)

    def key(self) -> tuple[str, str, str]:
        return (self.subject, self.type, self.object)


class NoteRecord(BaseModel):
    """One generated (or gold) note with its annotation and how it was made."""

    id: str = ""
    text: str
    entities: list[Entity] = Field(default_factory=list)
    relations: list[NoteRelation] = Field(default_factory=list)
    anaphors: list[Anaphor] = Field(default_factory=list)
    #: Relations found by the independent extraction pass (for the consistency checks).
    extracted_relations: list[NoteRelation] = Field(default_factory=list)
    instance: MotifInstance | None = None
    note_type: str = ""
    demographics: dict[str, str | int] = Field(default_factory=dict)
    prompt: str = ""
    model: str = ""
    backend: str = ""
    decoding: dict[str, object] = Field(default_factory=dict)
    dataset: str = ""

    def model_post_init(self, _context: object) -> None:
        if not self.id:
            self.id = note_id(self.text, self.instance.id if self.instance else "")

    def span_errors(self) -> list[str]:
        """Every entity whose offsets do not reproduce its mention (empty when sound)."""
        errors = []
        for e in self.entities:
            if not (0 <= e.start < e.end <= len(self.text)) or self.text[e.start : e.end] != e.text:
                errors.append(f"{self.id}/{e.id}: [{e.start}:{e.end}] does not give {e.text!r}")
        for a in self.anaphors:
            if not (0 <= a.start < a.end <= len(self.text)) or self.text[a.start : a.end] != a.text:
                errors.append(f"{self.id}/anaphor of {a.antecedent}: [{a.start}:{a.end}] does not give {a.text!r}")
        for r in self.relations:
            t = r.trigger
            if t is not None and (not (0 <= t.start < t.end <= len(self.text)) or self.text[t.start : t.end] != t.text):
                errors.append(f"{self.id}/{r.subject}-{r.type}-{r.object}: trigger [{t.start}:{t.end}] "
                              f"does not give {t.text!r}")
        return errors

    def entity(self, entity_id: str) -> Entity | None:
        return next((e for e in self.entities if e.id == entity_id), None)


def note_id(text: str, instance_id: str = "") -> str:
    """Stable id from the instance and the text: re-running gives the same id."""
    return hashlib.sha1(f"{instance_id}\n{text}".encode()).hexdigest()[:20]


def annotation_errors(record: NoteRecord) -> list[str]:
    """What makes a note's annotation unusable for scoring or training: :meth:`NoteRecord.span_errors`
    and relations or anaphors that point at an entity the note does not have."""
    ids = {e.id for e in record.entities}
    return record.span_errors() + [
        f"{record.id}: relation {r.subject}-{r.type}-{r.object} points at a missing entity"
        for r in record.relations if r.subject not in ids or r.object not in ids] + [
        f"{record.id}: anaphor {a.text!r} refers to a missing entity {a.antecedent}"
        for a in record.anaphors if a.antecedent not in ids]


def iter_jsonl_records(path: Path, sound: bool = False) -> Iterator[NoteRecord]:
    """NoteRecords of a JSONL file or of every ``*.jsonl`` in a directory, validated line by line.

    ``sound``: a note whose annotation is broken (:func:`annotation_errors`) is an error naming
    its line too (train); without it such notes are read, for ``check`` to flag them and
    ``evaluate`` to count them.
    """
    path = Path(path)
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if path.is_dir() and not files:
        raise InputError(f"{path}: no *.jsonl files in this directory")
    for file in files:
        for lineno, record in iter_models(file, NoteRecord, "invalid note record"):  # UTF-8, no NUL, no pipes lost
            problems = annotation_errors(record) if sound else []
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise InputError(f"{file}:{lineno}: broken annotation: {problems[0]}{more}; fix the offsets or "
                                 "run `kgsynth check` to list every broken note")
            yield record
