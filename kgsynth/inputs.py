"""The one way input files are opened and decoded, so every reader refuses the same things.

Every reader (loaders, corpus and evaluation readers, note and instance JSONL, YAML
configs) goes through here, which gives them one set of guarantees:

- only regular files and pipes are read: a directory, a dangling symbolic link, a
  link loop, a device or a socket is refused by name; a named pipe is opened without
  blocking, so one with no writer reads as empty instead of hanging;
- a pipe (``<(cat file)``, ``/dev/stdin``) is read once into memory and every later
  open of the same path (format detection, then the reader) gets that buffer, so
  peeking at the head never loses data;
- text is UTF-8: a UTF-8 byte-order mark is dropped, a UTF-16/32 one is refused, and
  bytes that are not UTF-8 are refused with their line and byte offset;
- NUL bytes, carriage returns inside a line (old Mac line endings) and lines longer
  than :data:`MAX_LINE_BYTES` are refused with their line;
- JSON nesting deeper than :data:`MAX_DEPTH` is refused instead of exhausting the stack.

Errors are :class:`~kgsynth.errors.InputError` naming the file (and line) and what to do.
"""

from __future__ import annotations

import codecs
import errno
import io
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from kgsynth.errors import InputError, validation_detail

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

#: Longest line a line-based reader accepts (PubTator abstracts are a few KB).
MAX_LINE_BYTES = 16 * 2**20
#: Most bytes read from a pipe into memory.
MAX_PIPE_BYTES = 2 * 2**30
#: Deepest JSON/YAML nesting accepted (real BioC/OBO-graph files stay under 10).
MAX_DEPTH = 100

_FOREIGN_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
)
_CONVERT = "convert it to UTF-8 (e.g. iconv -f LATIN1 -t UTF-8)"
#: Pipes read so far, by path: a second open of the same pipe gets the same bytes.
_PIPES: dict[str, bytes] = {}

#: Called for a bad line by lenient readers: (line number, raw text, reason, detail).
OnBadLine = Callable[[int, str, str, str], None]


def check_file(path: Path) -> str:
    """``"file"`` or ``"pipe"`` for a readable input; anything else raises :class:`InputError`."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise InputError(f"{path}: dangling symbolic link (its target {os.readlink(path)!r} does not "
                             "exist)") from None
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{path}: symbolic link loop") from None
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISREG(info.st_mode):
        return "file"
    if stat.S_ISFIFO(info.st_mode):
        return "pipe"
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: is a directory; give a file")
    raise InputError(f"{path}: not a regular file (a device or socket); give a file")


def is_input_entry(path: Path) -> bool:
    """Whether anything is at ``path`` (even a dangling link): optional inputs that are present must be valid."""
    return os.path.lexists(path)


def _read_pipe(path: Path) -> bytes:
    key = str(path)
    if key in _PIPES:
        return _PIPES[key]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a named pipe without a writer must not hang
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    os.set_blocking(fd, True)
    chunks: list[bytes] = []
    size = 0
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_PIPE_BYTES:
                raise InputError(f"{path}: more than {MAX_PIPE_BYTES:,} bytes through a pipe; "
                                 "write it to a file and pass that")
    data = b"".join(chunks)
    if not data:
        raise InputError(f"{path}: a pipe that gave no data (a named pipe with no writer, or an empty stream)")
    _PIPES[key] = data
    return data


def open_binary(path: Path | str) -> BinaryIO:
    """A binary handle at byte 0: the file itself, or the buffered bytes of a pipe."""
    path = Path(path)
    if check_file(path) == "pipe":
        return io.BytesIO(_read_pipe(path))
    try:
        return open(path, "rb")  # noqa: SIM115 - handed to the caller
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def read_bytes(path: Path | str) -> bytes:
    """All bytes of a file or pipe; an empty input is an error."""
    with open_binary(path) as handle:
        data = handle.read()
    if not data:
        raise InputError(f"{path}: the file is empty")
    return data


def head(path: Path | str, n: int = 4096) -> bytes:
    """The first ``n`` bytes, without consuming a pipe (it stays buffered for the reader)."""
    with open_binary(path) as handle:
        return handle.read(n)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _foreign_bom(data: bytes) -> str | None:
    return next((name for bom, name in _FOREIGN_BOMS if data.startswith(bom)), None)


def refuse_foreign_bom(data: bytes, where: Path | str) -> None:
    """Raise for a UTF-16/32 byte-order mark at the start of ``data`` (for readers that decode themselves)."""
    encoding = _foreign_bom(data)
    if encoding:
        raise InputError(f"{where}: {encoding} text (byte-order mark); {_CONVERT.replace('LATIN1', encoding)}")


def refuse_foreign_encoding(head: bytes, where: Path | str) -> None:
    """:func:`refuse_foreign_bom`, and also UTF-16/32 *without* a byte-order mark (a NUL in the first
    bytes), for readers that hand raw bytes to a parser that would decode such text itself (lxml)."""
    refuse_foreign_bom(head, where)
    if b"\0" in head[:4]:
        raise InputError(f"{where}, line 1: NUL byte at byte {head.index(0)} (UTF-16/32 text without a "
                         f"byte-order mark, or a binary file?); {_CONVERT.replace('LATIN1', 'UTF-16')}")


def decode(data: bytes, where: Path | str) -> str:
    """UTF-8 text of a whole file (BOM dropped); any other encoding or a NUL byte is refused."""
    refuse_foreign_bom(data, where)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    nul = data.find(b"\0")
    if nul >= 0:
        raise InputError(f"{where}, line {_line_of(data, nul)}: NUL byte at byte {nul} (a binary file, or "
                         "UTF-16 text?)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}, line {_line_of(data, exc.start)}: {_decode_problem(exc, len(data))} at "
                         f"byte {exc.start}") from None


def _decode_problem(exc: UnicodeDecodeError, size: int) -> str:
    if exc.end >= size and exc.reason == "unexpected end of data":
        return "the file ends in the middle of a UTF-8 character (truncated?)"
    return f"not UTF-8 text; {_CONVERT}"


def read_text(path: Path | str) -> str:
    """The decoded text of a whole file or pipe (see :func:`decode`)."""
    return decode(read_bytes(path), path)


def line_problem(data: bytes) -> tuple[str, str] | None:
    """Why one raw line (newline included) cannot be read as text, as (reason, detail); ``None`` when fine."""
    body = data.rstrip(b"\r\n") if data.endswith(b"\n") else data.rstrip(b"\r")
    if b"\0" in body:
        return "NUL byte", f"at column {body.index(0) + 1} (a binary file, or UTF-16 text?)"
    if b"\r" in body:
        return "carriage return inside a line", "old Mac (CR-only) line endings? convert them to LF"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end >= len(body) and exc.reason == "unexpected end of data" and not data.endswith(b"\n"):
            return "not UTF-8 text", "the file ends in the middle of a UTF-8 character (truncated?)"
        return "not UTF-8 text", f"byte {exc.start} of the line; {_CONVERT}"
    return None


def iter_lines(path: Path | str, on_bad: OnBadLine | None = None) -> Iterator[tuple[int, str, bool]]:
    """``(line number, text without newline, cut)`` for each line; ``cut``: the last line has no newline.

    A line that is not clean UTF-8 text (see :func:`line_problem`) raises, or with
    ``on_bad`` is reported to it and skipped. A line over :data:`MAX_LINE_BYTES` or a
    UTF-16/32 byte-order mark always raises: nothing after it can be trusted.
    """
    path = Path(path)
    with open_binary(path) as handle:
        number = 0
        while data := handle.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(data) > MAX_LINE_BYTES:
                raise InputError(f"{path}, line {number}: line longer than {MAX_LINE_BYTES:,} bytes (not a "
                                 "line-based text file?)")
            if number == 1:
                refuse_foreign_bom(data, path)
                if data.startswith(codecs.BOM_UTF8):
                    data = data[len(codecs.BOM_UTF8):]
            problem = line_problem(data)
            if problem is not None:
                reason, detail = problem
                if on_bad is None:
                    raise InputError(f"{path}, line {number}: {reason}: {detail}")
                on_bad(number, data.decode("utf-8", "replace").rstrip("\r\n"), reason, detail)
                continue
            yield number, data.decode("utf-8").rstrip("\r\n"), not data.endswith(b"\n")


def iter_models(path: Path | str, model: type[M], what: str) -> Iterator[tuple[int, M]]:
    """``(line number, model)`` for every non-blank JSONL line of ``path``, validated as ``model``.

    A line that is not one is an :class:`InputError` naming the file, the line and the field
    ("data.jsonl:7: not a motif instance: relations.0.type: ..."), ``what`` saying what it should be.
    """
    from pydantic import ValidationError

    for number, line, _cut in iter_lines(path):
        if not line.strip():
            continue
        try:
            yield number, model.model_validate_json(line)
        except ValidationError as exc:
            raise InputError(f"{path}:{number}: {what}: {validation_detail(exc)}") from None


def depth_of(value: object, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of parsed JSON/YAML, counting only up to ``limit + 1`` (no deep recursion)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


class JsonError(InputError):
    """Text that is not JSON (or nested too deeply); ``line`` and ``reason`` let readers word it their way."""

    def __init__(self, where: str, line: int | None, reason: str) -> None:
        super().__init__(f"{where}, line {line}: {reason}" if line is not None else f"{where}: {reason}")
        self.line, self.reason = line, reason


def parse_json(text: str, where: Path | str, line: int | None = None) -> object:
    """``json.loads`` whose every failure is a :class:`JsonError` naming ``where`` and the line."""
    too_deep = f"JSON nested too deeply (more than {MAX_DEPTH} levels)"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonError(str(where), line if line is not None else exc.lineno,
                        f"not valid JSON ({exc.msg} at column {exc.colno}; truncated?)") from None
    except RecursionError:
        raise JsonError(str(where), line, too_deep) from None
    if depth_of(value) > MAX_DEPTH:
        raise JsonError(str(where), line, too_deep)
    return value


def load_json(path: Path | str) -> object:
    """A whole JSON file or pipe, decoded and parsed with every failure named."""
    return parse_json(read_text(path), path)


def _flow_depth(text: str) -> int:
    """Deepest nesting of ``[`` / ``{`` brackets, stopping once past :data:`MAX_DEPTH` (quotes are not parsed:
    a bound, not a parser)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    break
        elif char in "]}":
            depth = max(depth - 1, 0)
    return deepest


YamlPath = tuple[str | int, ...]


def yaml_lines(text: str) -> dict[YamlPath, int]:
    """The 1-based line of every mapping key and sequence item of a YAML text, by its path.

    For errors found after parsing (a motif's shape, a config's value) to name the line;
    ``{}`` for text that does not parse (the parse error names its own line).
    """
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return {}
    lines: dict[YamlPath, int] = {}
    stack: list[tuple[YamlPath, object]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if node is None:
            continue
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*path, key.value)
                lines[here] = key.start_mark.line + 1
                stack.append((here, value))
        elif isinstance(node, yaml.SequenceNode):
            for index, value in enumerate(node.value):
                stack.append(((*path, index), value))
    return lines


def line_at(lines: dict[YamlPath, int], path: YamlPath) -> int | None:
    """The line of ``path``, or of its nearest enclosing key that has one."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def yaml_error_line(exc: Exception, text: str) -> int | None:
    """The 1-based line a PyYAML error points at (a parser mark, or a reader's character position)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return mark.line + 1
    position = getattr(exc, "position", None)  # yaml.reader.ReaderError: a character YAML does not allow
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def read_yaml_text(path: Path | str, error: type[Exception] = InputError) -> str:
    """The text of a YAML file, checked as :func:`read_text` does and for bracket nesting (which would
    take PyYAML seconds to reach its recursion limit); failures raise ``error``."""
    try:
        text = read_text(path)
    except InputError as exc:
        raise error(str(exc)) from None
    if _flow_depth(text) > MAX_DEPTH:
        raise error(f"{path}: YAML nested too deeply (more than {MAX_DEPTH} levels)")
    return text


def yaml_location(path: Path | str, loc: tuple[object, ...]) -> str:
    """``path, line N`` of the YAML key or item at ``loc`` (a pydantic error's location), else ``path``."""
    try:
        lines = yaml_lines(read_text(path))
    except InputError:
        return str(path)
    line = line_at(lines, tuple(str(p) if not isinstance(p, int) else p for p in loc))
    return f"{path}, line {line}" if line is not None else str(path)


def load_yaml(path: Path | str, error: type[Exception] = InputError) -> object:
    """A YAML file (safe loader); failures raise ``error`` (``ConfigError`` for settings files)."""
    import yaml

    text = read_yaml_text(path, error)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = yaml_error_line(exc, text)
        where = f"{path}, line {line}" if line is not None else str(path)
        raise error(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or _first_line(exc)})") from None
    except RecursionError:
        raise error(f"{path}: YAML nested too deeply (more than {MAX_DEPTH} levels)") from None
    if depth_of(value) > MAX_DEPTH:
        raise error(f"{path}: YAML nested too deeply (more than {MAX_DEPTH} levels)")
    return value
