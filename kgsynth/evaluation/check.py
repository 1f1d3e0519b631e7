"""KG-aware consistency checks of generated notes against the graph they came from.

For each note: faithfulness, decided without trusting the writer: a sampled fact is
expressed when the text states it, two mentions of its concepts with one of its type's
lexicon phrases between them in that phrasing's order (:meth:`Lexicon.statements`);
hallucination (relations the text states that were not sampled, split into "in the KG
elsewhere", "absent from the KG" and "contradicting the KG"); degenerate text
(:mod:`kgsynth.evaluation.degenerate`); the writer's own extraction pass, where one ran,
reported beside as a second signal that never decides a verdict; grounding (is each
mention a name or synonym of its concept, or of a SAME_AS-equivalent one) and type
consistency (entity type vs the concept's group), in :mod:`kgsynth.evaluation.grounding`;
span integrity. Each note gets
flags; a note passes when it has none. The graph is read through the
:class:`~kgsynth.graph.store.GraphStore` interface only, with per-run caches, so the
embedded store and Neo4j give the same result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field

from kgsynth.evaluation.convert import concept_ids
from kgsynth.evaluation.degenerate import degenerate_reasons
from kgsynth.evaluation.grounding import check_entities
from kgsynth.generation.lexicon import Lexicon, load_lexicon
from kgsynth.generation.record import NoteRecord, NoteRelation
from kgsynth.graph.model import Concept, Relation
from kgsynth.graph.schema import RELATION_TYPES, SYMMETRIC_TYPES
from kgsynth.graph.store import GraphStore

#: Relation types that contradict each other between the same two concepts. The one
#: place this is defined; CONTRADICTS below is its symmetric closure.
CONTRADICTING_PAIRS: tuple[tuple[str, str], ...] = (
    ("TREATS", "CAUSES"),
    ("TREATS", "CONTRAINDICATED_FOR"),
    ("PREVENTS", "CAUSES"),
    ("PREVENTS", "CONTRAINDICATED_FOR"),
    ("POSITIVE_CORRELATION", "NEGATIVE_CORRELATION"),
)
CONTRADICTS: dict[str, frozenset[str]] = {
    t: frozenset({b for a, b in CONTRADICTING_PAIRS if a == t} | {a for a, b in CONTRADICTING_PAIRS if b == t})
    for pair in CONTRADICTING_PAIRS
    for t in pair
}


#: Flags that make a note fail (``extra_in_kg`` is informational: true, just not sampled).
FAILING_FLAGS: tuple[str, ...] = (
    "no_instance",
    "unfaithful",
    "hallucination",
    "contradiction",
    "ungrounded",
    "type_mismatch",
    "unknown_concept",
    "unknown_relation_type",
    "span_error",
    "dangling_relation",
    "degenerate",
)


class Fact(BaseModel):
    subject: str
    type: str
    object: str
    kg_types: list[str] = Field(default_factory=list)  # for contradictions: what the KG says instead


class NoteCheck(BaseModel):
    """The verdict on one note."""

    id: str
    passed: bool
    flags: list[str]
    sampled_facts: int = 0
    expressed: list[Fact] = Field(default_factory=list)
    missed: list[Fact] = Field(default_factory=list)
    faithfulness: float | None = None  # recall of sampled facts
    extra_in_kg: list[Fact] = Field(default_factory=list)
    absent_from_kg: list[Fact] = Field(default_factory=list)
    contradicting: list[Fact] = Field(default_factory=list)
    ungrounded: list[str] = Field(default_factory=list)
    type_mismatches: list[str] = Field(default_factory=list)
    unknown_concepts: list[str] = Field(default_factory=list)
    #: Annotated relations whose type the graph's schema does not have.
    unknown_relation_types: list[str] = Field(default_factory=list)
    span_errors: list[str] = Field(default_factory=list)
    dangling: int = 0
    extracted_in_sample: int = 0
    degenerate: list[str] = Field(default_factory=list)
    #: The extraction pass (second signal): sampled facts it found, and its facts absent from / contradicting the KG.
    extraction_ran: bool = False
    extraction_expressed: int = 0
    extraction_facts: int = 0
    extraction_absent: list[Fact] = Field(default_factory=list)
    extraction_contradicting: list[Fact] = Field(default_factory=list)


class CheckReport(BaseModel):
    """Run-level rates (fraction of notes carrying each flag) plus every note's verdict."""

    notes: int
    passed: int
    pass_rate: float | None
    flag_rates: dict[str, float]
    flag_counts: dict[str, int]
    sampled_facts: int
    expressed_facts: int
    fact_recall: float | None  # over all sampled facts of the run
    mean_faithfulness: float | None  # mean of per-note recall
    extracted_facts: int
    extra_in_kg: int
    absent_from_kg: int
    contradicting: int
    hallucination_rate: float | None  # (absent + contradicting) / stated
    entities: int
    ungrounded_entities: int
    type_mismatched_entities: int
    min_faithfulness: float
    #: What decided faithfulness: "trigger" (the lexicon test on the text) or "annotations".
    faithfulness_by: str = "trigger"
    judge: str = "none: no judge was asked; faithfulness is the deterministic relation-phrase test"
    degenerate_notes: int = 0
    degenerate_rate: float | None = None
    degenerate_reasons: dict[str, int] = Field(default_factory=dict)
    extraction_notes: int = 0
    extraction_fact_recall: float | None = None  # sampled facts the writer's own extraction pass found
    extraction_hallucination_rate: float | None = None
    results: list[NoteCheck] = Field(default_factory=list)


class GraphView:
    """Cached reads of the few things the checks ask the graph."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._concepts: dict[str, Concept | None] = {}
        self._pairs: dict[tuple[str, str], list[Relation]] = {}
        self._equivalents: dict[str, list[str]] = {}

    def concepts(self, ids: Iterable[str]) -> dict[str, Concept | None]:
        wanted = [i for i in dict.fromkeys(ids) if i not in self._concepts]
        if wanted:
            found = self.store.get_concepts(wanted)
            for i in wanted:
                self._concepts[i] = found.get(i)
        return {i: self._concepts[i] for i in ids}

    def between(self, a: str, b: str) -> list[Relation]:
        """KG relations from ``a`` to ``b``."""
        if (a, b) not in self._pairs:
            self._pairs[(a, b)] = self.store.find_relations(subject=a, object=b)
        return self._pairs[(a, b)]

    def equivalents(self, concept_id: str) -> list[str]:
        if concept_id not in self._equivalents:
            rels = self.store.neighbors(concept_id, "both", types=["SAME_AS"])
            self._equivalents[concept_id] = [r.object if r.subject == concept_id else r.subject for r in rels]
        return self._equivalents[concept_id]


def _fact_keys(subject: str, type_: str, object_: str) -> set[tuple[str, str, str]]:
    keys = {(subject, type_, object_)}
    if type_ in SYMMETRIC_TYPES:
        keys.add((object_, type_, subject))
    return keys


def _extracted_facts(record: NoteRecord, relations: list[NoteRelation]) -> tuple[list[Fact], int]:
    """Extracted relations as concept-id facts (composite mentions give one per id)."""
    by_id = {e.id: e for e in record.entities}
    facts: dict[tuple[str, str, str], Fact] = {}
    dangling = 0
    for r in relations:
        s, o = by_id.get(r.subject), by_id.get(r.object)
        if s is None or o is None:
            dangling += 1
            continue
        for sid in concept_ids(s):
            for oid in concept_ids(o):
                facts.setdefault((sid, r.type, oid), Fact(subject=sid, type=r.type, object=oid))
    return list(facts.values()), dangling


def _stated_facts(record: NoteRecord, lexicon: Lexicon) -> list[Fact]:
    """The relations the text itself states, by concept id (the deterministic test)."""
    facts: dict[tuple[str, str, str], Fact] = {}
    for st in lexicon.statements(record.text, record.entities, record.anaphors):
        for sid in concept_ids(st.subject):
            for oid in concept_ids(st.object):
                facts.setdefault((sid, st.type, oid), Fact(subject=sid, type=st.type, object=oid))
    return list(facts.values())


def _against_kg(facts: list[Fact], sampled: set[tuple[str, str, str]], graph: GraphView
                ) -> tuple[int, list[Fact], list[Fact], list[Fact]]:
    """(in the sample, in the KG elsewhere, absent from the KG, contradicting the KG) for ``facts``."""
    in_sample, extra, absent, contra = 0, [], [], []
    for fact in facts:
        if (fact.subject, fact.type, fact.object) in sampled:
            in_sample += 1
            continue
        kg = graph.between(fact.subject, fact.object) + graph.between(fact.object, fact.subject)
        kg_here = {r.type for r in graph.between(fact.subject, fact.object)}
        kg_back = {r.type for r in kg if r.subject == fact.object}
        if fact.type in kg_here or (fact.type in SYMMETRIC_TYPES and fact.type in kg_back):
            extra.append(fact)
        elif conflicting := sorted({r.type for r in kg} & CONTRADICTS.get(fact.type, frozenset())):
            contra.append(fact.model_copy(update={"kg_types": conflicting}))
        else:
            absent.append(fact)
    return in_sample, extra, absent, contra


def check_note(
    record: NoteRecord, graph: GraphView, min_faithfulness: float = 1.0, use_annotations: bool = False,
    lexicon: Lexicon | None = None,
) -> NoteCheck:
    """Every check on one note (``use_annotations``: trust the annotated relations, for gold notes)."""
    lexicon = lexicon or load_lexicon()
    result = NoteCheck(id=record.id, passed=True, flags=[])
    result.span_errors = record.span_errors()
    # the note's own relation annotations must hold together whichever test decides what is stated
    _, result.dangling = _extracted_facts(record, record.relations)
    result.unknown_relation_types = [
        f"relation {r.subject}-{r.type}-{r.object}: {r.type!r} is not a relation type of the graph"
        for r in record.relations if r.type not in RELATION_TYPES]
    if use_annotations:
        stated, _ = _extracted_facts(record, record.relations)
    else:
        stated = _stated_facts(record, lexicon)
    stated_keys = {(f.subject, f.type, f.object) for f in stated}

    sampled: set[tuple[str, str, str]] = set()
    if record.instance is None:
        result.flags.append("no_instance")
    else:
        for fact in record.instance.relations:
            key = (fact.subject, fact.type, fact.object)
            sampled |= _fact_keys(*key)
            target = result.expressed if _fact_keys(*key) & stated_keys else result.missed
            target.append(Fact(subject=fact.subject, type=fact.type, object=fact.object))
        result.sampled_facts = len(record.instance.relations)
        if result.sampled_facts:
            result.faithfulness = len(result.expressed) / result.sampled_facts

    result.extracted_in_sample, result.extra_in_kg, result.absent_from_kg, result.contradicting = _against_kg(
        stated, sampled, graph)
    if (record.extracted_relations or record.decoding.get("extraction")) and not use_annotations:
        extracted, _ = _extracted_facts(record, record.extracted_relations)
        keys = {(f.subject, f.type, f.object) for f in extracted}
        result.extraction_ran = True
        result.extraction_facts = len(extracted)
        if record.instance is not None:
            result.extraction_expressed = sum(
                bool(_fact_keys(f.subject, f.type, f.object) & keys) for f in record.instance.relations)
        _, _, result.extraction_absent, result.extraction_contradicting = _against_kg(extracted, sampled, graph)
    result.degenerate = degenerate_reasons(record, lexicon)

    check_entities(record, graph, result)

    if result.faithfulness is not None and result.faithfulness < min_faithfulness:
        result.flags.append("unfaithful")
    for flag, items in (
        ("hallucination", result.absent_from_kg),
        ("contradiction", result.contradicting),
        ("ungrounded", result.ungrounded),
        ("type_mismatch", result.type_mismatches),
        ("unknown_concept", result.unknown_concepts),
        ("unknown_relation_type", result.unknown_relation_types),
        ("span_error", result.span_errors),
        ("extra_in_kg", result.extra_in_kg),
        ("degenerate", result.degenerate),
    ):
        if items:
            result.flags.append(flag)
    if result.dangling:
        result.flags.append("dangling_relation")
    result.passed = not any(f in FAILING_FLAGS for f in result.flags)
    return result


def check_notes(
    records: Iterable[NoteRecord], store: GraphStore, min_faithfulness: float = 1.0, use_annotations: bool = False,
    lexicon: Lexicon | None = None,
) -> CheckReport:
    """Check every note and sum the run's rates."""
    graph = GraphView(store)
    lexicon = lexicon or load_lexicon()
    results, entities = [], 0
    for record in records:
        results.append(check_note(record, graph, min_faithfulness, use_annotations, lexicon))
        entities += len(record.entities)
    return summarize(results, entities, min_faithfulness, use_annotations)


def summarize(results: list[NoteCheck], entities: int, min_faithfulness: float,
              use_annotations: bool = False) -> CheckReport:
    n = len(results)
    flags = Counter(f for r in results for f in set(r.flags))
    sampled = sum(r.sampled_facts for r in results)
    expressed = sum(len(r.expressed) for r in results)
    extra = sum(len(r.extra_in_kg) for r in results)
    absent = sum(len(r.absent_from_kg) for r in results)
    contra = sum(len(r.contradicting) for r in results)
    extracted = sum(r.extracted_in_sample for r in results) + extra + absent + contra
    faith = [r.faithfulness for r in results if r.faithfulness is not None]
    passed = sum(r.passed for r in results)
    degenerate = [r for r in results if r.degenerate]
    ran = [r for r in results if r.extraction_ran]
    ran_sampled = sum(r.sampled_facts for r in ran)
    ran_facts = sum(r.extraction_facts for r in ran)
    ran_bad = sum(len(r.extraction_absent) + len(r.extraction_contradicting) for r in ran)
    return CheckReport(
        faithfulness_by="annotations" if use_annotations else "trigger",
        degenerate_notes=len(degenerate),
        degenerate_rate=len(degenerate) / n if n else None,
        degenerate_reasons=dict(Counter(x for r in degenerate for x in r.degenerate).most_common()),
        extraction_notes=len(ran),
        extraction_fact_recall=sum(r.extraction_expressed for r in ran) / ran_sampled if ran_sampled else None,
        extraction_hallucination_rate=ran_bad / ran_facts if ran_facts else None,
        notes=n,
        passed=passed,
        pass_rate=passed / n if n else None,
        flag_rates={f: flags[f] / n for f in sorted(flags)} if n else {},
        flag_counts=dict(sorted(flags.items())),
        sampled_facts=sampled,
        expressed_facts=expressed,
        fact_recall=expressed / sampled if sampled else None,
        mean_faithfulness=sum(faith) / len(faith) if faith else None,
        extracted_facts=extracted,
        extra_in_kg=extra,
        absent_from_kg=absent,
        contradicting=contra,
        hallucination_rate=(absent + contra) / extracted if extracted else None,
        entities=entities,
        ungrounded_entities=sum(len(r.ungrounded) for r in results),
        type_mismatched_entities=sum(len(r.type_mismatches) for r in results),
        min_faithfulness=min_faithfulness,
        results=results,
    )
