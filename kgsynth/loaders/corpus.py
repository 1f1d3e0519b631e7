"""Streaming reader for annotated biomedical corpora: PubTator, BioC XML and BioC JSON.

Stable API (the BioRED KG loader and the evaluation readers build on it)::

    read_documents(path, fmt=None) -> Iterator[CorpusDocument]   # one document at a time
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

import json
import re
from collections.abc import Callable, Iterator
from functools import partial
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
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "pubtator":
        yield from _read_pubtator(path, on_bad)
    elif fmt == "bioc-xml":
        yield from _read_bioc_xml(path, on_bad)
    elif fmt == "bioc-json":
        yield from _read_bioc_json(path, on_bad)
    else:  # pragma: no cover - guarded by the Literal type
        raise InputError(f"{path}: unknown corpus format {fmt!r}")


def _checked(build: Callable[[], CorpusDocument], on_bad: OnBad | None, line: int | str | None,
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


# -- PubTator ---------------------------------------------------------------------


def _read_pubtator(path: Path, on_bad: OnBad | None = None) -> Iterator[CorpusDocument]:
    def finish(block: list[tuple[int, str]]) -> Iterator[CorpusDocument]:
        return _checked(lambda: _pubtator_block(path, block), on_bad, block[0][0],
                        lambda: "\n".join(text for _, text in block))

    block: list[tuple[int, str]] = []
    broken: dict[int, str] = {}  # lines that are not clean text: they make their document malformed

    def bad_line(lineno: int, raw: str, reason: str, detail: str) -> None:
        broken[lineno] = f"{reason}: {detail}"
        block.append((lineno, raw))

    for lineno, line, _cut in inputs.iter_lines(path, on_bad=bad_line if on_bad is not None else None):
        if not line.strip():
            if block:
                yield from finish(_poisoned(block, broken, path))
            block = []
            continue
        # some writers omit the blank line between documents
        if block and _starts_document(line) and _has_text_line(block) and _new_id(line, block):
            yield from finish(_poisoned(block, broken, path))
            block = []
        block.append((lineno, line))
    if block:
        yield from finish(_poisoned(block, broken, path))


def _poisoned(block: list[tuple[int, str]], broken: dict[int, str], path: Path) -> list[tuple[int, str]]:
    """``block`` itself; a block holding an unreadable line is marked so that building it fails on that line."""
    bad = [n for n, _ in block if n in broken]
    if bad:
        return [(bad[0], "\0" + broken.pop(bad[0])), *block]
    return block


def _starts_document(line: str) -> bool:
    return re.match(r"[^\t|]+\|t\|", line) is not None


def _new_id(line: str, block: list[tuple[int, str]]) -> bool:
    return line.split("|", 1)[0] != block[0][1].split("|", 1)[0]


def _has_text_line(block: list[tuple[int, str]]) -> bool:
    return any(re.match(r"[^\t|]+\|[ta]\|", text) for _, text in block)


def _pubtator_block(path: Path, block: list[tuple[int, str]]) -> CorpusDocument:
    pmid = ""
    title = abstract = None
    mentions: list[CorpusMention] = []
    relations: list[CorpusRelation] = []
    for lineno, line in block:
        where = f"{path}:{lineno}"
        if line.startswith("\0"):  # marked by _poisoned: a line that is not clean UTF-8 text
            raise InputError(f"{where}: {line[1:]}")
        text_line = re.match(r"([^\t|]+)\|([ta])\|(.*)$", line)
        if text_line:
            doc_id, kind, body = text_line.groups()
            if pmid and doc_id != pmid:
                raise InputError(f"{where}: document id {doc_id} inside document {pmid} (missing blank line?)")
            pmid = doc_id
            if kind == "t":
                title = body
            else:
                abstract = body
            continue
        fields = line.split("\t")
        if pmid and fields[0] != pmid:
            raise InputError(f"{where}: annotation for {fields[0]} inside document {pmid}")
        pmid = pmid or fields[0]
        if len(fields) >= 5 and fields[1].isdigit() and fields[2].isdigit():
            start, end = int(fields[1]), int(fields[2])
            if end <= start:
                raise InputError(f"{where}: mention end {end} is not after start {start}")
            if end > MAX_OFFSET:
                raise InputError(f"{where}: mention offset {end} is past any abstract (over {MAX_OFFSET:,})")
            ids = split_ids(fields[5]) if len(fields) > 5 else []
            mentions.append(CorpusMention(start=start, end=end, text=fields[3], type=fields[4], ids=ids))
        elif len(fields) in (4, 5) and not fields[1].isdigit():
            novelty = fields[4].strip() if len(fields) == 5 else ""
            relations.append(
                CorpusRelation(type=fields[1], id1=fields[2].strip(), id2=fields[3].strip(), novelty=novelty)
            )
        else:
            raise InputError(
                f"{where}: expected 'PMID|t|title', 'PMID|a|abstract', a mention "
                f"(PMID, start, end, text, type, ids) or a relation (PMID, type, id1, id2[, novelty]); "
                f"got {len(fields)} tab-separated fields"
            )
    first = block[0][0]
    if title is None and abstract is None:
        raise InputError(f"{path}:{first}: document {pmid} has no title or abstract line")
    title = title or ""
    text = title if abstract is None else f"{title} {abstract}"
    doc = CorpusDocument(id=pmid, text=text, title=title, mentions=mentions, relations=relations, source=str(path),
                         line=first)
    _check_spans(doc, path, first)
    _check_ids(doc, path, first)
    return doc


def _check_spans(doc: CorpusDocument, path: Path, line: int | None) -> None:
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


def _check_ids(doc: CorpusDocument, path: Path, line: int | None) -> None:
    """A mention or relation id with characters no identifier has makes the document malformed (every reader:
    ``load`` and ``evaluate`` refuse the same ids)."""
    where = f"{path}:{line}" if line else f"{path}"
    ids = [(f"mention {m.text[:40]!r}", i) for m in doc.mentions for i in m.ids]
    ids += [(f"relation {r.type}", i) for r in doc.relations for i in (r.id1, r.id2)]
    for what, raw in ids:
        if _BAD_ID_CHARS.search(raw.strip()):
            raise InputError(f"{where}: document {doc.id}: {what}: bad id {raw[:80]!r} (an identifier has no "
                             "spaces, quotes, backslashes or braces)")


# -- BioC -------------------------------------------------------------------------


def _bioc_document(
    path: Path, doc_id: str, passages: list[dict], relations: list[dict], line: int | None
) -> CorpusDocument:
    """Build a document from plain BioC dicts (shared by the XML and JSON readers).

    Every wrong type or value (a passage offset that is missing, negative, overlapping
    or past :data:`MAX_OFFSET`, a negative length, an id that is not a string) is an
    :class:`InputError` naming the document, never a library exception.
    """
    where = f"{path}:{line}" if line else str(path)
    try:
        return _bioc_fields(path, doc_id, passages, relations, line)
    except InputError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        detail = exc.errors()[0]["msg"] if hasattr(exc, "errors") else f"{type(exc).__name__}: {exc}"
        raise InputError(f"{where}: document {doc_id}: malformed BioC ({detail})") from None


def _offset(value: object, what: str) -> int:
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError(f"{what} is missing")
    number = int(value)  # ValueError/TypeError for junk, reported by the caller
    if not 0 <= number <= MAX_OFFSET:
        raise ValueError(f"{what} {number} is negative or past {MAX_OFFSET:,}")
    return number


def _bioc_fields(
    path: Path, doc_id: str, passages: list[dict], relations: list[dict], line: int | None
) -> CorpusDocument:
    if not isinstance(passages, list) or not isinstance(relations, list):
        raise TypeError("'passages' and 'relations' must be lists")
    if not doc_id.strip():
        raise ValueError("the document has no id")
    text = ""
    title = ""
    mentions: list[CorpusMention] = []
    for number, passage in enumerate(passages):
        offset = _offset(passage.get("offset"), f"passage {number} offset")
        body = passage.get("text") or ""
        if not isinstance(body, str):
            raise TypeError(f"passage {number} text is not a string")
        if offset < len(text):
            raise ValueError(f"passage offset {offset} overlaps earlier text")
        text = text + " " * (offset - len(text)) + body
        infons = passage.get("infons") or {}
        if infons.get("type") in ("title", "front") and not title:
            title = body
        for ann in passage.get("annotations") or []:
            infons = ann.get("infons") or {}
            if infons.get("type") == "RelationTrigger":
                continue  # a relation's trigger phrase (kgsynth's BioC export), not an entity
            locations = ann.get("locations") or []
            if not locations:
                raise ValueError(f"annotation {ann.get('id')} has no location")
            spans = []
            for loc in locations:
                begin = _offset(loc.get("offset"), f"annotation {ann.get('id')} offset")
                length = _offset(loc.get("length"), f"annotation {ann.get('id')} length")
                spans.append((begin, begin + length))
            raw = infons.get("identifier") or infons.get("Identifier") or infons.get("MESH") or ""
            mentions.append(
                CorpusMention(
                    start=min(a for a, _ in spans), end=max(b for _, b in spans), text=ann.get("text") or "",
                    type=infons.get("type", ""), ids=split_ids(raw),
                )
            )
    if not title and passages:
        title = passages[0].get("text") or ""
    rels = []
    for rel in relations:
        infons = rel.get("infons") or {}
        id1 = infons.get("entity1") or infons.get("Chemical") or ""
        id2 = infons.get("entity2") or infons.get("Disease") or ""
        if not id1 or not id2:
            continue  # node-based relations without concept ids carry nothing comparable
        rels.append(
            CorpusRelation(
                type=infons.get("type") or infons.get("relation") or "",
                id1=id1,
                id2=id2,
                novelty=infons.get("novel", ""),
            )
        )
    doc = CorpusDocument(id=str(doc_id), text=text, title=title, mentions=mentions, relations=rels, source=str(path),
                         line=line)
    _check_spans(doc, path, line)
    _check_ids(doc, path, line)
    return doc


def _read_bioc_xml(path: Path, on_bad: OnBad | None = None) -> Iterator[CorpusDocument]:
    """Stream ``<document>`` elements with lxml; entities and DTDs are never resolved, nothing is fetched."""
    from lxml import etree

    with inputs.open_binary(path) as handle:
        inputs.refuse_foreign_encoding(handle.read(4), path)  # UTF-8 only, as every reader; lxml checks the rest
        handle.seek(0)
        events = etree.iterparse(handle, events=("start", "end"), resolve_entities=False, no_network=True,
                                 load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True)
        root_seen = False
        try:
            for event, element in events:
                if not root_seen:
                    root_seen = True
                    if element.tag != "collection":
                        raise InputError(f"{path}:{element.sourceline}: not BioC XML: the root element is "
                                         f"<{element.tag}>, expected <collection> (without a namespace)")
                    continue
                if event != "end" or element.tag != "document" or element.getparent() is None or \
                        element.getparent().getparent() is not None:
                    continue
                lineno = element.sourceline
                doc_id, passages, relations = _xml_document(element)
                yield from _checked(partial(_bioc_document, path, doc_id, passages, relations, lineno),
                                    on_bad, lineno, partial(str, f"<document id={doc_id!r}>"))
                element.clear()
                while element.getprevious() is not None:
                    del element.getparent()[0]
        except etree.XMLSyntaxError as exc:
            raise InputError(f"{path}:{exc.lineno}: malformed BioC XML ({exc.msg})") from None
    if not root_seen:
        raise InputError(f"{path}: the file is empty")


def _infons(element: object) -> dict[str, str]:
    return {i.get("key", ""): i.text or "" for i in element.findall("infon")}  # type: ignore[attr-defined]


def _xml_document(element: object) -> tuple[str, list[dict], list[dict]]:
    """A ``<document>`` element as the plain dicts :func:`_bioc_document` takes."""
    doc_id = (element.findtext("id") or "").strip()  # type: ignore[attr-defined]
    passages = []
    for p in element.findall("passage"):  # type: ignore[attr-defined]
        passages.append({
            "offset": (p.findtext("offset") or "").strip(),
            "text": p.findtext("text") or "",
            "infons": _infons(p),
            "annotations": [
                {
                    "id": a.get("id"),
                    "text": a.findtext("text") or "",
                    "infons": _infons(a),
                    "locations": [{"offset": loc.get("offset"), "length": loc.get("length")}
                                  for loc in a.findall("location")],
                }
                for a in p.findall("annotation")
            ],
        })
    relations = [{"infons": _infons(r)} for r in element.findall("relation")]  # type: ignore[attr-defined]
    return doc_id, passages, relations


def _read_bioc_json(path: Path, on_bad: OnBad | None = None) -> Iterator[CorpusDocument]:
    """A BioC JSON collection, or JSON lines of BioC documents; missing keys get defaults."""
    text = inputs.read_text(path)
    first_line = text.lstrip().split("\n", 1)[0]
    if _is_json_line_document(first_line):
        for lineno, line in enumerate(text.split("\n"), 1):
            if line.strip():
                yield from _checked(partial(_json_line, path, line, lineno), on_bad, lineno, partial(str, line))
        return
    data = _parse(text, path)
    documents = data.get("documents") if isinstance(data, dict) else data
    if not isinstance(documents, list):
        raise InputError(f"{path}, line 1: not a BioC JSON collection (no 'documents' list)")
    for index, doc in enumerate(documents):
        yield from _checked(partial(_json_document, path, doc, None, index), on_bad, f"documents[{index}]",
                            partial(json.dumps, doc, ensure_ascii=False))


def _is_json_line_document(line: str) -> bool:
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return False
    return isinstance(obj, dict) and "passages" in obj


def _json_line(path: Path, line: str, lineno: int) -> CorpusDocument:
    return _json_document(path, _parse(line, path, lineno), lineno)


def _parse(text: str, path: Path, lineno: int | None = None) -> object:
    """JSON with errors as ``path:line: malformed JSON (...)``, the corpus readers' style."""
    try:
        return inputs.parse_json(text, path, lineno)
    except inputs.JsonError as exc:
        raise InputError(f"{path}:{exc.line or 1}: malformed JSON: {exc.reason}") from None


def _json_document(path: Path, doc: object, line: int | None, index: int | None = None) -> CorpusDocument:
    where = f"{path}:{line}" if line else (f"{path}: documents[{index}]" if index is not None else str(path))
    if not isinstance(doc, dict) or "id" not in doc:
        raise InputError(f"{where}: BioC document without an 'id'")
    if not isinstance(doc["id"], str | int) or isinstance(doc["id"], bool):
        raise InputError(f"{where}: BioC document id {doc['id']!r} is not a string")
    try:
        return _bioc_document(path, str(doc["id"]), doc.get("passages") or [], doc.get("relations") or [], line)
    except InputError as exc:
        if line is None and index is not None:
            raise InputError(str(exc).replace(f"{path}:", f"{path}: documents[{index}]:", 1)) from None
        raise
