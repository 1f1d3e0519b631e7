"""Any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server) with JSON-schema outputs.

HTTP endpoints take JSON schemas, not arbitrary regexes, so the note is asked for as
JSON: one object per fact with free text around two *mentions*, each mention an
``anyOf`` of ``{"concept": const slot, "name": enum of that concept's names}``. The
engine joins the pieces into tagged text itself, so offsets are exact and every entity
grounded by construction, whatever the server. ``schema_mode`` picks how the schema is
sent: ``json_schema`` (OpenAI, vLLM, llama-server) or ``json_object`` with ``schema``
(llama-cpp-python's server). Requests are async (the engine keeps ``--concurrency`` in
flight), retried with exponential backoff on 429, 5xx, timeouts and connection errors,
and their tokens and cost (``price_in``/``price_out`` USD per 1M tokens) are summed.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from typing import Any

from kgsynth.cypher.instance import MotifInstance
from kgsynth.errors import ConfigError
from kgsynth.generation.backends.base import Backend, Draft, Extraction
from kgsynth.generation.compose import distractors
from kgsynth.generation.context_words import (
    FactContext,
    checked_context_words,
    context_for_fact,
    distractor_templates,
    note_population,
)
from kgsynth.generation.extraction import extraction_prompt, parse_extraction, schema_model
from kgsynth.generation.grammar import DEFAULT_MAX_WORDS, join_fact, json_words_pattern, line_order
from kgsynth.generation.lexicon import Lexicon, load_lexicon
from kgsynth.generation.mention import mention_schema, tagged_mention_from_json
from kgsynth.generation.prompt import Prompt, render
from kgsynth.generation.record import Entity
from kgsynth.generation.tags import TagError, slot_label, surfaces, tag

DEFAULT_MODEL = "gpt-4o-mini"


def served_model(base_url: str | None, api_key: str | None, timeout_s: float = 5.0) -> str | None:
    """The model a self-hosted endpoint serves, so ``--model`` can be left out against vLLM or llama.cpp.

    vLLM rejects requests naming any other model, so guessing a name would fail every
    request. One served model is taken; several raise unless the default is among
    them (api.openai.com); an endpoint that cannot be asked gives ``None`` (requests
    then fail with the endpoint's own error, retried as usual).
    """
    if base_url is None:
        return None
    import openai

    try:
        client = openai.OpenAI(base_url=base_url, api_key=api_key or "not-needed", max_retries=0, timeout=timeout_s)
        ids = [m.id for m in client.models.list()]
    except openai.OpenAIError:
        return None
    if len(ids) == 1:
        return ids[0]
    if ids and DEFAULT_MODEL not in ids:
        shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
        raise ConfigError(f"{base_url} serves {len(ids)} models ({shown}); pick one with --model")
    return None


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Close every object (``additionalProperties: false``), as strict structured outputs require."""
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            schema.setdefault("additionalProperties", False)
        for value in schema.values():
            if isinstance(value, dict):
                _strict(value)
            elif isinstance(value, list):
                for item in value:
                    _strict(item)
    return schema


def _mention(instance: MotifInstance, concept_id: str) -> dict[str, Any]:
    index = next(i for i, c in enumerate(instance.concepts) if c.id == concept_id)
    return {
        "type": "object",
        "properties": {"concept": {"type": "string", "enum": [slot_label(index)]},
                       "name": {"type": "string", "enum": surfaces(instance.concepts[index])}},
        "required": ["concept", "name"],
    }


def note_schema(instance: MotifInstance, lexicon: Lexicon, max_words: int = DEFAULT_MAX_WORDS,
                note_type: str | None = None, context_words: str = "free", avoid: Sequence[str] = ()) -> dict[str, Any]:
    """JSON schema of a note: ``fact_1..fact_k``, each ``before, first, phrase, second, after``.

    ``first``/``second`` are the fact's two concepts in an order one of its phrasings allows
    and ``phrase`` an enum of the phrasings for that order, so every fact sentence states its
    relation; ``before``/``after`` are plain-word runs (:mod:`kgsynth.generation.grammar`),
    ``after`` never empty so no line is only mentions and phrase. An abstract note's distractors
    get ``mention_C<k>`` objects (``before, concept, after``) in :func:`~kgsynth.generation.grammar.line_order`:
    a sentence naming the concept and stating no relation. A single-concept instance has its own
    schema (:func:`kgsynth.generation.mention.mention_schema`, vetted too). ``note_type`` keeps the phrases a note of
    that type can state (:func:`~kgsynth.generation.lexicon.for_note`). With ``context_words="vetted"``,
    ``before``/``after`` are enums of the leads and tails that fit the fact in this note (at least one
    given, no second setting) and a distractor's are those of one distractor sentence of its group, as
    in :func:`~kgsynth.generation.grammar.note_regex`.
    """
    checked_context_words(context_words)
    if instance.single_concept:
        return mention_schema(instance, max_words, context_words)
    free = [({"type": "string", "pattern": json_words_pattern(max_words, first=True, optional=True)},
             {"type": "string", "pattern": json_words_pattern(max_words)})]
    facts: dict[str, Any] = {}
    keys = ["before", "first", "phrase", "second", "after"]
    for kind, index in line_order(instance):
        if kind == "mention":  # a distractor, named in words of its own (no phrase, no second concept)
            concept = _mention(instance, instance.concepts[index].id)
            sides = (_vetted_distractor(instance.concepts[index].group, avoid) if context_words == "vetted"
                     else free)
            objects = [{"type": "object", "required": ["before", "concept", "after"],
                        "properties": {"before": before, "concept": concept, "after": after}}
                       for before, after in sides]
            facts[f"mention_{slot_label(index)}"] = objects[0] if len(objects) == 1 else {"anyOf": objects}
            continue
        i, rel = index + 1, instance.relations[index]
        sides = free
        if context_words == "vetted":
            fit = context_for_fact(instance, rel, note_type, avoid, first=not facts)
            sides = _vetted_sides(fit) or free
        roles = {"subject": _mention(instance, rel.subject), "object": _mention(instance, rel.object)}
        orders = []
        allowed = lexicon.for_fact(instance, rel, note_type)
        for first in ("subject", "object"):
            # either number: the schema cannot tie the verb to the name chosen for ``first``
            phrases = list(dict.fromkeys(f for p in allowed if p.first == first for f in p.forms))
            if not phrases:
                continue
            second = "object" if first == "subject" else "subject"
            orders += [{"type": "object", "required": keys, "properties": {
                "before": before, "first": roles[first], "phrase": {"type": "string", "enum": phrases},
                "second": roles[second], "after": after}} for before, after in sides]
        facts[f"fact_{i}"] = {"anyOf": orders}
    return _strict({"type": "object", "properties": facts, "required": list(facts)})


def _enum(texts: Sequence[str]) -> dict[str, Any]:
    return {"type": "string", "enum": list(texts)}


def _vetted_sides(fit: FactContext) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(before, after) schema pairs of a vetted fact sentence: a setting lead with no setting tail, another
    lead with any tail or none, or no lead and a tail."""
    sides = []
    for leads, tails in fit.lead_groups():
        sides.append((_enum(leads), _enum([*tails, ""])))
    if fit.tails:
        sides.append((_enum([""]), _enum(fit.tails)))
    return sides


def _vetted_distractor(group: str, avoid: Sequence[str]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(before, after) schema pairs, one per distractor sentence of ``group`` (its words around ``{a}``)."""
    pairs = []
    for template in distractor_templates(group, avoid):
        before, _, after = template.partition("{a}")
        pairs.append((_enum([before.strip()]), _enum([after.strip().removesuffix(".").strip()])))
    return pairs


def tagged_from_json(raw: str, instance: MotifInstance) -> str:
    """Join the JSON pieces into tagged text; raises :class:`TagError` when they do not fit."""
    if instance.single_concept:
        return tagged_mention_from_json(raw)
    try:
        data = json.loads(raw)
        lines = []
        for kind, index in line_order(instance):
            if kind == "mention":
                item = data[f"mention_{slot_label(index)}"]
                named = item["concept"]
                if str(named["concept"]) != slot_label(index):
                    raise ValueError(f"mention_{slot_label(index)} names {named['concept']}")
                lines.append(join_fact(str(item["before"]), tag(str(named["name"]), index), "", "",
                                       str(item["after"])))
                continue
            fact = data[f"fact_{index + 1}"]
            mentions = []
            for key in ("first", "second"):
                slot = int(str(fact[key]["concept"]).removeprefix("C")) - 1
                mentions.append(tag(str(fact[key]["name"]), slot))
            lines.append(join_fact(str(fact["before"]), mentions[0], str(fact["phrase"]), mentions[1],
                                   str(fact["after"])))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise TagError(f"note JSON does not fit the schema: {exc!r}"[:200]) from exc
    return "\n".join(lines)


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.7,
        max_words: int = DEFAULT_MAX_WORDS,
        max_tokens: int = 768,
        lexicon: Lexicon | None = None,
        schema_mode: str = "json_schema",
        max_retries: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 120.0,
        price_in: float = 0.0,
        price_out: float = 0.0,
        context_words: str = "free",
        **_: object,
    ) -> None:
        from openai import AsyncOpenAI

        if schema_mode not in ("json_schema", "json_object"):
            raise ConfigError("schema_mode must be json_schema or json_object")
        self.model = model or served_model(base_url, api_key) or DEFAULT_MODEL
        # Our own retry loop (below) so that backoff and the retry count are visible.
        self.client = AsyncOpenAI(base_url=base_url, api_key=api_key or "not-needed", max_retries=0,
                                  timeout=timeout_s)
        self.temperature, self.max_words, self.max_tokens = temperature, max_words, max_tokens
        self.lexicon = lexicon or load_lexicon()
        self.schema_mode, self.max_retries, self.backoff_s = schema_mode, max_retries, backoff_s
        self.price_in, self.price_out = price_in, price_out
        self.retries = 0
        #: "free" (default): a capable served model writes its own words around each fact; "vetted": it
        #: chooses among the leads and tails that fit (see :func:`note_schema`).
        self.context_words = checked_context_words(context_words)

    def decoding(self) -> dict[str, object]:
        return {"temperature": self.temperature, "max_words": self.max_words, "max_tokens": self.max_tokens,
                "context_words": self.context_words, "constraint": f"server/{self.schema_mode}"}

    def _format(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        if self.schema_mode == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.price_in + completion_tokens * self.price_out) / 1e6

    async def _complete(self, text: str, name: str, schema: dict[str, Any], seed: int) -> tuple[str, int, int]:
        """One chat completion under ``schema`` with bounded retries; (content, prompt, completion tokens)."""
        import openai

        for attempt in range(self.max_retries + 1):
            try:
                response = await self.client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": text}],
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    seed=seed,
                    response_format=self._format(name, schema),  # type: ignore[arg-type]
                )
            except (openai.RateLimitError, openai.APITimeoutError, openai.APIConnectionError,
                    openai.InternalServerError) as exc:
                if attempt == self.max_retries:
                    raise TagError(f"endpoint failed after {attempt + 1} tries: {exc}") from exc
                self.retries += 1
                await asyncio.sleep(self.backoff_s * 2**attempt * (1 + random.random()))
                continue
            except openai.APIStatusError as exc:  # 4xx other than 429: not worth retrying
                raise ConfigError(f"endpoint rejected the request ({exc.status_code}): {exc.message}") from exc
            usage = response.usage
            content = response.choices[0].message.content or ""
            return content, usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0
        raise AssertionError("unreachable")

    async def awrite(self, instance: MotifInstance, prompt: Prompt, seed: int) -> Draft:
        if instance.single_concept:
            text = prompt.text + "\n\n" + render("json_mention.j2", max_words=self.max_words,
                                                   vetted=self.context_words == "vetted")
        else:
            text = prompt.text + "\n\n" + render("json_note.j2", facts=len(instance.relations),
                                                   mentions=len(distractors(instance)), max_words=self.max_words)
        schema = note_schema(instance, self.lexicon, self.max_words, prompt.note_type, self.context_words,
                             note_population(prompt.note_type, seed))
        raw, p, c = await self._complete(text, "note", schema, seed)
        head = prompt.header + "\n" if prompt.header else ""
        return Draft(tagged=head + tagged_from_json(raw, instance), prompt_tokens=p, completion_tokens=c,
                     cost_usd=self._cost(p, c))

    async def aextract(self, text: str, entities: list[Entity], note_type: str, seed: int) -> Extraction:
        schema = _strict(schema_model(entities).model_json_schema())
        raw, p, c = await self._complete(extraction_prompt(text, entities, note_type), "relations", schema, seed)
        try:
            relations = parse_extraction(raw, entities)
        except TagError:
            relations = []
        return Extraction(relations=relations, prompt_tokens=p, completion_tokens=c, cost_usd=self._cost(p, c))

    def write(self, instance: MotifInstance, prompt: Prompt, seed: int) -> Draft:
        return asyncio.run(self.awrite(instance, prompt, seed))

    def extract(self, text: str, entities: list[Entity], note_type: str, seed: int) -> Extraction:
        return asyncio.run(self.aextract(text, entities, note_type, seed))

    async def aclose(self) -> None:
        await self.client.close()
