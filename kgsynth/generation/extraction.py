"""The independent relation-extraction pass: its prompt, its JSON schema, its parser.

The schema is a pydantic model built per note: subject and object are enums of the
note's entity ids and the type is an enum of the allowed relation types, so a
constrained decoder (Outlines, or a server's JSON-schema mode) cannot name a missing
entity or an unknown type. Both LLM backends share this module.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, create_model

from kgsynth.generation.prompt import render
from kgsynth.generation.record import Entity, NoteRelation
from kgsynth.generation.tags import TagError
from kgsynth.graph.schema import RELATION_TYPES

RelationType = Enum("RelationType", {name: name for name in RELATION_TYPES}, type=str)


def max_relations(entities: list[Entity]) -> int:
    """How many relations an answer may list (bounds the output, and so the token budget)."""
    return max(1, min(8, 2 * len(entities)))


def schema_model(entities: list[Entity]) -> type[BaseModel]:
    """``{"relations": [{"subject": Tn, "type": RelationType, "object": Tn}, ...]}`` for these entities."""
    ids = tuple(e.id for e in entities)
    EntityId = Literal[ids]  # type: ignore[valid-type]
    item = create_model("ExtractedRelation", subject=(EntityId, ...), type=(RelationType, ...),
                        object=(EntityId, ...))
    return create_model("ExtractedRelations",
                        relations=(list[item], Field(..., min_length=1, max_length=max_relations(entities))))


def max_answer_chars(entities: list[Entity]) -> int:
    """Longest compact JSON answer the schema admits (a token budget that always lets it finish)."""
    longest_id = max(len(e.id) for e in entities)
    longest_type = max(len(t) for t in RELATION_TYPES)
    item = len('{ "subject" : "" , "type" : "" , "object" : "" } , ') + 2 * longest_id + longest_type + 10
    return len('{ "relations" : [ ] }') + item * max_relations(entities)


def extraction_prompt(text: str, entities: list[Entity], note_type: str) -> str:
    return render("extract.j2", text=text, entities=entities, note_type=note_type or "note",
                  relation_types=RELATION_TYPES)


def parse_extraction(raw: str, entities: list[Entity]) -> list[NoteRelation]:
    """Relations from the model's JSON; raises :class:`TagError` when it does not fit the schema."""
    model = schema_model(entities)
    try:
        data = model.model_validate(json.loads(raw))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise TagError(f"extraction output does not fit the schema: {str(exc)[:120]}") from exc
    out: list[NoteRelation] = []
    for rel in data.relations:
        found = NoteRelation(subject=rel.subject, type=rel.type.value, object=rel.object)
        if found.subject != found.object and found not in out:
            out.append(found)
    return out
