"""Streaming reader for annotated biomedical corpora: PubTator, BioC XML and BioC JSON.

Stable API (the BioRED KG loader and the evaluation readers build on it)::

    read_documents(path, fmt=None) -> Iterator[CorpusDocument]   # one document at a time (readers:
                                                                 # corpus_pubtator, corpus_bioc)
    detect_format(path) -> "pubtator" | "bioc-xml" | "bioc-json"
    CorpusDocument(id, text, title, mentions: [CorpusMention], relations: [CorpusRelation], source)
    CorpusMention(start, end, text, type, ids: list[str])        # raw ids, composites split
    CorpusRelation(type, id1, id2, novelty)                      # document level, by raw ids
    semantic_group(corpus_type) -> str                           # "GeneOrGeneProduct" -> "Gene"
    qualified_id(raw_id, group) -> str                           # "D003924" -> "MESH:D003924"
    normalized_relation_type(corpus_type) -> str                 # "Association" -> "ASSOCIATED_WITH"

Why this shape: the corpora disagree on details (BioRED separates composite ids with
",", BC5CDR and NCBI-disease with "|", BioRED variant ids such as ``c|DEL|4153|A``
contain "|" themselves, BC5CDR writes ``-1`` for "no id", BioRED's JSON leaves out
``infons`` keys), so every quirk is resolved here once and downstream code sees one
clean model. ``text`` is ``title + " " + abstract`` (BioC: passages placed at their
offsets), which is exactly what the corpora's character offsets index into.
Malformed input raises :class:`~kgsynth.errors.InputError` naming the file and line,
unless the caller passes ``on_bad``: then a malformed *document* is handed to it and
skipped, and reading goes on with the next one (a syntax error that leaves the rest
of an XML or JSON file unreadable still raises).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from kgsynth import inputs
from kgsynth.errors import InputError
from kgsynth.loaders.mapping import lookup

Format = Literal["pubtator", "bioc-xml", "bioc-json"]
#: Called with (error, first line of the document or None, its raw text) for a skipped document.
OnBad = Callable[[InputError, "int | str | None", str], None]

#: Corpus entity types -> kgsynth semantic groups (see kgsynth.graph.schema.SEMANTIC_GROUPS).
GROUP_OF_TYPE: dict[str, str] = {
    "GeneOrGeneProduct": "Gene",
    "Gene": "Gene",
    "DiseaseOrPhenotypicFeature": "Disease",
    "Disease": "Disease",
    "SpecificDisease": "Disease",
    "DiseaseClass": "Disease",
    "CompositeMention": "Disease",
    "Modifier": "Disease",
    "ChemicalEntity": "Chemical",
    "Chemical": "Chemical",
    "SequenceVariant": "Variant",
    "Variant": "Variant",
    "DNAMutation": "Variant",
    "ProteinMutation": "Variant",
    "SNP": "Variant",
    "OrganismTaxon": "Species",
    "Species": "Species",
    "CellLine": "CellLine",
}

#: Identifier namespace per group for bare corpus ids.
NAMESPACE_OF_GROUP: dict[str, str] = {
    "Gene": "NCBIGene",
    "Disease": "MESH",
    "Chemical": "MESH",
    "Species": "NCBITaxon",
    "CellLine": "Cellosaurus",
}

_TMVAR = re.compile(r"^[cgpmr]\|[A-Za-z]+\|")  # BioRED/tmVar variant ids contain "|"
_NO_ID = {"", "-", "-1"}
#: Largest character offset accepted in a corpus file (PubMed abstracts have a few thousand characters;
#: full texts under a million): a passage offset of 10^15 would otherwise mean a petabyte of padding.
MAX_OFFSET = 10_000_000


class CorpusMention(BaseModel):
    """One annotated mention; ``text[start:end]`` of the document gives ``text``."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    type: str  # the corpus's own type name, e.g. "GeneOrGeneProduct"
    ids: list[str] = Field(default_factory=list)  # raw ids, composite ids split, "-1" dropped


class CorpusRelation(BaseModel):
    """A document-level relation between two concept ids (raw, as the corpus writes them)."""

    type: str
    id1: str
    id2: str
    novelty: str = ""  # BioRED: "Novel" or "No"


class CorpusDocument(BaseModel):
    """One abstract with its annotation."""

    id: str  # PMID
    text: str
    title: str = ""
    mentions: list[CorpusMention] = Field(default_factory=list)
    relations: list[CorpusRelation] = Field(default_factory=list)
    source: str = ""  # file it came from
    line: int | None = None  # line of the file where the document starts, when the format has lines

    def span_errors(self) -> list[str]:
        """Mentions whose offsets do not reproduce their text (empty when sound)."""
        return [
            f"{self.id}: [{m.start}:{m.end}] does not give {m.text!r}"
            for m in self.mentions
            if not (0 <= m.start < m.end <= len(self.text)) or self.text[m.start : m.end] != m.text
        ]


# -- identifiers ----------------------------------------------------------------


def split_ids(raw: str) -> list[str]:
    """Split a composite id field; keep tmVar variant ids (which contain "|") whole."""
    raw = raw.strip()
    if raw in _NO_ID:
        return []
    parts = re.split(r"[,;]", raw) if _TMVAR.match(raw) is None else [raw]
    ids: list[str] = []
    for part in parts:
        part = part.strip()
        pieces = [part] if _TMVAR.match(part) else part.split("|")
        ids.extend(p.strip() for p in pieces if p.strip() not in _NO_ID)
    return list(dict.fromkeys(ids))


def semantic_group(corpus_type: str) -> str:
    """The kgsynth semantic group of a corpus entity type ("Other" when unknown)."""
    return GROUP_OF_TYPE.get(corpus_type, corpus_type if corpus_type in NAMESPACE_OF_GROUP else "Other")


def qualified_id(raw_id: str, group: str) -> str:
    """Prefix a bare corpus id with its namespace, as the KG spells it.

    Ids that already carry a namespace (``OMIM:604370``, ``MESH:D001``) are kept.
    """
    raw_id = raw_id.strip()
    if not raw_id:
        return ""
    if _TMVAR.match(raw_id):
        return f"tmVar:{raw_id}"
    if re.fullmatch(r"rs\d+", raw_id):
        return f"dbSNP:{raw_id}"
    if ":" in raw_id:
        return raw_id
    if raw_id.startswith("CVCL_"):
        return f"Cellosaurus:{raw_id}"
    if re.fullmatch(r"[CD]\d{6,9}", raw_id):
        return f"MESH:{raw_id}"
    namespace = NAMESPACE_OF_GROUP.get(group)
    return f"{namespace}:{raw_id}" if namespace else raw_id


def normalized_relation_type(corpus_type: str) -> str:
    """The kgsynth relation type of a corpus relation type (upper-cased when unmapped).

    The BioRED and BC5CDR rows of the one mapping table (:mod:`kgsynth.loaders.mapping`)
    decide, so evaluation and the KG loader can never map a corpus type differently.
    """
    row = lookup("BioRED", corpus_type) or lookup("BC5CDR", corpus_type)
    return row.type if row else corpus_type.upper()


# -- format detection -------------------------------------------------------------


def detect_format(path: Path) -> Format:
    """Guess the format from the first non-blank characters (the extension breaks ties).

    The head is peeked through :mod:`kgsynth.inputs`, so a pipe stays readable afterwards.
    """
    path = Path(path)
    raw = inputs.head(path, 4096)
    head = raw.decode("utf-8", "ignore").lstrip("\ufeff \t\r\n")
    if not head:
        if not raw.strip():
            raise InputError(f"{path}: the file is empty")
        inputs.decode(raw, path)  # says why the head is not text
    if head.startswith("<"):
        return "bioc-xml"
    if head.startswith("{") or head.startswith("["):
        return "bioc-json"
    if re.match(r"[^\s|]+\|[ta]\|", head):
        return "pubtator"
    suffix = path.name.lower()
    if suffix.endswith((".xml", ".bioc")):
        return "bioc-xml"
    if suffix.endswith(".json"):
        return "bioc-json"
    if "pubtator" in suffix:
        return "pubtator"
    raise InputError(f"{path}, line 1: cannot tell the format (expected PubTator, BioC XML or BioC JSON)")


def read_documents(
    path: Path | str, fmt: Format | None = None, on_bad: OnBad | None = None
) -> Iterator[CorpusDocument]:
    """Stream the documents of a corpus file in file order.

    With ``on_bad``, a malformed document is reported to it and skipped instead of
    ending the read (the loaders' ``--skip-bad``).
    """
    from kgsynth.loaders.corpus_bioc import read_bioc_json, read_bioc_xml
    from kgsynth.loaders.corpus_pubtator import read_pubtator

    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "pubtator":
        yield from read_pubtator(path, on_bad)
    elif fmt == "bioc-xml":
        yield from read_bioc_xml(path, on_bad)
    elif fmt == "bioc-json":
        yield from read_bioc_json(path, on_bad)
    else:  # pragma: no cover - guarded by the Literal type
        raise InputError(f"{path}: unknown corpus format {fmt!r}")


def checked(build: Callable[[], CorpusDocument], on_bad: OnBad | None, line: int | str | None,
            raw: Callable[[], str]) -> Iterator[CorpusDocument]:
    """Yield ``build()``, or nothing after reporting its InputError to ``on_bad`` (re-raised without one)."""
    try:
        doc = build()
    except InputError as exc:
        if on_bad is None:
            raise
        on_bad(exc, line, raw())
        return
    yield doc


# -- checks shared by the readers ----------------------------------------------


def check_spans(doc: CorpusDocument, path: Path, line: int | None) -> None:
    """Offsets out of range, or text that is not the document's text at them, make the document malformed.

    Whitespace runs compare equal (NCBI-disease writes a mention's inner spaces as
    the abstract does not); anything else is a wrong offset or a wrong mention text.
    """
    where = f"{path}:{line}" if line else f"{path}"
    for m in doc.mentions:
        if not 0 <= m.start < m.end <= len(doc.text):
            raise InputError(
                f"{where}: document {doc.id}: mention {m.text[:60]!r} [{m.start}:{m.end}] ends at {m.end}, "
                f"text has {len(doc.text)} chars"
            )
        found = doc.text[m.start : m.end]
        if found != m.text and found.split() != m.text.split():
            raise InputError(
                f"{where}: document {doc.id}: mention text {m.text[:60]!r} at [{m.start}:{m.end}] does not match "
                f"the document's text there ({found[:60]!r}): wrong offsets or wrong mention text"
            )


#: What no database identifier holds: whitespace inside it, quotes, backslashes, braces (a Cypher fragment does).
_BAD_ID_CHARS = re.compile(r"[\s'\"`\\{}]")


def check_ids(doc: CorpusDocument, path: Path, line: int | None) -> None:
    """A mention or relation id with characters no identifier has makes the document malformed (every reader:
    ``load`` and ``evaluate`` refuse the same ids)."""
    where = f"{path}:{line}" if line else f"{path}"
    ids = [(f"mention {m.text[:40]!r}", i) for m in doc.mentions for i in m.ids]
    ids += [(f"relation {r.type}", i) for r in doc.relations for i in (r.id1, r.id2)]
    for what, raw in ids:
        if _BAD_ID_CHARS.search(raw.strip()):
            raise InputError(f"{where}: document {doc.id}: {what}: bad id {raw[:80]!r} (an identifier has no "
                             "spaces, quotes, backslashes or braces)")
