"""An independent judge of generated notes: does the note state each sampled fact, and how fluent is it?

The writer's own extraction pass is not an independent verdict (a weak writer is a weak
reader too), so ``kgsynth check --judge-url/--judge-model`` asks a second model:

* per sampled fact, a constrained yes/no question ("Note: ... Does this note state that
  metformin treats type 2 diabetes?"), answered under a JSON schema ``{"answer": "yes"|"no"}``
  by a server, or by comparing the next-token logits of "yes" and "no" for a local model;
* fluency: the mean negative log-likelihood per token of the plain note under the judge.

Verdicts are marked ``self_judged`` when the judge is the note's own writer model, so a
recall figure never passes off a model grading itself as independent.

Two judges share one interface, :class:`Judge`: :class:`ServerJudge` (any OpenAI-compatible
endpoint: ``kgsynth llm start``, vLLM, OpenAI) and :class:`LocalJudge` (a packaged model name,
.gguf or Hugging Face folder, through transformers).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from kgsynth.errors import ConfigError
from kgsynth.generation.record import NoteRecord

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"],
    "additionalProperties": False,
}
#: Strings a BOS-less model's server may take as its BOS token (see :meth:`ServerJudge._fluency_prefix`).
_BOS_CANDIDATES = ("<|endoftext|>", "<|im_start|>", "<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>")


class Judge(Protocol):
    """What the check needs from a judge model."""

    #: The judge's model id, compared with each note's writer model for ``self_judged``.
    model: str

    def describe(self) -> str:
        """One line naming the judge (model and where it runs)."""
        ...

    def ask(self, question: str) -> bool | None:
        """Answer a yes/no question (None: the judge gave no usable answer)."""
        ...

    def nll(self, text: str) -> tuple[float, int]:
        """(total negative log-likelihood in nats, tokens scored) of ``text`` under the judge."""
        ...


# -- questions ---------------------------------------------------------------------


def question(note_text: str, fact: str) -> str:
    return (f"Here is a clinical note.\n\nNote: {note_text}\n\nDoes this note state that {fact}? "
            "Answer yes or no.")


def fact_questions(record: NoteRecord) -> list[tuple[int, str]]:
    """(relation index, fact in plain words) per sampled fact, naming concepts as the note names them."""
    from kgsynth.generation.prompt import fact_sentence

    if record.instance is None:
        return []
    mention = {}
    for e in record.entities:
        mention.setdefault(e.concept_id, e.text)
    concepts = [c.model_copy(update={"name": mention.get(c.id, c.name)}) for c in record.instance.concepts]
    instance = record.instance.model_copy(update={"concepts": concepts})
    return [(i, fact_sentence(instance, i)) for i in range(len(instance.relations))]


def same_model(writer: str, judge: str) -> bool:
    """True when the writer and the judge are the same model (name, path or file name)."""
    def norm(name: str) -> str:
        return Path(name.strip()).name.lower().removesuffix(".gguf")
    return bool(writer) and norm(writer) == norm(judge)


# -- reports -------------------------------------------------------------------------


class Verdict(BaseModel):
    subject: str
    type: str
    object: str
    fact: str
    stated: bool | None


class NoteJudgement(BaseModel):
    id: str
    writer_model: str
    self_judged: bool
    verdicts: list[Verdict] = Field(default_factory=list)
    recall: float | None = None
    nll_per_token: float | None = None
    tokens: int = 0


class JudgeReport(BaseModel):
    """The judge's part of the check report; ``asked`` is False when no judge was given."""

    asked: bool
    message: str
    judge: str | None = None
    judge_model: str | None = None
    notes: int = 0
    self_judged_notes: int = 0
    facts: int = 0
    stated: int = 0
    unanswered: int = 0
    fact_recall: float | None = None
    fact_recall_independent: float | None = None  # notes not written by the judge's model
    fact_recall_self_judged: float | None = None
    nll_per_token: float | None = None  # token-weighted mean over the judged notes
    fluency_error: str | None = None
    results: list[NoteJudgement] = Field(default_factory=list)


def not_asked() -> JudgeReport:
    return JudgeReport(asked=False, message="no judge was asked (pass --judge-url or --judge-model): fact recall "
                       "is the deterministic relation-phrase test, not an independent model's verdict")


def _recall(verdicts: Iterable[Verdict]) -> float | None:
    """Share of answered questions answered "stated"."""
    answers = [v.stated for v in verdicts if v.stated is not None]
    return sum(answers) / len(answers) if answers else None


def _pooled(judged: Iterable[NoteJudgement]) -> float | None:
    return _recall(v for j in judged for v in j.verdicts)


def judge_notes(records: Sequence[NoteRecord], judge: Judge, fluency: bool = True, quiet: bool = False) -> JudgeReport:
    """Ask ``judge`` about every sampled fact of every note, and score each note's fluency."""
    results: list[NoteJudgement] = []
    total_nll, total_tokens, fluency_error = 0.0, 0, None
    from kgsynth.console import track_rate

    for record in track_rate(list(records), len(records), "judging notes", unit="notes", disable=quiet):
        verdicts = []
        for i, fact in fact_questions(record):
            rel = record.instance.relations[i]  # type: ignore[union-attr]
            verdicts.append(Verdict(subject=rel.subject, type=rel.type, object=rel.object, fact=fact,
                                    stated=judge.ask(question(record.text, fact))))
        item = NoteJudgement(id=record.id, writer_model=record.model, self_judged=same_model(record.model, judge.model),
                             verdicts=verdicts, recall=_recall(verdicts))
        if fluency and fluency_error is None:
            try:
                nll, n = judge.nll(record.text)
            except ConfigError as exc:
                fluency_error = str(exc)
            else:
                item.nll_per_token, item.tokens = (nll / n if n else None), n
                total_nll, total_tokens = total_nll + nll, total_tokens + n
        results.append(item)
    facts = sum(len(r.verdicts) for r in results)
    stated = sum(bool(v.stated) for r in results for v in r.verdicts)
    self_judged = [r for r in results if r.self_judged]
    report = JudgeReport(
        asked=True, judge=judge.describe(), judge_model=judge.model, notes=len(results),
        self_judged_notes=len(self_judged), facts=facts, stated=stated,
        unanswered=sum(v.stated is None for r in results for v in r.verdicts),
        fact_recall=_pooled(results), fact_recall_independent=_pooled(r for r in results if not r.self_judged),
        fact_recall_self_judged=_pooled(self_judged),
        nll_per_token=total_nll / total_tokens if total_tokens else None, fluency_error=fluency_error,
        results=results, message="",
    )
    note = f" ({len(self_judged)} of {len(results)} notes self-judged: written by {judge.model})" if self_judged else ""
    report.message = f"judged by {report.judge}{note}"
    return report


def agreement(judged: JudgeReport, expressed: dict[str, set[tuple[str, str, str]]]) -> tuple[float | None, int]:
    """Share of answered facts on which the judge agrees with another verdict (e.g. the deterministic check).

    ``expressed`` maps a note id to the sampled facts (subject, type, object) that verdict found stated.
    """
    same = n = 0
    for r in judged.results:
        if r.id not in expressed:
            continue
        for v in r.verdicts:
            if v.stated is not None:
                n += 1
                same += v.stated == ((v.subject, v.type, v.object) in expressed[r.id])
    return (same / n if n else None), n


def reference_texts(corpus: Path, n: int, chars: int = 400) -> list[str]:
    """The first ``n`` documents of a corpus (title + abstract), cut at a word boundary near ``chars``.

    The fluency baseline: real text of about a note's length, so that the per-token NLL of
    notes and of abstracts is taken over similar spans (early tokens cost more).
    """
    from itertools import islice

    from kgsynth.loaders.corpus import read_documents

    texts = [d.text for d in islice(read_documents(corpus), n)]
    return [t if len(t) <= chars else t[:chars].rsplit(" ", 1)[0] for t in texts]


def mean_nll(judge: Judge, texts: Iterable[str]) -> float | None:
    """Token-weighted mean NLL per token of ``texts`` (e.g. real abstracts, the fluency baseline)."""
    total, n = 0.0, 0
    for text in texts:
        nll, k = judge.nll(text)
        total, n = total + nll, n + k
    return total / n if n else None


# -- a judge behind an OpenAI-compatible endpoint ----------------------------------------


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


# -- fluency with llama.cpp in a worker process ----------------------------------------------


class LlamaScorer:
    """NLL of texts under a GGUF, computed by :mod:`kgsynth.evaluation.llama_score` in the llama Python.

    Same weights and the same llama.cpp as the server, without the server's per-token
    Python sort of the vocabulary (seconds per token on a 152k vocabulary).
    """

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        import subprocess

        from kgsynth.generation.llm_server import llama_python

        self.model_path = model_path
        script = Path(__file__).with_name("llama_score.py")
        self.proc = subprocess.Popen([llama_python(), str(script), str(model_path), "--threads", str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        if json.loads(self._line()).get("ready") is not True:
            raise ConfigError(f"the llama.cpp scorer could not load {model_path}")

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise ConfigError(f"the llama.cpp scorer for {self.model_path} exited (code {self.proc.poll()})")
        return line

    def nll(self, text: str) -> tuple[float, int]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"text": text}) + "\n")
        self.proc.stdin.flush()
        out = json.loads(self._line())
        return float(out["nll"]), int(out["tokens"])

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a stuck worker is killed
                self.proc.kill()


# -- a local judge through transformers -------------------------------------------------------


class LocalJudge:
    """A judge run in this process with transformers: a packaged model name, a .gguf or a model folder."""

    def __init__(self, name: str | None = None) -> None:
        from kgsynth.generation.local_model import DEFAULT_MODEL, load_model

        self.model = name or DEFAULT_MODEL
        self.hf_model, self.tokenizer = load_model(name)
        self._yes = self._first_token("yes")
        self._no = self._first_token("no")

    def describe(self) -> str:
        return f"{self.model} (local, transformers)"

    def _first_token(self, word: str) -> int:
        return int(self.tokenizer(word, add_special_tokens=False).input_ids[0])

    def ask(self, question: str) -> bool | None:
        import torch

        messages = [{"role": "user", "content": question}]
        if getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
            if not isinstance(ids, torch.Tensor):  # newer transformers return a BatchEncoding
                ids = ids["input_ids"]
        else:
            ids = self.tokenizer(question + "\nAnswer:", return_tensors="pt").input_ids
        with torch.no_grad():
            logits = self.hf_model(ids).logits[0, -1]
        return bool(logits[self._yes] > logits[self._no])  # constrained: only "yes" and "no" compete

    def nll(self, text: str) -> tuple[float, int]:
        import torch

        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        start = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None \
            else self.tokenizer.eos_token_id
        tensor = torch.tensor([[start, *ids]])
        with torch.no_grad():
            logits = self.hf_model(tensor).logits[0, :-1].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        picked = logprobs[torch.arange(len(ids)), tensor[0, 1:]]
        # the first text token is left out, as the server's echo leaves it out (its logprob is null there)
        scored = picked[1:]
        total = float(-scored.sum())
        return (total if math.isfinite(total) else float("inf")), int(scored.numel())


def make_judge(url: str | None, model: str | None, api_key: str | None = None,
               fluency_gguf: str | None = None) -> Judge | None:
    """The judge the check's flags ask for: a server (``url``), a local model (``model`` only), or None.

    ``fluency_gguf`` (a packaged model name or .gguf: the server's own model) scores fluency
    with llama.cpp locally instead of through the server's slow echoed logprobs.
    """
    if url:
        scorer = None
        if fluency_gguf:
            from kgsynth.generation.local_model import gguf_for

            path = gguf_for(fluency_gguf)
            if path is None:
                raise ConfigError(f"--judge-fluency-gguf must be a packaged model name or a .gguf, not {fluency_gguf}")
            scorer = LlamaScorer(path)
        return ServerJudge(url, model, api_key, scorer=scorer)
    if model:
        return LocalJudge(model)
    return None


def judge_section(records: Sequence[NoteRecord], url: str | None, model: str | None, fluency_gguf: str | None = None,
                  limit: int | None = None, quiet: bool = False) -> JudgeReport:
    """What ``kgsynth check`` reports about the judge: its verdicts, or that none was asked."""
    judge = make_judge(url, model, fluency_gguf=fluency_gguf)
    if judge is None:
        return not_asked()
    try:
        return judge_notes(list(records)[:limit] if limit else list(records), judge, quiet=quiet)
    finally:
        scorer = getattr(judge, "scorer", None)
        if scorer is not None:
            scorer.close()
