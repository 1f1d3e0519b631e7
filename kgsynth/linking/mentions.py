"""Mentions to link, read from any annotated file ``kgsynth evaluate`` reads, and the predictions file.

A mention keeps its document, span, text, semantic group and gold ids (empty when the
source has none, e.g. BC5CDR's ``-1``), plus a window of context. A span that does not
lie inside its text, or whose text differs from what the span covers, is a clear error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field

from kgsynth import inputs
from kgsynth.atomic import write_lines_atomic
from kgsynth.errors import InputError
from kgsynth.evaluation.convert import concept_ids
from kgsynth.evaluation.readers import read_records
from kgsynth.generation.record import NoteRecord
from kgsynth.linking.abbreviations import abbreviations


class LinkMention(BaseModel):
    doc: str
    start: int
    end: int
    text: str
    group: str
    gold: list[str] = Field(default_factory=list)
    context: str = ""
    #: The long form when the mention is a short form its document defines ("FMF" -> "familial
    #: Mediterranean fever", :mod:`kgsynth.linking.abbreviations`); empty otherwise.
    expansion: str = ""

    @property
    def lookup(self) -> str:
        """What a linker looks up: the long form of an abbreviation, else the mention's text."""
        return self.expansion or self.text


class LinkPrediction(LinkMention):
    """A mention with the linker's ranked concept ids (best first)."""

    candidates: list[str] = Field(default_factory=list)


def context_of(text: str, start: int, end: int, chars: int = 100) -> str:
    """The mention with up to ``chars`` characters either side, cut at spaces."""
    left = text[max(0, start - chars):start]
    right = text[end:end + chars]
    left = left.split(" ", 1)[1] if " " in left and start - chars > 0 else left
    right = right.rsplit(" ", 1)[0] if " " in right and end + chars < len(text) else right
    return " ".join(f"{left}{text[start:end]}{right}".split())


def mentions_of(records: Iterable[NoteRecord], source: str = "",
                resolve_abbreviations: bool = True) -> list[LinkMention]:
    """Every entity of ``records`` as a mention; a span outside its text raises :class:`InputError`.

    A mention that is a short form its document defines gets the long form as ``expansion``
    (unless ``resolve_abbreviations`` is off)."""
    out = []
    for record in records:
        problems = record.span_errors()
        if problems:
            raise InputError(f"{source or 'input'}: document {record.id}: {problems[0]}")
        defined = abbreviations(record.text) if resolve_abbreviations else {}
        for e in record.entities:
            out.append(LinkMention(doc=record.id, start=e.start, end=e.end, text=e.text, group=e.type,
                                   gold=[c for c in concept_ids(e) if not c.endswith(":-1")],
                                   context=context_of(record.text, e.start, e.end),
                                   expansion=defined.get(e.text.strip(), "")))
    return out


def read_mentions(path: Path, resolve_abbreviations: bool = True) -> list[LinkMention]:
    """Mentions of a PubTator / BioC / NoteRecord JSONL file."""
    return mentions_of(read_records(path).records, str(path), resolve_abbreviations)


def write_predictions(path: Path, predictions: list[LinkPrediction]) -> None:
    write_lines_atomic(path, [p.model_dump_json() for p in predictions])


def read_predictions(path: Path) -> list[LinkPrediction]:
    """Predictions written by ``kgsynth link``; a bad line names file and line."""
    out = []
    for number, line in enumerate(inputs.read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(LinkPrediction.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValueError) as exc:
            raise InputError(f"{path}, line {number}: not a link prediction ({str(exc)[:120]})") from exc
    if not out:
        raise InputError(f"{path}: no predictions")
    return out


def is_link_predictions(path: Path) -> bool:
    """True for a ``kgsynth link`` output (a JSONL whose first object has ``candidates``)."""
    try:  # a peek that leaves a pipe readable and never blocks on a FIFO (kgsynth.inputs)
        first = json.loads(inputs.head(path).split(b"\n", 1)[0].decode("utf-8") or "null")
    except (InputError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False  # not link output: the corpus/record readers say what is wrong with it
    return isinstance(first, dict) and "candidates" in first
