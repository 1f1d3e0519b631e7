"""The generation loop: jobs -> prompts -> backend -> aligned, validated records -> shards.

Job ``k`` writes a note for instance ``schedule[k]`` (the note plan of
:mod:`kgsynth.generation.note_plan`; without one, ``k mod len(instances)``) with a seed derived from
the run seed and ``k``, so a job always produces the same prompt and (for deterministic
backends) the same note. Each record stores its job number in ``decoding["job"]``; on
restart the jobs already in the dataset or the rejects file are skipped, which makes a
killed run resumable without duplicates. The plan is deterministic for its inputs, and
its fingerprint is kept in ``plan.json`` so a resume with a different plan is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from kgsynth.console import progress
from kgsynth.cypher.instance import MotifInstance
from kgsynth.generation.annotate import build_record, validate
from kgsynth.generation.backends.base import Backend, Draft
from kgsynth.generation.compose import Composer
from kgsynth.generation.dataset_folder import NOTES, REJECTS, check_out_folder, check_plan, done_jobs
from kgsynth.generation.lexicon import Lexicon, load_lexicon
from kgsynth.generation.note_plan import NotePlan
from kgsynth.generation.prompt import Prompt, PromptSettings, build_prompt, load_settings
from kgsynth.generation.record import NoteRecord
from kgsynth.generation.shards import ShardWriter
from kgsynth.generation.tags import TagError
from kgsynth.generation.written_forms import with_written_form

#: The ``attempt`` slot of :func:`job_seed` that seeds a job's composition (writing attempts count from 0).
COMPOSE_ATTEMPT = -1
#: The same for the written-form choice of a single-concept job.
WRITTEN_FORM_ATTEMPT = -2


class RunReport(BaseModel):
    """Figures of one ``generate`` run (printed; ``--json`` prints it as one object)."""

    out: str
    backend: str
    model: str
    requested: int
    written: int = 0
    rejected: int = 0
    skipped_done: int = 0
    retries: int = 0
    seconds: float = 0.0
    notes_per_s: float = 0.0
    completion_tokens: int = 0
    prompt_tokens: int = 0
    tokens_per_s: float = 0.0
    cost_usd: float = 0.0
    reject_reasons: dict[str, int] = Field(default_factory=dict)
    #: The note plan (per relation type: facts, notes, notes per fact); None without one.
    plan: dict[str, object] | None = None


def job_seed(seed: int, job: int, attempt: int = 0) -> int:
    digest = hashlib.sha256(f"{seed}:{job}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


class Outcome(BaseModel):
    job: int
    record: NoteRecord | None = None
    reason: str = ""
    last_output: str = ""
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


async def _draft_record(
    backend: Backend, instance: MotifInstance, prompt: Prompt, job: int, attempt_seed: int, attempt: int,
    dataset: str, lexicon: Lexicon, outcome: Outcome,
) -> tuple[Draft, NoteRecord] | None:
    """One draft turned into a record; ``None`` (with the reason on ``outcome``) when it is unsound."""
    try:
        draft = await backend.awrite(instance, prompt, attempt_seed)
    except TagError as exc:  # a backend may check its own output early
        outcome.reason = f"write failed: {exc}"
        return None
    outcome.prompt_tokens += draft.prompt_tokens
    outcome.completion_tokens += draft.completion_tokens
    outcome.cost_usd += draft.cost_usd
    outcome.last_output = draft.tagged
    decoding = {**backend.decoding(), "seed": attempt_seed, "job": job, "attempt": attempt}
    if draft.mean_logprob is not None:
        decoding["mean_logprob"] = round(draft.mean_logprob, 4)
    try:
        record = build_record(draft.tagged, instance, lexicon, note_type=prompt.note_type,
                              demographics=prompt.demographics, prompt=prompt.text, model=backend.model,
                              backend=backend.name, decoding=decoding, dataset=dataset)
    except TagError as exc:
        outcome.reason = f"unaligned tags: {exc}"
        return None
    problems = validate(record)
    if problems:
        outcome.reason = "invalid record: " + "; ".join(problems[:3])
        return None
    return draft, record


async def run_job(
    backend: Backend,
    instance: MotifInstance,
    job: int,
    seed: int,
    settings: PromptSettings,
    max_attempts: int = 3,
    extract: bool = True,
    dataset: str = "",
    best_of: int = 1,
    lexicon: Lexicon | None = None,
) -> Outcome:
    """Write, align, extract and validate one note; retry with a new seed up to ``max_attempts``.

    With ``best_of`` K each attempt draws K drafts and keeps the sound one with the highest
    mean token log-probability under the writer (the first, for writers that cannot tell).
    """
    lexicon = lexicon or load_lexicon()
    prompt = build_prompt(instance, random.Random(job_seed(seed, job)), settings, lexicon)
    outcome = Outcome(job=job)
    k = max(1, best_of)
    for attempt in range(max_attempts):
        outcome.attempts = attempt + 1
        sound = []
        for j in range(k):
            attempt_seed = job_seed(seed, job, attempt * k + j + 1)
            made = await _draft_record(backend, instance, prompt, job, attempt_seed, attempt + 1, dataset, lexicon,
                                       outcome)
            if made is not None:
                sound.append(made)
        if not sound:
            continue
        draft, record = max(sound, key=lambda m: -math.inf if m[0].mean_logprob is None else m[0].mean_logprob)
        if k > 1:
            record.decoding["best_of"] = k
        if extract and record.entities and not instance.single_concept:
            found = await backend.aextract(record.text, record.entities, record.note_type,
                                           int(record.decoding["seed"]))
            outcome.prompt_tokens += found.prompt_tokens
            outcome.completion_tokens += found.completion_tokens
            outcome.cost_usd += found.cost_usd
            record.extracted_relations = found.relations
            record.decoding["extraction"] = True  # ran, even when it found nothing
        problems = validate(record)
        if problems:
            outcome.reason = "invalid record: " + "; ".join(problems[:3])
            continue
        outcome.record = record
        outcome.reason = ""
        return outcome
    return outcome


def _jobs(n: int, skip: set[int]) -> Iterator[int]:
    return (job for job in range(n) if job not in skip)


async def _generate(
    instances: list[MotifInstance],
    backend: Backend,
    out: Path,
    n: int,
    seed: int,
    settings: PromptSettings,
    concurrency: int,
    max_attempts: int,
    extract: bool,
    shard_size: int,
    dataset: str,
    quiet: bool,
    best_of: int = 1,
    schedule: list[int] | None = None,
    note_style: str = "fact",
) -> RunReport:
    report = RunReport(out=str(out), backend=backend.name, model=backend.model, requested=n)
    lexicon = getattr(backend, "lexicon", None) or load_lexicon()
    if schedule is not None:
        n = min(n, len(schedule))

    composer = Composer(instances) if note_style == "abstract" else None

    def instance_of(job: int) -> MotifInstance:
        anchor = instances[schedule[job] if schedule is not None else job % len(instances)]
        if anchor.single_concept:
            return with_written_form(anchor, random.Random(job_seed(seed, job, WRITTEN_FORM_ATTEMPT)),
                                     settings.written_form_rate)
        if composer is None:
            return anchor
        return composer.compose(anchor, random.Random(job_seed(seed, job, COMPOSE_ATTEMPT)))

    skip = done_jobs(out) if out.exists() else set()
    report.skipped_done = len(skip & set(range(n)))
    todo = list(_jobs(n, skip))
    start = time.perf_counter()
    notes = ShardWriter(out, NOTES, shard_size).open()
    rejects = ShardWriter(out, REJECTS, 10**9).open()
    sealed = False
    try:
        with progress("notes", disable=quiet) as bar:
            task = bar.add_task(f"generate ({backend.name})", total=len(todo), rate="")
            pending: set[asyncio.Task[Outcome]] = set()
            queue = iter(todo)
            while True:
                while len(pending) < max(1, concurrency):
                    job = next(queue, None)
                    if job is None:
                        break
                    instance = instance_of(job)
                    pending.add(asyncio.ensure_future(
                        run_job(backend, instance, job, seed, settings, max_attempts, extract, dataset, best_of,
                                lexicon)))
                if not pending:
                    break
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for fut in finished:
                    result = fut.result()
                    report.retries += result.attempts - 1
                    report.prompt_tokens += result.prompt_tokens
                    report.completion_tokens += result.completion_tokens
                    report.cost_usd += result.cost_usd
                    if result.record is not None:
                        notes.write(result.record)
                        report.written += 1
                    else:
                        rejects.write({"job": result.job, "instance": instance_of(result.job).id,
                                       "reason": result.reason, "attempts": result.attempts,
                                       "last_output": result.last_output})
                        report.rejected += 1
                        key = result.reason.split(":")[0]
                        report.reject_reasons[key] = report.reject_reasons.get(key, 0) + 1
                    elapsed = max(time.perf_counter() - start, 1e-9)
                    bar.update(task, advance=1, rate=(
                        f"{(report.written + report.rejected) / elapsed:.2f} notes/s "
                        f"{report.completion_tokens / elapsed:.1f} tok/s {report.rejected} rejected"))
        sealed = True
    finally:
        notes.close(seal=sealed)
        rejects.close(seal=False)
        await backend.aclose()
    report.seconds = round(time.perf_counter() - start, 3)
    done = report.written + report.rejected
    report.notes_per_s = round(done / report.seconds, 3) if report.seconds else 0.0
    report.tokens_per_s = round(report.completion_tokens / report.seconds, 2) if report.seconds else 0.0
    report.cost_usd = round(report.cost_usd, 6)
    return report


def generate(
    instances: list[MotifInstance],
    backend: Backend,
    out: Path,
    n: int,
    seed: int = 0,
    settings: PromptSettings | None = None,
    concurrency: int = 1,
    max_attempts: int = 3,
    extract: bool = True,
    shard_size: int = 100,
    dataset: str = "",
    quiet: bool = False,
    best_of: int = 1,
    plan: NotePlan | None = None,
    note_style: str = "fact",
) -> RunReport:
    """Generate ``n`` notes into ``out`` (resuming what is there); returns the run's figures.

    With a ``plan`` (:func:`~kgsynth.generation.note_plan.plan_notes`), job ``k`` writes
    about ``instances[plan.schedule[k]]`` and at most ``plan.planned`` notes are written.
    ``note_style="abstract"`` grows each job's instance into a multi-fact note with
    distractor concepts (:mod:`kgsynth.generation.compose`), seeded by the job.
    """
    check_out_folder(out)
    if plan is not None:
        check_plan(out, plan, note_style)
    report = asyncio.run(_generate(instances, backend, out, n, seed, settings or load_settings(), concurrency,
                                   max_attempts, extract, shard_size, dataset or out.name, quiet,
                                   best_of, plan.schedule if plan is not None else None, note_style))
    if plan is not None:
        report.plan = plan.model_dump(mode="json")
    return report
