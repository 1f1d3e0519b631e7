"""The schema allowlist: the only labels and relationship types that reach Cypher.

Values always travel as query parameters; labels and relationship types cannot be
parameters in Cypher, so they are checked against these sets before a query text
is built. Loaders map every source label onto one of :data:`RELATION_TYPES`
(unknown labels become :data:`GENERIC_RELATION` with the original kept).
"""

from __future__ import annotations

import re

from kgsynth.errors import ConfigError

#: Label every knowledge-graph node carries; group labels are added beside it.
CONCEPT_LABEL = "Concept"
#: Label of generated notes written back for coverage.
NOTE_LABEL = "Note"

#: Semantic groups: the coarse entity types of NER and of motif node slots.
SEMANTIC_GROUPS: tuple[str, ...] = (
    "Disease",
    "Chemical",
    "Gene",
    "Variant",
    "Phenotype",
    "Procedure",
    "Anatomy",
    "Species",
    "CellLine",
    "Other",
)

#: Groups whose names are symbols, where a capital is part of the name ("Akt", "Ras", "p.V600E"):
#: case rules for corpus names (loaders) and note surfaces (generation) leave them as written.
SYMBOL_GROUPS: tuple[str, ...] = ("Gene", "Variant")

#: Normalized relation types, subject -> object as named.
RELATION_TYPES: tuple[str, ...] = (
    "IS_A",
    "SAME_AS",
    "TREATS",
    "CAUSES",
    "PREVENTS",
    "CONTRAINDICATED_FOR",
    "HAS_PHENOTYPE",
    "FINDING_SITE",
    "ASSOCIATED_MORPHOLOGY",
    "DIAGNOSES",
    "PART_OF",
    "ASSOCIATED_WITH",
    "POSITIVE_CORRELATION",
    "NEGATIVE_CORRELATION",
    "BINDS",
    "COTREATMENT",
    "COMPARISON",
    "DRUG_INTERACTION",
    "CONVERSION",
    "RELATED_TO",
)

#: Relation types whose direction carries no meaning (a check matches them either way round).
SYMMETRIC_TYPES: frozenset[str] = frozenset(
    {
        "SAME_AS",
        "ASSOCIATED_WITH",
        "POSITIVE_CORRELATION",
        "NEGATIVE_CORRELATION",
        "BINDS",
        "COTREATMENT",
        "COMPARISON",
        "DRUG_INTERACTION",
        "CONVERSION",  # BioRED, its source, does not record which chemical is converted to which
        "RELATED_TO",
    }
)

#: Where a source label has no mapping; the original label is kept on the edge.
GENERIC_RELATION = "RELATED_TO"

#: Relationship types used by generated-note write-back (not KG facts).
NOTE_RELATION_TYPES: tuple[str, ...] = ("MENTIONS", "EXPRESSES")

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def check_group(name: str) -> str:
    """Return ``name`` if it is an allowed semantic group, else raise a clear error."""
    if name not in SEMANTIC_GROUPS:
        raise ConfigError(f"unknown semantic group {name!r}; allowed: {', '.join(SEMANTIC_GROUPS)}")
    return name


def check_relation_type(name: str) -> str:
    """Return ``name`` if it is an allowed relation type, else raise a clear error."""
    if name not in RELATION_TYPES:
        raise ConfigError(f"unknown relation type {name!r}; allowed: {', '.join(RELATION_TYPES)}")
    return name


def cypher_identifier(name: str, allowed: tuple[str, ...]) -> str:
    """Return a label/type safe to place in Cypher text: allowlisted and plain identifier."""
    if name not in allowed or not _IDENT.match(name):
        raise ConfigError(f"{name!r} is not an allowed Cypher label or type")
    return name
