"""BioRED and BC5CDR corpora as KG facts: annotated entities -> concepts, relations -> edges.

Documents are read by :func:`kgsynth.loaders.corpus.read_documents` (PubTator, BioC
XML, BioC JSON with BioRED's missing keys defaulted), shared with evaluation.
Each entity id becomes a concept (``MESH:``, ``NCBIGene:``, ``NCBITaxon:``,
``dbSNP:``/``tmVar:``, ``Cellosaurus:``) with its mention strings as synonyms (a first word
capitalized only by its place at a sentence start takes its mid-sentence case:
:mod:`kgsynth.loaders.mention_case`); each
document-level relation becomes one KG edge whose evidence list gathers the PMIDs
of every document stating it (the store merges them into one edge).

BioRED relations are undirected, and the corpus lists a pair in either order, so
endpoints are put in a fixed order (chemical, variant, gene, species, cell line,
disease; then by id) to make "the same fact in two abstracts" one edge.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from kgsynth.errors import InputError
from kgsynth.graph.model import Concept, Provenance
from kgsynth.loaders.base import LoadContext, Loader, Record
from kgsynth.loaders.corpus import CorpusDocument, qualified_id, read_documents, semantic_group
from kgsynth.loaders.mapping import map_relation
from kgsynth.loaders.mention_case import written_case

_ORDER = {"Chemical": 0, "Variant": 1, "Gene": 2, "Species": 3, "CellLine": 4, "Disease": 5}


def kg_id(raw: str, group: str) -> str:
    """The KG id of a corpus id; bare HGVS variant names (``p.G593S``) get an ``HGVS:`` prefix."""
    qualified = qualified_id(raw, group)
    if qualified and ":" not in qualified and group == "Variant":
        return f"HGVS:{qualified}"
    return qualified


def corpus_source(path: Path) -> str:
    """``BC5CDR`` for CDR files (by name), else ``BioRED``."""
    return "BC5CDR" if "cdr" in path.name.lower() else "BioRED"


def _reporter(path: Path, ctx: LoadContext):
    """``--skip-bad`` for corpora: a malformed document is skipped whole, counted and kept in rejects."""

    def report(error: InputError, line: int | str | None, raw: str) -> None:
        ctx.read()  # lenient only: strict reads raise the reader's error; the rejects row keeps its message
        ctx.bad(path, line, raw, "malformed document", _without_location(str(error), path))

    return report


def _without_location(message: str, path: Path) -> str:
    """The reader's message without its ``path:line:`` prefix (the rejects row names the place itself)."""
    prefix = str(path)
    if message.startswith(prefix):
        message = message[len(prefix):].lstrip(":, ")
        head, sep, rest = message.partition(": ")
        if sep and (head.isdigit() or head.startswith(("line ", "documents[", "<"))):
            message = rest
    return message


class CorpusLoader(Loader):
    """Load one or more BioRED / BC5CDR files (format detected per file)."""

    source = "BioRED"

    def __init__(self, paths: list[Path], source: str | None = None, release: str = "") -> None:
        if not paths:
            raise InputError("no corpus file given")
        self.paths = [Path(p) for p in paths]
        self.source = source or corpus_source(self.paths[0])
        self.release = release

    def records(self, ctx: LoadContext) -> Iterator[Record]:
        for path in self.paths:
            if path.is_dir():
                raise InputError(f"{path}: is a directory; give the corpus files (PubTator, BioC XML or JSON)")
            ctx.opened(path)
            prov = Provenance(source=self.source, release=self.release, file=path.name)
            seen: dict[str, tuple[int | None, str]] = {}  # document id -> (line, text): repeats must agree
            for doc in read_documents(path, on_bad=None if ctx.strict else _reporter(path, ctx)):
                ctx.read()
                earlier = seen.get(doc.id)
                if earlier is not None:
                    if earlier[1] == doc.text:
                        ctx.skip("repeated document (same id and text)")
                        continue
                    where = f", first at line {earlier[0]}" if earlier[0] else ""
                    ctx.bad(path, doc.line or f"document {doc.id}", f"document {doc.id}", "duplicate document id",
                            f"document {doc.id} appears twice with different text{where}")
                    continue
                seen[doc.id] = (doc.line, doc.text)
                try:
                    records = list(self._document(doc, prov, ctx))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    ctx.bad(path, doc.line or f"document {doc.id}", f"document {doc.id}", "bad id",
                            f"document {doc.id}: {first['msg']} (input {str(first.get('input'))[:80]!r})")
                    continue
                yield from records

    def _document(self, doc: CorpusDocument, prov: Provenance, ctx: LoadContext) -> Iterator[Record]:
        groups: dict[str, str] = {}
        # A composite mention ("breast or ovarian cancer", ids D001943,D010051) names several
        # concepts at once: its text is a concept's name only where the document has no other.
        names: dict[str, list[str]] = {}
        composite: dict[str, list[str]] = {}
        for mention in doc.mentions:
            group = semantic_group(mention.type)
            for raw in mention.ids:
                concept_id = kg_id(raw, group)
                if not concept_id or ":" not in concept_id:
                    ctx.skip(f"{mention.type} id without a namespace")
                    continue
                groups.setdefault(raw, group)
                texts = names.setdefault(concept_id, []) if len(mention.ids) == 1 else \
                    composite.setdefault(concept_id, [])
                text = written_case(doc, mention, group)  # "Histamine" at the title's start: "histamine"
                if text not in texts:
                    texts.append(text)
        for raw, group in groups.items():
            concept_id = kg_id(raw, group)
            texts = names.get(concept_id) or composite.get(concept_id, [])
            yield Concept(id=concept_id, name=texts[0] if texts else "", synonyms=texts[1:], group=group,
                          provenance=[prov])
        evidence = [f"PMID:{doc.id}"]
        for rel in doc.relations:
            ends = []
            for raw in (rel.id1, rel.id2):
                group = groups.get(raw, "Other")
                ends.append((_ORDER.get(group, 9), kg_id(raw, group)))
            if not all(":" in e[1] for e in ends):
                ctx.skip("relation endpoint id without a namespace")
                continue
            (_, a), (_, b) = sorted(ends)
            scheme = "BC5CDR" if rel.type == "CID" else "BioRED"
            yield map_relation(scheme, rel.type, a, b, prov, ctx, evidence=evidence, novelty=rel.novelty)
