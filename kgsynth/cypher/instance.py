"""A sampled motif instance: the unit handed from sampling to generation (one JSONL line).

It carries everything a note writer needs (names, synonyms, groups, relation types)
and everything a checker needs (concept ids, provenance), so generation never has
to query the graph again.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field


class InstanceConcept(BaseModel):
    """A concept filling one slot of the motif (``slot`` is the motif's variable name)."""

    slot: str
    id: str
    name: str
    group: str
    synonyms: list[str] = Field(default_factory=list)
    xrefs: list[str] = Field(default_factory=list)
    #: Forms the note may use beyond the KB's names, derived from them by the written-form rules
    #: (``kgsynth.generation.written_forms``): form -> its kind ("noun", "adjective", "effect adjective").
    #: Not KB names; only single-concept instances get one, at generation time.
    written: dict[str, str] = Field(default_factory=dict)


class InstanceRelation(BaseModel):
    """One sampled KG fact, by concept ids, with its provenance."""

    subject: str
    type: str
    object: str
    evidence: list[str] = Field(default_factory=list)
    source_labels: list[str] = Field(default_factory=list)
    provenance: list[str] = Field(default_factory=list)
    #: BioRED's novelty label ("Novel" / "No") where the source gives one.
    novelty: str = ""


class MotifInstance(BaseModel):
    """One match of a motif in the graph; ``id`` is stable for the same facts.

    A single-concept instance (motif ``mention``, from coverage sampling) has one
    concept, no relation, and ``mention``: the name of it the note must use.
    """

    id: str = ""
    motif: str
    stratum: str = ""
    concepts: list[InstanceConcept]
    relations: list[InstanceRelation]
    mention: str = ""

    @property
    def single_concept(self) -> bool:
        """One concept and no relation: the note only has to name it (``mention``)."""
        return not self.relations and len(self.concepts) == 1

    def model_post_init(self, _context: object) -> None:
        if not self.id:
            self.id = instance_id(self.motif, self.relations)

    def concept(self, concept_id: str) -> InstanceConcept | None:
        return next((c for c in self.concepts if c.id == concept_id), None)


def instance_id(motif: str, relations: list[InstanceRelation]) -> str:
    """Hash of the motif name and its sorted fact triples: same facts, same id."""
    triples = sorted(f"{r.subject}|{r.type}|{r.object}" for r in relations)
    digest = hashlib.sha1("\n".join([motif, *triples]).encode("utf-8")).hexdigest()
    return f"{motif}-{digest[:16]}"
