"""Notes -> instruction examples: the prompt, the fixed JSON answer schema, the loss mask.

The answer is the compact JSON of :class:`Extraction`, the same pydantic model the
constrained decoder uses at extraction time, so the model is trained on exactly the
strings the decoder allows. Mentions are given by their text (not offsets, which a
small LM cannot count); :mod:`kgsynth.training.extract` aligns them back to offsets.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kgsynth.generation.record import NoteRecord
from kgsynth.graph.schema import GENERIC_RELATION, RELATION_TYPES, SEMANTIC_GROUPS

#: Label value for positions the loss ignores (prompt and padding).
IGNORE_INDEX = -100

EntityType = Enum("EntityType", {g: g for g in SEMANTIC_GROUPS}, type=str)
RelationType = Enum("RelationType", {r: r for r in RELATION_TYPES}, type=str)


class ExtractedEntity(BaseModel):
    model_config = ConfigDict(use_enum_values=True)

    text: str
    type: EntityType  # type: ignore[valid-type]


class ExtractedRelation(BaseModel):
    model_config = ConfigDict(use_enum_values=True)

    subject: str
    type: RelationType  # type: ignore[valid-type]
    object: str


class Extraction(BaseModel):
    """The answer schema: entity mentions by text, relations between mention texts."""

    entities: list[ExtractedEntity] = Field(default_factory=list)
    relations: list[ExtractedRelation] = Field(default_factory=list)


SYSTEM_PROMPT = (
    "You extract biomedical entities and relations. Answer with JSON: "
    '{"entities":[{"text","type"}],"relations":[{"subject","type","object"}]} '
    "where text, subject and object are exact spans of the note."
)


class Example(BaseModel):
    """One tokenized training example; ``labels`` is ``IGNORE_INDEX`` outside the answer."""

    note_id: str
    input_ids: list[int]
    labels: list[int]


def target(record: NoteRecord) -> Extraction:
    """The gold answer for ``record``: unique mentions in text order, relations by mention text."""
    groups, relations = set(SEMANTIC_GROUPS), set(RELATION_TYPES)
    entities: list[ExtractedEntity] = []
    seen: set[tuple[str, str]] = set()
    for e in sorted(record.entities, key=lambda e: (e.start, e.end)):
        key = (e.text, e.type if e.type in groups else "Other")
        if key not in seen:
            seen.add(key)
            entities.append(ExtractedEntity(text=key[0], type=key[1]))
    by_id = {e.id: e for e in record.entities}
    rels: list[ExtractedRelation] = []
    seen_rel: set[tuple[str, str, str]] = set()
    for r in record.relations:
        subj, obj = by_id.get(r.subject), by_id.get(r.object)
        if subj is None or obj is None:
            continue
        triple = (subj.text, r.type if r.type in relations else GENERIC_RELATION, obj.text)
        if triple not in seen_rel:
            seen_rel.add(triple)
            rels.append(ExtractedRelation(subject=triple[0], type=triple[1], object=triple[2]))
    return Extraction(entities=entities, relations=rels)


def messages(text: str) -> list[dict[str, str]]:
    """The chat turns before the answer."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]


def prompt_text(tokenizer: Any, text: str) -> str:
    """The prompt as the model's chat template renders it, ending where the answer starts."""
    return tokenizer.apply_chat_template(messages(text), tokenize=False, add_generation_prompt=True)


def encode(tokenizer: Any, record: NoteRecord) -> Example:
    """Tokenize prompt + answer; only the answer (and the template's end-of-turn) carry loss.

    The two parts are tokenized separately and concatenated, so the mask boundary is
    exact even where a BPE merge could cross the prompt/answer border.
    """
    answer = target(record).model_dump_json()
    prompt = prompt_text(tokenizer, record.text)
    full = tokenizer.apply_chat_template(
        [*messages(record.text), {"role": "assistant", "content": answer}], tokenize=False
    )
    tail = full[len(prompt) :] if full.startswith(prompt) else answer
    if not tail.startswith(answer):  # a template that rewrites the answer: keep the plain answer
        tail = answer
    if tail == answer and tokenizer.eos_token:
        tail = answer + tokenizer.eos_token
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(tail, add_special_tokens=False)["input_ids"]
    return Example(
        note_id=record.id,
        input_ids=prompt_ids + answer_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + answer_ids,
    )
