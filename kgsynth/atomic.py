"""Atomic file writes: every output file is either the old one or the complete new one.

A temp file in the target's folder is written, fsync'd and renamed over the target
(``os.replace`` is atomic on one filesystem), so a crash or kill mid-write never
leaves a truncated JSONL, report or graph behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from kgsynth.errors import InputError


def _cannot_write(path: Path, exc: OSError) -> InputError:
    return InputError(f"{path}: cannot write here ({exc.strerror or exc}); give a path in a folder you may write to")


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temp file beside ``path``; on a clean exit it replaces ``path``, else it vanishes.

    An output that is a folder (``--out .``) or that cannot be written (a read-only folder
    or file) is an :class:`InputError` naming it, never a raw ``OSError``.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name for this output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are meant to be shared
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _cannot_write(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_open(path) as handle:
        handle.write(text)


def write_lines_atomic(path: str | Path, lines: Iterable[str]) -> None:
    """Write each line followed by a newline, all or nothing."""
    with atomic_open(path) as handle:
        for line in lines:
            handle.write(line + "\n")
