"""BioC XML (streamed with lxml) and BioC JSON readers of :mod:`kgsynth.loaders.corpus`.

Passages are placed at their offsets in one text; entities and DTDs are never resolved.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from kgsynth import inputs
from kgsynth.errors import InputError
from kgsynth.loaders.corpus import (
    MAX_OFFSET,
    CorpusDocument,
    CorpusMention,
    CorpusRelation,
    OnBad,
    check_ids,
    check_spans,
    checked,
    split_ids,
)


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
    check_spans(doc, path, line)
    check_ids(doc, path, line)
    return doc


def read_bioc_xml(path: Path, on_bad: OnBad | None = None) -> Iterator[CorpusDocument]:
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
                yield from checked(partial(_bioc_document, path, doc_id, passages, relations, lineno),
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


def read_bioc_json(path: Path, on_bad: OnBad | None = None) -> Iterator[CorpusDocument]:
    """A BioC JSON collection, or JSON lines of BioC documents; missing keys get defaults."""
    text = inputs.read_text(path)
    first_line = text.lstrip().split("\n", 1)[0]
    if _is_json_line_document(first_line):
        for lineno, line in enumerate(text.split("\n"), 1):
            if line.strip():
                yield from checked(partial(_json_line, path, line, lineno), on_bad, lineno, partial(str, line))
        return
    data = _parse(text, path)
    documents = data.get("documents") if isinstance(data, dict) else data
    if not isinstance(documents, list):
        raise InputError(f"{path}, line 1: not a BioC JSON collection (no 'documents' list)")
    for index, doc in enumerate(documents):
        yield from checked(partial(_json_document, path, doc, None, index), on_bad, f"documents[{index}]",
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
