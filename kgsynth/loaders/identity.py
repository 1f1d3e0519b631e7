"""Concept identity across vocabularies: canonical id prefixes, SAME_AS edges, equivalence sets.

Design choice: each source keeps its own id (``UMLS:C0011849``, ``SNOMEDCT:73211009``,
``MESH:D003920``, ``DOID:9351`` ...) and cross-references become ``SAME_AS`` edges,
instead of merging everything under one id. Why:

* provenance stays exact: a node's name, synonyms and group are what its source said;
* it is reversible: a wrong xref is one edge to delete, not a merge to undo;
* no merge conflicts (two sources disagreeing on name or group never overwrite);
* loads stay order-independent and idempotent: any source can be loaded first.

The price is that consumers must look across SAME_AS: :func:`equivalence_set` does
that (bounded breadth-first search, both directions) for sampling and grounding.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator

from kgsynth.graph.model import Provenance, Relation
from kgsynth.graph.store import GraphStore

#: Source prefixes as they appear in UMLS SABs, OBO xrefs and INDRA JSON -> KG id prefix.
_PREFIXES: dict[str, str] = {
    "UMLS": "UMLS",
    "UMLS_CUI": "UMLS",
    "CUI": "UMLS",
    "MSH": "MESH",
    "MESH": "MESH",
    "SNOMEDCT": "SNOMEDCT",
    "SNOMEDCT_US": "SNOMEDCT",
    "SNOMEDCT_CORE": "SNOMEDCT",
    "SCTID": "SNOMEDCT",
    "SNOMED": "SNOMEDCT",
    "HP": "HP",
    "HPO": "HP",
    "DOID": "DOID",
    "MONDO": "MONDO",
    "OMIM": "OMIM",
    "MIM": "OMIM",
    "ORPHA": "ORPHA",
    "ORPHANET": "ORPHA",
    "ORDO": "ORPHA",
    "NCBIGENE": "NCBIGene",
    "NCBITAXON": "NCBITaxon",
    "NCI": "NCIT",
    "NCIT": "NCIT",
    "ICD10CM": "ICD10CM",
    "ICD-10": "ICD10",
    "ICD10": "ICD10",
    "ICD9CM": "ICD9CM",
    "ICD9": "ICD9CM",
    "GARD": "GARD",
    "MEDDRA": "MEDDRA",
    "EFO": "EFO",
    "DECIPHER": "DECIPHER",
    "CHEBI": "CHEBI",
    "HGNC": "HGNC",
}

#: Prefixes whose xrefs denote the same concept closely enough to become SAME_AS edges.
#: Classification codes (ICD, MedDRA, NCI, GARD) stay as plain xrefs: they group, not identify.
IDENTITY_PREFIXES: frozenset[str] = frozenset(
    {"UMLS", "SNOMEDCT", "MESH", "HP", "DOID", "MONDO", "OMIM", "ORPHA", "NCBIGene", "NCBITaxon"}
)

_SNOMED_VERSIONED = re.compile(r"^SNOMEDCT_US_\d{4}_\d{2}_\d{2}$")
_CODE = re.compile(r"^\S+$")


def normalize_prefix(prefix: str) -> str | None:
    """KG prefix for a source prefix (``SNOMEDCT_US_2023_03_01`` -> ``SNOMEDCT``), or None."""
    key = prefix.strip().upper()
    if _SNOMED_VERSIONED.match(key):
        return "SNOMEDCT"
    return _PREFIXES.get(key)


def normalize_xref(prefix: str, code: str) -> str | None:
    """``PREFIX:code`` in KG form, or None for unknown prefixes and blank codes."""
    kg = normalize_prefix(prefix)
    code = code.strip()
    if kg is None or not code or not _CODE.match(code):
        return None
    inner, sep, rest = code.partition(":")
    if sep and (inner.upper() == prefix.strip().upper() or normalize_prefix(inner) == kg):
        code = rest  # "HP:0001250" under SAB HPO, "HGNC:5" under HGNC
    if kg == "MONDO" or kg == "HP":
        code = code.zfill(7)
    return f"{kg}:{code}"


def normalize_curie(curie: str) -> str | None:
    """Normalize ``PREFIX:code`` (as OBO files write xrefs); None when not a known prefix."""
    prefix, sep, code = curie.strip().partition(":")
    return normalize_xref(prefix, code) if sep else None


def same_as_edges(concept_id: str, xrefs: Iterable[str], provenance: Provenance) -> Iterator[Relation]:
    """One SAME_AS edge from ``concept_id`` to each xref in an identity namespace."""
    for xref in xrefs:
        if xref != concept_id and xref.split(":", 1)[0] in IDENTITY_PREFIXES:
            yield Relation(
                subject=concept_id,
                type="SAME_AS",
                object=xref,
                source_labels=["XREF:xref"],
                provenance=[provenance],
            )


def equivalence_set(store: GraphStore, concept_id: str, max_size: int = 200, max_hops: int = 3) -> list[str]:
    """Every id reachable from ``concept_id`` over SAME_AS edges (either direction), sorted.

    Bounded by hops and size because xrefs chain: a broad UMLS concept can link
    many ontology terms, and two hops through it are still the same concept while
    ten usually are not. The start id is always included.
    """
    seen = {concept_id}
    queue = deque([(concept_id, 0)])
    while queue and len(seen) < max_size:
        current, depth = queue.popleft()
        if depth >= max_hops:
            continue
        for rel in store.neighbors(current, direction="both", types=["SAME_AS"]):
            other = rel.object if rel.subject == current else rel.subject
            if other not in seen:
                seen.add(other)
                queue.append((other, depth + 1))
                if len(seen) >= max_size:
                    break
    return sorted(seen)
