"""User-facing errors.

The CLI turns a :class:`KgsynthError` into one clear line on stderr and a non-zero
exit code, with no traceback, so every module raises these for bad input or an
unreachable service instead of letting library exceptions escape.
"""

from __future__ import annotations

from typing import Any


class KgsynthError(Exception):
    """An error the user can act on; its message is shown as is."""

    exit_code: int = 1


class ConfigError(KgsynthError):
    """Bad settings, flags or a missing tool (Java, Maven)."""

    exit_code = 2


class InputError(KgsynthError):
    """Malformed input data: the message names the file and line or the record."""

    exit_code = 3


class StoreError(KgsynthError):
    """The graph store cannot be reached, authenticated or read."""

    exit_code = 4


def validation_detail(exc: Any, top: str = "record") -> str:
    """``"where: what"`` of a pydantic ``ValidationError``'s first error, for a message naming the line.

    ``where`` is the dotted field path (``relations.0.type``), ``top`` when the whole value is wrong.
    """
    first = exc.errors()[0]
    return f"{'.'.join(str(x) for x in first['loc']) or top}: {first['msg']}"
