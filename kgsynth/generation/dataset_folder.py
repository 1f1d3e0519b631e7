"""A generated dataset's folder: note and reject shards, the note plan, resuming.

``generate`` writes records to ``notes-*.jsonl`` shards and failed jobs to ``rejects-*``
(:mod:`kgsynth.generation.shards`); each row keeps its job number, which is what a resumed
run skips. ``plan.json`` holds the note plan's fingerprint so a resume with another plan is
refused. Everything that reads such a folder back (export, check, the benches) uses
:func:`read_notes`.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from kgsynth.atomic import write_text_atomic
from kgsynth.errors import ConfigError, InputError, validation_detail
from kgsynth.generation.annotate import validate
from kgsynth.generation.note_plan import NotePlan
from kgsynth.generation.record import NoteRecord
from kgsynth.generation.shards import iter_lines, iter_rows

NOTES = "notes"
REJECTS = "rejects"
PLAN_FILE = "plan.json"


def check_out_folder(out: Path) -> None:
    """``--out`` must be a dataset folder (new or earlier): not a file, not the current or a root folder."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file, not a dataset folder; give a new folder (or one written by "
                         "`kgsynth generate` to resume it)")
    resolved = out.resolve()
    if resolved == Path.cwd().resolve() or resolved == Path(resolved.anchor):
        raise InputError(f"--out {out}: give a folder of its own for the dataset, not the current folder or /")


def done_jobs(out: Path) -> set[int]:
    """Jobs already written to the dataset or the rejects file of ``out``."""
    done = set()
    for prefix in (NOTES, REJECTS):
        for row in iter_lines(out, prefix):
            job = (row.get("decoding") or {}).get("job", row.get("job"))
            if isinstance(job, int):
                done.add(job)
    return done


def check_plan(out: Path, plan: NotePlan, note_style: str = "fact") -> None:
    """Record the plan's fingerprint in ``out``; refuse to resume a dataset made with another plan."""
    path = out / PLAN_FILE
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: unreadable note plan ({exc})") from exc
        if (old.get("fingerprint"), old.get("note_style", "fact")) != (plan.fingerprint, note_style):
            raise ConfigError(
                f"{out} was generated with another note plan (instances, --n, --seed, --balance, "
                f"--max-notes-per-fact or --note-style differ); use a new --out or the same options"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, {**plan.model_dump(mode="json"), "note_style": note_style})


def read_notes(out: Path) -> list[NoteRecord]:
    """Every record of a generated dataset folder (finished shards and journal), checked as export needs it.

    Each line must be a complete, well-typed note (strict: no numbers as strings) that
    keeps every guarantee generation checked when it wrote it (:func:`validate`: offsets
    give their text, entity ids unique, relations between them); anything else is an
    :class:`InputError` naming the shard and line.
    """
    records = []
    for path, number, row in iter_rows(out, NOTES):
        try:
            record = NoteRecord.model_validate(row, strict=True)
        except ValidationError as exc:
            raise InputError(f"{path}:{number}: invalid note record: {validation_detail(exc)}") from None
        problems = validate(record)
        if problems:
            raise InputError(f"{path}:{number}: note {record.id}: {problems[0]}")
        records.append(record)
    return records


def write_json(path: Path, data: object) -> None:
    """Small atomic JSON write (reports, manifests)."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str))
