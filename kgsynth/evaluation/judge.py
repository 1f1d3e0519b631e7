"""An independent judge of generated notes: does the note state each sampled fact, and how fluent is it?

The writer's own extraction pass is not an independent verdict (a weak writer is a weak
reader too), so ``kgsynth check --judge-url/--judge-model`` asks a second model:

* per sampled fact, a constrained yes/no question ("Note: ... Does this note state that
  metformin treats type 2 diabetes?"), answered under a JSON schema ``{"answer": "yes"|"no"}``
  by a server, or by comparing the next-token logits of "yes" and "no" for a local model;
* fluency: the mean negative log-likelihood per token of the plain note under the judge.

Verdicts are marked ``self_judged`` when the judge is the note's own writer model, so a
recall figure never passes off a model grading itself as independent.

Two judges share one interface, :class:`Judge`, one file per backend: :class:`ServerJudge`
(``judge_server.py``: any OpenAI-compatible endpoint: ``kgsynth llm start``, vLLM, OpenAI) and
:class:`LocalJudge` (``judge_local.py``: a packaged model name, .gguf or Hugging Face folder,
through transformers); :class:`LlamaScorer` (``judge_llama.py``) scores fluency with llama.cpp.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from kgsynth.errors import ConfigError
from kgsynth.evaluation.judge_llama import LlamaScorer
from kgsynth.evaluation.judge_local import LocalJudge
from kgsynth.evaluation.judge_server import ANSWER_SCHEMA, ServerJudge  # noqa: F401 - re-exported
from kgsynth.generation.record import NoteRecord


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
