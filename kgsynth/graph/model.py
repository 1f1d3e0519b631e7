"""The knowledge-graph data model shared by every store, loader and sampler.

Both stores hold exactly these fields, so a :class:`Concept` or :class:`Relation`
read back from either one compares equal to what was written (after upsert merges).
Upserts are unions: list fields gain new items in first-seen order, scalar fields
keep their first non-empty value. Loading the same batch twice therefore changes
nothing, and two sources describing one concept enrich it instead of overwriting.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kgsynth.graph.schema import RELATION_TYPES, SEMANTIC_GROUPS

#: A concept id: ``PREFIX:code``, the code without whitespace, quotes, backslashes or braces (real ids
#: such as tmVar's ``p|SUB|G|593|S`` or ``HGVS:c.35delG`` never hold them; a Cypher fragment does).
CONCEPT_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_.\-]*:[^\s'\"`\\{}]+$"


class Provenance(BaseModel):
    """Where a fact came from: source vocabulary, release, and file."""

    model_config = ConfigDict(frozen=True)

    source: str
    release: str = ""
    file: str = ""

    def key(self) -> str:
        """Flat form stored in the graph (Neo4j properties cannot hold maps)."""
        return f"{self.source}|{self.release}|{self.file}"

    @classmethod
    def from_key(cls, key: str) -> Provenance:
        source, _, rest = key.partition("|")
        release, _, file = rest.partition("|")
        return cls(source=source, release=release, file=file)


class Concept(BaseModel):
    """One KG node: a stable namespaced id such as ``UMLS:C0011849`` or ``MESH:D003920``."""

    id: str = Field(min_length=3, pattern=CONCEPT_ID_PATTERN)
    name: str = ""
    synonyms: list[str] = Field(default_factory=list)
    semantic_types: list[str] = Field(default_factory=list)
    group: str = "Other"
    xrefs: list[str] = Field(default_factory=list)
    provenance: list[Provenance] = Field(default_factory=list)

    @field_validator("synonyms", "semantic_types", "xrefs", "provenance")
    @classmethod
    def _dedupe(cls, value: list) -> list:
        return list(dict.fromkeys(value))

    @field_validator("group")
    @classmethod
    def _known_group(cls, value: str) -> str:
        if value not in SEMANTIC_GROUPS:
            raise ValueError(f"unknown semantic group {value!r}")
        return value

    @property
    def sources(self) -> list[str]:
        return _unique(p.source for p in self.provenance)

    def names(self) -> list[str]:
        """Preferred name first, then synonyms: every surface form a note may use."""
        return _unique([self.name, *self.synonyms]) if self.name else list(self.synonyms)


class Relation(BaseModel):
    """One KG edge ``(subject)-[type]->(object)``; one edge per triple, evidence accumulates."""

    subject: str
    type: str
    object: str
    source_labels: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)
    novelty: str = ""
    provenance: list[Provenance] = Field(default_factory=list)

    @field_validator("source_labels", "evidence", "provenance")
    @classmethod
    def _dedupe(cls, value: list) -> list:
        return list(dict.fromkeys(value))

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in RELATION_TYPES:
            raise ValueError(f"unknown relation type {value!r}")
        return value

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.subject, self.type, self.object)

    @property
    def sources(self) -> list[str]:
        return _unique(p.source for p in self.provenance)


class GraphStats(BaseModel):
    """Counts a user checks after a load: nodes by group, edges by type."""

    backend: str
    location: str
    concepts: int
    relations: int
    concepts_by_group: dict[str, int]
    relations_by_type: dict[str, int]


def _unique(items) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(item, None)
    return list(seen)


def merge_lists(old: list, new: list) -> list:
    """Union keeping first-seen order: the upsert rule for every list property."""
    merged = dict.fromkeys(old)
    merged.update(dict.fromkeys(new))
    return list(merged)
