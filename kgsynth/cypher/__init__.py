"""Every Cypher query of the project, kept in ``.cypher`` files beside this module.

A file holds named queries, each introduced by a ``// name: NAME`` line. Labels and
relationship types cannot be Cypher parameters, so a query may contain the
placeholders ``__LABEL__`` / ``__TYPE__`` (and ``__TYPE1__``..), which
:func:`render` fills only with names from the schema allowlist. Everything else
is passed as ``$parameters``.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from kgsynth.errors import ConfigError
from kgsynth.graph.schema import (
    CONCEPT_LABEL,
    NOTE_LABEL,
    NOTE_RELATION_TYPES,
    RELATION_TYPES,
    SEMANTIC_GROUPS,
    cypher_identifier,
)

_NAME_LINE = re.compile(r"^//\s*name:\s*(\S+)\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"__([A-Z][A-Z0-9]*)__")
_ALLOWED_NAMES = (*SEMANTIC_GROUPS, CONCEPT_LABEL, NOTE_LABEL, *RELATION_TYPES, *NOTE_RELATION_TYPES)


@cache
def load_queries(file: str) -> dict[str, str]:
    """Named queries of ``kgsynth/cypher/<file>.cypher``, in file order."""
    text = resources.files(__package__).joinpath(f"{file}.cypher").read_text(encoding="utf-8")
    parts = _NAME_LINE.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def query(file: str, name: str, **identifiers: str) -> str:
    """The text of one named query with its placeholders filled from the allowlist."""
    queries = load_queries(file)
    if name not in queries:
        raise ConfigError(f"no query {name!r} in {file}.cypher")
    return render(queries[name], **identifiers)


def render(text: str, **identifiers: str) -> str:
    """Fill ``__NAME__`` placeholders; each value must be an allowlisted label or type."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in identifiers:
            raise ConfigError(f"query placeholder __{key}__ has no value")
        return cypher_identifier(identifiers[key], _ALLOWED_NAMES)

    return _PLACEHOLDER.sub(fill, text)
