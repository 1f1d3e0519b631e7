"""PubTator reader of :mod:`kgsynth.loaders.corpus`: blank-line separated ``id|t|``, ``id|a|``, tab rows.

One document at a time; a malformed block is one :class:`~kgsynth.errors.InputError` naming
its first line (or, with ``on_bad``, a skipped document).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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


def read_pubtator(path: Path, on_bad: OnBad | None = None) -> Iterator[CorpusDocument]:
    def finish(block: list[tuple[int, str]]) -> Iterator[CorpusDocument]:
        return checked(lambda: _pubtator_block(path, block), on_bad, block[0][0],
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
    check_spans(doc, path, first)
    check_ids(doc, path, first)
    return doc
