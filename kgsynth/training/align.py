"""Put extracted mentions back on exact character offsets of the note.

The model answers with mention texts; evaluation needs offsets. Each mention is
searched as a whole-word match, exact case first and case-insensitive as a fallback
(a small model often re-cases a word). Longer mentions are placed first and later
matches may not overlap placed ones, so "type 2 diabetes" wins over "diabetes"
inside it. ``occurrences="all"`` annotates every place the mention occurs (how
notes and corpora are annotated); ``"first"`` only the first.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from kgsynth.generation.record import Entity, NoteRelation
from kgsynth.training.formatting import Extraction

Occurrences = Literal["all", "first"]


class Alignment(BaseModel):
    """Entities with offsets, relations between them, and what could not be placed."""

    entities: list[Entity] = Field(default_factory=list)
    relations: list[NoteRelation] = Field(default_factory=list)
    unplaced_mentions: list[str] = Field(default_factory=list)
    dropped_relations: int = 0


def find_spans(text: str, mention: str) -> list[tuple[int, int]]:
    """Whole-word occurrences of ``mention``: exact case, else ignoring case."""
    if not mention.strip():
        return []
    left = r"(?<!\w)" if mention[0].isalnum() else ""
    right = r"(?!\w)" if mention[-1].isalnum() else ""
    pattern = left + re.escape(mention) + right
    spans = [(m.start(), m.end()) for m in re.finditer(pattern, text)]
    if not spans:
        spans = [(m.start(), m.end()) for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
    return spans


def align(text: str, extraction: Extraction, occurrences: Occurrences = "all") -> Alignment:
    """Entities ``T1..`` in text order; relations point at each argument's first placed mention."""
    taken: list[tuple[int, int]] = []
    placed: list[tuple[int, int, str, str]] = []  # start, end, type, mention
    unplaced: list[str] = []
    seen: set[tuple[str, str]] = set()
    mentions = [(e.text, e.type) for e in extraction.entities]
    for mention, etype in sorted(dict.fromkeys(mentions), key=lambda m: -len(m[0])):
        if (mention, etype) in seen:
            continue
        seen.add((mention, etype))
        free = [s for s in find_spans(text, mention) if all(s[1] <= a or s[0] >= b for a, b in taken)]
        if not free:
            unplaced.append(mention)
            continue
        for start, end in free[:1] if occurrences == "first" else free:
            taken.append((start, end))
            placed.append((start, end, str(etype), mention))
    placed.sort()
    entities = [
        Entity(id=f"T{n}", start=s, end=e, text=text[s:e], type=t, concept_id="")
        for n, (s, e, t, _) in enumerate(placed, 1)
    ]
    first: dict[str, str] = {}
    for entity, (_, _, _, mention) in zip(entities, placed, strict=True):
        first.setdefault(mention, entity.id)
        first.setdefault(mention.lower(), entity.id)
    relations: list[NoteRelation] = []
    dropped = 0
    for r in extraction.relations:
        subj = first.get(r.subject) or first.get(r.subject.lower())
        obj = first.get(r.object) or first.get(r.object.lower())
        rel = NoteRelation(subject=subj, type=str(r.type), object=obj) if subj and obj else None
        if rel is None or rel in relations:
            dropped += rel is None
            continue
        relations.append(rel)
    return Alignment(entities=entities, relations=relations, unplaced_mentions=unplaced, dropped_relations=dropped)
