"""Crash-safe JSONL shards: finished shards appear atomically, the open one is a journal.

Records go to ``<prefix>-NNNNN.jsonl.part``, one flushed and fsynced line each. When a
shard holds ``shard_size`` records it is renamed to ``.jsonl`` (atomic), so a reader
of ``*.jsonl`` never sees a half-written shard. After a kill, :meth:`ShardWriter.open`
drops a torn last line of the journal and carries on in it, so nothing is lost beyond
the record being written and nothing is duplicated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pydantic import BaseModel

from kgsynth import inputs
from kgsynth.errors import InputError


def _repair(path: Path) -> int:
    """Cut a journal back to its last complete, readable line; return the number of lines kept.

    A kill mid-write leaves a last line without its newline; a crash of the disk or an
    editor can leave one that is complete but not a JSON record. Either is the torn
    record being written, and is dropped.
    """
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep and _parse_line(data[data.rfind(b"\n", 0, keep - 1) + 1 : keep]) is None:
        keep = data.rfind(b"\n", 0, keep - 1) + 1
    if keep != len(data):
        with path.open("r+b") as fh:
            fh.truncate(keep)
    return data[:keep].count(b"\n")


def _parse_line(raw: bytes) -> dict | None:
    """One JSONL record, or ``None`` when the line is not a JSON object in UTF-8."""
    if inputs.line_problem(raw) is not None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def iter_rows(folder: Path, prefix: str) -> Iterator[tuple[Path, int, dict]]:
    """``(file, line number, record)`` of finished shards and the journal, in file order.

    The journal's last line may be torn (no newline, or not a record): it is dropped,
    as :meth:`ShardWriter.open` drops it on resume. Any other unreadable line is an
    :class:`InputError` naming the file and line: that is damage, not an interrupted write.
    """
    for path in sorted(folder.glob(f"{prefix}-*.jsonl*")):
        if not path.name.endswith((".jsonl", ".jsonl.part")):
            continue
        journal = path.name.endswith(".part")
        empty = inputs.check_file(path) == "file" and path.stat().st_size == 0
        lines = [] if empty else inputs.read_bytes(path).split(b"\n")
        if lines and lines[-1] and not journal:
            raise InputError(f"{path}, line {len(lines)}: the shard ends without a newline (a finished shard is "
                             "always complete: the file was cut or edited)")
        last = len(lines) - 2  # index of the last newline-terminated line
        for index, raw in enumerate(lines[:-1]):
            if not raw.strip():
                continue
            row = _parse_line(raw + b"\n")
            if row is None:
                if journal and index == last:
                    continue  # a torn last record of the journal
                raise InputError(f"{path}, line {index + 1}: not a JSON record (a damaged shard); remove or fix "
                                 "that line and run again")
            yield path, index + 1, row


def iter_lines(folder: Path, prefix: str) -> Iterator[dict]:
    """Every complete record of finished shards and the journal, in file order."""
    for _path, _line, row in iter_rows(folder, prefix):
        yield row


class ShardWriter:
    """Append records to numbered shards of ``shard_size`` lines under ``folder``."""

    def __init__(self, folder: Path, prefix: str = "notes", shard_size: int = 100) -> None:
        self.folder, self.prefix, self.shard_size = folder, prefix, shard_size
        self._fh: IO[bytes] | None = None
        self._count = 0
        self._shard = 0

    def _path(self, shard: int, part: bool) -> Path:
        return self.folder / f"{self.prefix}-{shard:05d}.jsonl{'.part' if part else ''}"

    def open(self) -> ShardWriter:
        self.folder.mkdir(parents=True, exist_ok=True)
        done = sorted(self.folder.glob(f"{self.prefix}-*.jsonl"))
        parts = sorted(self.folder.glob(f"{self.prefix}-*.jsonl.part"))
        self._shard = len(done)
        if parts:
            journal = parts[-1]
            self._shard = int(journal.name.split("-")[-1].split(".")[0])
            self._count = _repair(journal)
            self._fh = journal.open("ab")
        return self

    def write(self, record: BaseModel | dict) -> None:
        if self._fh is None:
            self._fh = self._path(self._shard, part=True).open("ab")
            self._count = 0
        data = record.model_dump(mode="json") if isinstance(record, BaseModel) else record
        self._fh.write((json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._count += 1
        if self._count >= self.shard_size:
            self._seal()

    def _seal(self) -> None:
        """Close the journal and publish it as a finished shard (atomic rename)."""
        if self._fh is None:
            return
        self._fh.close()
        self._fh = None
        os.replace(self._path(self._shard, part=True), self._path(self._shard, part=False))
        self._shard += 1
        self._count = 0

    def close(self, seal: bool = True) -> None:
        """Publish the open journal as a (short) final shard when ``seal``; else keep it for resuming."""
        if seal and self._count:
            self._seal()
        elif self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> ShardWriter:
        return self.open()

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.close(seal=exc_type is None)
