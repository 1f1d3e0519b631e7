"""Notes from single-concept instances: the concept named once, by its ``mention``, in plain prose.

Coverage sampling (:mod:`kgsynth.cypher.cover`) gives every concept of a slice instances;
one without facts gets single-concept ones (motif ``mention``: one concept, no relation,
``mention`` the name to use). Every backend writes them through this one separate code
path, so the relational constraint, prompt and schema stay as they are:

* the prompt (``prompts/mention_note.j2``) asks for one or two sentences naming the concept;
* the constraint (:func:`mention_regex`, transformers backend) is one line of clean words
  (:mod:`kgsynth.generation.grammar`) around exactly one tag of exactly the mention, or, with
  ``context_words="vetted"``, one of the template backend's sentences for the concept;
* the JSON schema (:func:`mention_schema`, openai backend) is ``before``, ``mention``, ``after``
  (plain words, or enums of those sentences' words when vetted);
* the template backend picks a sentence per semantic group (``prompts/mentions.yaml``,
  :func:`mention_templates`);
* a finished record must have an entity of the concept whose text is the mention.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from kgsynth.cypher.instance import MotifInstance
from kgsynth.generation.grammar import DEFAULT_MAX_WORDS, WORD_CHARS, join_fact, json_words_pattern, words
from kgsynth.generation.prompt import Prompt, read_yaml, render, with_article
from kgsynth.generation.record import NoteRecord
from kgsynth.generation.tags import TagError, opening_surface, sentence_case, slot_label, surfaces, tag


def mention_surface(instance: MotifInstance) -> str:
    """The name the note must use: ``mention`` when it is an allowed surface, else the first one."""
    allowed = surfaces(instance.concepts[0])
    wanted = " ".join(instance.mention.split())
    return wanted if wanted in allowed else allowed[0]


def mention_regex(instance: MotifInstance, max_words: int = DEFAULT_MAX_WORDS, context_words: str = "free") -> str:
    """One line: plain words before and/or after exactly one tag of the mention, then a period.

    ``context_words="vetted"``: one of the sentences :func:`mention_sentence` may write (the writer
    only chooses among them), as a relational note's vetted lines are.
    """
    surface = mention_surface(instance)
    if context_words == "vetted":
        return "(?:" + "|".join(re.escape(filled_template(t, surface)) for t in mention_templates(instance)) + ")"
    core = rf"\[\[{re.escape(surface)}\|{slot_label(0)}\]\]"
    opening = rf"\[\[{re.escape(opening_surface(surface))}\|{slot_label(0)}\]\]"
    lead = words(max_words, first=True, trailing_punct=True) + " "
    tail = f",? {words(max_words)}"
    return rf"(?:{lead}{core}(?:{tail})?|{opening}{tail})\."


def max_mention_chars(instance: MotifInstance, max_words: int = DEFAULT_MAX_WORDS) -> int:
    """Upper bound on the length of any text :func:`mention_regex` admits."""
    run = max(1, max_words) * (WORD_CHARS + 1) + 2
    return 2 * run + len(tag(mention_surface(instance), 0)) + 2


def mention_schema(instance: MotifInstance, max_words: int = DEFAULT_MAX_WORDS,
                   context_words: str = "free") -> dict[str, Any]:
    """JSON schema of a single-concept note: ``before`` (may be empty), ``mention``, ``after`` (plain words).

    ``context_words="vetted"``: ``{"sentence": ...}``, one of an object per sentence of
    :func:`mention_templates`, its ``before`` and ``after`` the one-value enums of the words around
    ``{concept}`` (a schema's root cannot be ``anyOf`` under strict structured outputs).
    """
    mention = {"type": "object", "additionalProperties": False, "required": ["concept", "name"],
               "properties": {"concept": {"type": "string", "enum": [slot_label(0)]},
                              "name": {"type": "string", "enum": [mention_surface(instance)]}}}
    if context_words != "vetted":
        return _sentence_schema(mention, {"type": "string", "pattern": json_words_pattern(max_words, first=True,
                                                                                          optional=True)},
                                {"type": "string", "pattern": json_words_pattern(max_words)})
    objects = [_sentence_schema(mention, {"type": "string", "enum": [before]}, {"type": "string", "enum": [after]})
               for before, after in (_around(t) for t in mention_templates(instance))]
    return {"type": "object", "additionalProperties": False, "required": ["sentence"],
            "properties": {"sentence": {"anyOf": objects}}}


def _sentence_schema(mention: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": ["before", "mention", "after"],
            "properties": {"before": before, "mention": mention, "after": after}}


def _around(template: str) -> tuple[str, str]:
    """The words before and after ``{concept}`` in a template, as :func:`join_fact` joins them back."""
    before, _, after = template.partition("{concept}")
    return before.strip(), after.strip().removesuffix(".").strip()


def tagged_mention_from_json(raw: str) -> str:
    """The tagged line of an answer to :func:`mention_schema`; :class:`TagError` when it does not fit."""
    try:
        data = json.loads(raw)
        data = data.get("sentence", data)  # a vetted answer wraps its sentence
        mention = tag(str(data["mention"]["name"]), 0)
        return join_fact(str(data["before"]), mention, "", "", str(data["after"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise TagError(f"note JSON does not fit the schema: {exc!r}"[:200]) from exc


def mention_sentence(instance: MotifInstance, rng: random.Random) -> str:
    """The template backend's sentence: a per-group template around the tagged mention."""
    return filled_template(rng.choice(mention_templates(instance)), mention_surface(instance))


def mention_templates(instance: MotifInstance) -> list[str]:
    """The sentences of ``prompts/mentions.yaml`` that fit the concept's group and the mention's form."""
    templates = read_yaml("mentions.yaml")
    group, kind = instance.concepts[0].group, mention_kind(instance)
    if kind != "noun":  # an adjective form: "hypertensive patients", "cardiotoxic effects"
        return templates.get(f"{group} {kind}") or templates[kind]
    return templates.get(group) or templates["Other"]


def filled_template(template: str, surface: str) -> str:
    return sentence_case(template.format(concept=tag(surface, 0)))


def mention_kind(instance: MotifInstance) -> str:
    """ "noun", or the kind of adjective a written form is ("hypertensive": written before a noun)."""
    return instance.concepts[0].written.get(mention_surface(instance), "noun")


def mention_problems(record: NoteRecord, instance: MotifInstance) -> list[str]:
    """What a single-concept record lacks: an entity of its concept whose text is the mention."""
    concept = instance.concepts[0]
    wanted = mention_surface(instance)
    # A sentence that opens with the mention writes it capitalized ("Liver biopsy was performed.").
    if any(e.concept_id == concept.id and e.text in (wanted, opening_surface(wanted)) for e in record.entities):
        return []
    return [f"{concept.id} is not mentioned as {wanted!r}"]


def mention_prompt(instance: MotifInstance, note_type: str, demographics: dict[str, str | int],
                   example: str | None) -> Prompt:
    """The prompt of a single-concept instance (``prompts/mention_note.j2``)."""
    concept = instance.concepts[0]
    mention = mention_surface(instance)
    example_line = (f"The patient has a history of {tag(mention, 0)}." if mention_kind(instance) == "noun"
                    else f"The {tag(mention, 0)} patients were followed up.")
    text = render("mention_note.j2", note_type=note_type, age=demographics["age"],
                  a_age=with_article(demographics["age"]), sex=demographics["sex"],
                  exemplar=example, concept=concept, mention=mention, label=slot_label(0),
                  tagged_example=example_line)
    header = f"{note_type.capitalize()}: {demographics['age']}-year-old {demographics['sex']} patient."
    return Prompt(text=text, note_type=note_type, demographics=demographics, facts=[], header=header)
