"""The judge behind an OpenAI-compatible endpoint (``kgsynth llm start``, vLLM, OpenAI).

Yes/no answers under a JSON schema; fluency from the server's echoed prompt logprobs, or
from a local llama.cpp scorer of the same GGUF (:mod:`kgsynth.evaluation.judge_llama`).
One backend of :class:`kgsynth.evaluation.judge.Judge`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgsynth.errors import ConfigError

if TYPE_CHECKING:
    from kgsynth.evaluation.judge_llama import LlamaScorer


ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"],
    "additionalProperties": False,
}
#: Strings a BOS-less model's server may take as its BOS token (see :meth:`ServerJudge._fluency_prefix`).
_BOS_CANDIDATES = ("<|endoftext|>", "<|im_start|>", "<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>")


class ServerJudge:
    """A judge served over the OpenAI API (``kgsynth llm start``, vLLM, OpenAI)."""

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None,
                 schema_mode: str = "auto", timeout_s: float = 300.0, scorer: LlamaScorer | None = None) -> None:
        import openai

        from kgsynth.generation.backends.openai_backend import DEFAULT_MODEL, served_model

        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.model = model or served_model(base_url, api_key) or DEFAULT_MODEL
        self.client = openai.OpenAI(base_url=self.base_url, api_key=api_key or "not-needed", timeout=timeout_s,
                                    max_retries=2)
        self._llama_cpp = self._tokenize("a") is not None  # llama-cpp-python's server has /extras/tokenize
        self.schema_mode = ("json_object" if self._llama_cpp else "json_schema") if schema_mode == "auto" \
            else schema_mode
        self._prefix: str | None = None
        self.scorer = scorer

    def describe(self) -> str:
        how = f"; fluency scored locally on {Path(self.scorer.model_path).name}" if self.scorer else ""
        return f"{self.model} at {self.base_url}{how}"

    def _tokenize(self, text: str) -> list[int] | None:
        root = self.base_url.removesuffix("/v1")
        request = urllib.request.Request(root + "/extras/tokenize", data=json.dumps({"input": text}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return list(json.loads(response.read())["tokens"])
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            return None

    def ask(self, question: str) -> bool | None:
        import openai

        if self.schema_mode == "json_object":
            fmt: dict[str, Any] = {"type": "json_object", "schema": ANSWER_SCHEMA}
        else:
            fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA, "strict": True}}
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": question}], temperature=0.0, max_tokens=12,
                response_format=fmt)  # type: ignore[arg-type]
        except openai.APIStatusError as exc:
            if self.schema_mode == "json_schema" and "json_object" in str(exc.message):
                self.schema_mode = "json_object"  # llama-cpp-python's server, not recognised earlier
                return self.ask(question)
            raise ConfigError(f"the judge at {self.base_url} rejected the request ({exc.status_code}): "
                              f"{exc.message}") from exc
        except openai.OpenAIError as exc:
            raise ConfigError(f"the judge at {self.base_url} did not answer: {exc}") from exc
        try:
            answer = json.loads(response.choices[0].message.content or "")["answer"]
        except (ValueError, KeyError, TypeError):
            return None
        return {"yes": True, "no": False}.get(str(answer).strip().lower())

    def _fluency_prefix(self) -> str:
        """Text to put before a scored text so the echoed logprobs line up with their tokens.

        llama-cpp-python 0.3.36 takes the logprob of echoed token *i* from the logits at
        position *i*, which is right only when the prompt starts with a BOS token it then
        drops; for a model that adds no BOS (Qwen2.5) every value is shifted by one. So for
        such a model the BOS token's text is put first: found among the usual spellings as
        the one string that the server drops from the echoed tokens.
        """
        if self._prefix is not None:
            return self._prefix
        plain = self._tokenize("a")
        self._prefix = ""
        if plain is None or len(plain) > 1:  # not llama-cpp-python, or the model adds BOS itself
            return self._prefix
        for candidate in _BOS_CANDIDATES:
            ids = self._tokenize(candidate + "a")
            if ids is None or len(ids) != 2 or ids[1:] != plain:
                continue
            tokens, _, _ = self._echo(candidate + "a b")
            if tokens[:1] == ["a"]:  # the candidate was dropped as the BOS (else it echoes as its own token)
                self._prefix = candidate
                return self._prefix
        raise ConfigError(f"cannot score fluency with {self.model}: it adds no BOS token and none of "
                          f"{', '.join(_BOS_CANDIDATES)} is its BOS, so the server's echoed logprobs would be "
                          "shifted by one token")

    def _echo(self, prompt: str) -> tuple[list[str], list[float | None], list[int]]:
        import openai

        try:
            response = self.client.completions.create(model=self.model, prompt=prompt, max_tokens=1, echo=True,
                                                      logprobs=1, temperature=0.0)
        except openai.OpenAIError as exc:
            raise ConfigError(f"the judge at {self.base_url} cannot score text (completions with echo and "
                              f"logprobs): {exc}") from exc
        lp = response.choices[0].logprobs
        if lp is None or lp.token_logprobs is None:
            raise ConfigError(f"the judge at {self.base_url} returned no logprobs for echoed text")
        return list(lp.tokens or []), list(lp.token_logprobs), list(lp.text_offset or [])

    def nll(self, text: str) -> tuple[float, int]:
        if self.scorer is not None:
            return self.scorer.nll(text)
        prefix = self._fluency_prefix()
        _, logprobs, offsets = self._echo(prefix + text)
        start = 0 if self._llama_cpp else len(prefix)  # llama-cpp-python's offsets skip the dropped BOS
        end = start + len(text)
        kept = [lp for lp, off in zip(logprobs, offsets, strict=False) if lp is not None and start <= off < end]
        return -sum(kept), len(kept)
