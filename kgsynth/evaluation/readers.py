"""Read gold or predicted annotations from any supported file into NoteRecords.

One entry point, :func:`read_records`, so ``kgsynth evaluate`` takes BioRED,
BC5CDR, NCBI-disease (PubTator / BioC) and the project's own JSONL alike. Corpus
formats carry document-level relations, so they report ``relation_level="concept"``;
JSONL notes carry mention-level ones. A directory means every ``*.jsonl`` in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from kgsynth import inputs
from kgsynth.atomic import atomic_open
from kgsynth.errors import InputError
from kgsynth.evaluation.convert import to_note_record
from kgsynth.generation.record import NoteRecord, iter_jsonl_records
from kgsynth.loaders.corpus import detect_format, read_documents

RecordFormat = Literal["jsonl", "pubtator", "bioc-xml", "bioc-json"]


class RecordSet(BaseModel):
    records: list[NoteRecord]
    format: RecordFormat
    relation_level: Literal["mention", "concept"]
    path: str


def detect_record_format(path: Path) -> RecordFormat:
    """JSONL of NoteRecords when the first line is an object with ``text``; else a corpus format."""
    path = Path(path)
    if path.is_dir():
        return "jsonl"
    if path.suffix.lower() == ".jsonl":
        return "jsonl"
    first = inputs.head(path, 1 << 20).split(b"\n", 1)[0].decode("utf-8", "ignore").lstrip("\ufeff").strip()
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except (json.JSONDecodeError, RecursionError):
            obj = None
        if isinstance(obj, dict) and "text" in obj and "passages" not in obj:
            return "jsonl"
    return detect_format(path)


def read_records(path: Path | str, fmt: RecordFormat | None = None, sound: bool = False) -> RecordSet:
    """All records of ``path``; an empty input is an error, never an empty score.

    ``sound``: note JSONL whose offsets or relation endpoints are broken is an error (training;
    ``evaluate`` counts such predictions in its report instead, ``check`` flags them; corpus
    readers refuse such documents anyway).
    """
    path = Path(path)
    if not path.is_dir() and inputs.check_file(path) == "file" and path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    fmt = fmt or detect_record_format(path)
    if fmt == "jsonl":
        records = list(iter_jsonl_records(path, sound=sound))
        level: Literal["mention", "concept"] = "mention"
    else:
        dataset = path.name
        records = [to_note_record(doc, dataset=dataset) for doc in read_documents(path, fmt)]
        level = "concept"
    if not records:
        raise InputError(f"{path}: no documents found")
    _check_ids(path, records)
    return RecordSet(records=records, format=fmt, relation_level=level, path=str(path))


def _check_ids(path: Path, records: list[NoteRecord]) -> None:
    """Two documents with one id and different texts cannot be scored (exact repeats are left as they are)."""
    texts: dict[str, str] = {}
    for record in records:
        if texts.setdefault(record.id, record.text) != record.text:
            raise InputError(f"{path}: document id {record.id} is used by two documents with different text; "
                             "give each document its own id")


def write_records(path: Path | str, records: Iterable[NoteRecord]) -> int:
    """Write NoteRecord JSONL atomically (see :mod:`kgsynth.atomic`); returns how many."""
    n = 0
    with atomic_open(path) as fh:
        for record in records:
            fh.write(record.model_dump_json() + "\n")
            n += 1
    return n
