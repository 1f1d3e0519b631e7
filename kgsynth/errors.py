"""User-facing errors.

The CLI turns a :class:`KgsynthError` into one clear line on stderr and a non-zero
exit code, with no traceback, so every module raises these for bad input or an
unreachable service instead of letting library exceptions escape.
"""

from __future__ import annotations


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
