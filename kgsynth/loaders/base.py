"""The one small interface every source loader implements, and its load report.

A loader turns input rows into a stream of :class:`Concept` and :class:`Relation`
records; it never talks to a store. The runner (:mod:`kgsynth.loaders.runner`)
batches that stream into the store. Keeping the two apart means every loader is a
plain generator that can be tested without a database, and every store gets the
same batching, checkpointing and progress reporting.

Malformed rows go through :meth:`LoadContext.bad`: in strict mode (the default)
that raises :class:`InputError` naming file, line and what is wrong; in lenient
mode (``--skip-bad``) it counts the reason and appends the raw line to a rejects
file, so nothing is silently lost.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pydantic import BaseModel, Field

from kgsynth import inputs
from kgsynth.errors import InputError
from kgsynth.graph.model import Concept, Relation, merge_lists

if TYPE_CHECKING:
    from kgsynth.loaders.bulk_merge import BulkMerger

Record = Concept | Relation


class LoadReport(BaseModel):
    """What a load did, printed at the end of every ``kgsynth load`` command.

    ``rows_read``: input data rows (not headers/comments; documents for corpora,
    terms for ontology JSON). ``*_loaded``: records written to the store after
    in-batch merging; an id written again by a later batch (UMLS MRSTY adding
    semantic types) counts again. ``merged``: rows folded into another record
    (MRCONSO atoms into one CUI, a fact stated in two abstracts, a repeated RF2 id).
    ``skipped_by_reason``: rows deliberately left out (filters) or, with
    ``--skip-bad``, malformed ones. ``unknown_labels``: source relation labels
    absent from the mapping table, loaded as RELATED_TO.
    """

    source: str
    files: list[str] = Field(default_factory=list)
    store: str = ""
    rows_read: int = 0
    concepts_loaded: int = 0
    relations_loaded: int = 0
    merged: int = 0
    skipped: int = 0
    skipped_by_reason: dict[str, int] = Field(default_factory=dict)
    concepts_by_group: dict[str, int] = Field(default_factory=dict)
    relations_by_type: dict[str, int] = Field(default_factory=dict)
    unknown_labels: dict[str, int] = Field(default_factory=dict)
    rejects_file: str | None = None
    batches: int = 0
    seconds: float = 0.0
    rows_per_second: float = 0.0


class LoadContext:
    """Per-load state a loader reports into: rows read, bad rows, unknown labels.

    ``on_rows`` lets the runner advance its progress bar without the loader
    knowing about one.
    """

    def __init__(
        self,
        strict: bool = True,
        rejects: Path | None = None,
        on_rows: Callable[[int], None] | None = None,
    ) -> None:
        self.strict = strict
        self.rejects_path = rejects
        self.on_rows = on_rows
        self.rows_read = 0
        self.skipped: Counter[str] = Counter()
        self.unknown_labels: Counter[str] = Counter()
        self.merged = 0
        self.files: list[str] = []
        self._rejects: TextIO | None = None

    def read(self, n: int = 1) -> None:
        """Count ``n`` input rows read (data rows, not comments or headers)."""
        self.rows_read += n
        if self.on_rows is not None:
            self.on_rows(n)

    def opened(self, path: Path) -> None:
        if str(path) not in self.files:
            self.files.append(str(path))

    def bad(self, path: Path | str, line: int | str | None, raw: str, reason: str, detail: str = "") -> None:
        """A malformed row: raise in strict mode, else count ``reason`` and keep ``raw``.

        ``line`` is a line number, or for records of a JSON file that have none the record
        (``documents[3]``, ``term #2``), so a rejects row always says where its record was.
        """
        where = (f"{path}, line {line}" if isinstance(line, int) else f"{path}, {line}" if line else str(path))
        if self.strict:
            hint = " (use --skip-bad to skip such rows)"
            raise InputError(f"{where}: {reason}{': ' + detail if detail else ''}{hint}")
        self.skipped[reason] += 1
        if self.rejects_path is not None:
            if self._rejects is None:
                self.rejects_path.parent.mkdir(parents=True, exist_ok=True)
                self._rejects = open(self.rejects_path, "w", encoding="utf-8")  # noqa: SIM115
            why = f"{reason}: {' '.join(detail.split())}" if detail else reason  # counted by reason alone
            for text in raw.rstrip("\n").split("\n"):  # a skipped document keeps all its lines
                self._rejects.write(f"{where}\t{why}\t{text}\n")

    def skip(self, reason: str, n: int = 1) -> None:
        """A well-formed row deliberately left out (filtered), counted by reason."""
        if n:
            self.skipped[reason] += n

    def unknown_label(self, label: str) -> None:
        self.unknown_labels[label] += 1

    def close(self) -> None:
        if self._rejects is not None:
            self._rejects.close()
            self._rejects = None


class Loader(ABC):
    """A source: rows in, a stream of concepts and relations out."""

    #: Short source name used in provenance and reports (``UMLS``, ``SNOMEDCT`` ...).
    source: str = "abstract"

    @abstractmethod
    def records(self, ctx: LoadContext) -> Iterator[Record]:
        """Yield concepts and relations in a deterministic order (same input, same stream)."""

    def feed_bulk(self, ctx: LoadContext, merger: BulkMerger) -> None:
        """Hand the stream to the bulk path's merger; a loader with a native reader for a big file overrides it."""
        merger.add_all(self.records(ctx))


# -- reading helpers shared by the loaders --------------------------------------
def iter_lines(path: Path, ctx: LoadContext) -> Iterator[tuple[int, str, bool]]:
    """Yield ``(line number, text without newline, cut)`` for every line of ``path``.

    ``cut`` is true for a last line with no newline: in these line-per-record
    formats that means the file was truncated, which the caller reports as such if
    the row is also malformed. The file is read by :func:`kgsynth.inputs.iter_lines`:
    a line that is not clean UTF-8 text (bad bytes, a NUL byte, a stray carriage
    return) is a bad row with its line number; a directory, a dangling link, an empty
    file stop the load.
    """
    if inputs.check_file(path) == "file" and path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    ctx.opened(path)

    def bad(number: int, raw: str, reason: str, detail: str) -> None:
        ctx.read()
        ctx.bad(path, number, raw, reason, detail)

    yield from inputs.iter_lines(path, on_bad=bad)


def merge_record(old: Record, new: Record) -> Record:
    """Fold ``new`` into ``old`` with the store's upsert rule, so in-batch merges match the store."""
    if isinstance(old, Concept) and isinstance(new, Concept):
        return old.model_copy(
            update={
                "name": old.name or new.name,
                "group": new.group if old.group == "Other" else old.group,
                "synonyms": merge_lists(old.synonyms, new.synonyms),
                "semantic_types": merge_lists(old.semantic_types, new.semantic_types),
                "xrefs": merge_lists(old.xrefs, new.xrefs),
                "provenance": merge_lists(old.provenance, new.provenance),
            }
        )
    if isinstance(old, Relation) and isinstance(new, Relation):
        return old.model_copy(
            update={
                "novelty": old.novelty or new.novelty,
                "source_labels": merge_lists(old.source_labels, new.source_labels),
                "evidence": merge_lists(old.evidence, new.evidence),
                "provenance": merge_lists(old.provenance, new.provenance),
            }
        )
    raise TypeError("cannot merge a concept with a relation")


def split_row(
    path: Path, number: int, text: str, cut: bool, expected: int, sep: str, ctx: LoadContext
) -> list[str] | None:
    """Split one delimited row and check its column count; ``None`` means it was skipped as bad."""
    fields = text.split(sep)
    if len(fields) == expected:
        return fields
    what = f"expected {expected} {sep!r}-separated fields, found {len(fields)}"
    if cut:
        ctx.bad(path, number, text, "truncated row", f"{what}; the file ends in the middle of a row")
    else:
        ctx.bad(path, number, text, "wrong column count", what)
    return None


def tsv_rows(
    path: Path, columns: tuple[str, ...], ctx: LoadContext, on_comment: Callable[[str], None] | None = None
) -> Iterator[tuple[int, str, list[str]]]:
    """Data rows of a tab-separated file with a header row: ``(line number, raw text, fields)``.

    Blank lines and ``#`` comments are skipped (passed to ``on_comment``); a header
    other than ``columns`` means the file is not what the loader expects, which
    stops the load in any mode. A file with no header at all is an unknown layout too.
    """
    header_seen = False
    for number, text, cut in iter_lines(path, ctx):
        if not text.strip() or text.startswith("#"):
            if on_comment is not None and text.startswith("#"):
                on_comment(text)
            continue
        if not header_seen:
            header_seen = True
            if tuple(text.split("\t")) != columns:
                raise InputError(f"{path}, line {number}: unknown file layout: header {text[:120]!r}, "
                                 f"expected {chr(9).join(columns)!r}")
            continue
        ctx.read()
        fields = split_row(path, number, text, cut, len(columns), "\t", ctx)
        if fields is not None:
            yield number, text, fields
    if not header_seen:
        raise InputError(f"{path}: unknown file layout: no header row ({chr(9).join(columns)!r})")
