"""NER and RE scores between gold and predicted NoteRecords.

Stable API::

    evaluate(gold, pred, relation_level="mention", bootstrap_samples=1000, seed=0) -> EvaluationReport

Entity modes (one-to-one matching; a prediction matches at most one gold entity,
so duplicate predictions count as false positives):

- ``strict``: same span and same type (nervaluate "strict", seqeval on BIO tags);
- ``exact``: same span, any type (nervaluate "exact");
- ``partial``: overlapping spans, same type (nervaluate "ent_type");
- ``type``: spans ignored; per document, per type, min(gold count, predicted count)
  match. It shows whether a system finds the right kinds of things in each text.

Relation modes:

- ``strict``: both argument spans and types, the relation type and the direction;
- ``relaxed``: arguments match by a shared concept id or overlapping spans, same
  relation type, either direction (BioRED's relations are undirected);
- ``pair``: as relaxed, any relation type.

With ``relation_level="concept"`` (gold from BioRED/BC5CDR, whose relations are
document level) each relation becomes a set key of concept ids, as BioRED's own
evaluation does: strict keeps direction and argument types, relaxed drops the
direction, pair also drops the relation type. Duplicates collapse; an argument that
is a composite mention ("breast and ovarian cancer") yields one key per id it carries.

Per-type counts: true positives and false negatives count under the gold type,
false positives under the predicted type. Problems in the predictions (documents
missing or extra, offsets out of range, unknown types, relations pointing at no
entity) are counted in ``EvaluationReport.issues`` rather than silently scored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from kgsynth.errors import InputError
from kgsynth.evaluation.convert import concept_ids
from kgsynth.evaluation.scores import Counts, ModeScore, bootstrap, mode_score
from kgsynth.generation.record import Entity, NoteRecord
from kgsynth.graph.schema import RELATION_TYPES, SEMANTIC_GROUPS

EntityMode = Literal["strict", "exact", "partial", "type"]
RelationMode = Literal["strict", "relaxed", "pair"]
RelationLevel = Literal["mention", "concept"]
ENTITY_MODES: tuple[EntityMode, ...] = ("strict", "exact", "partial", "type")
RELATION_MODES: tuple[RelationMode, ...] = ("strict", "relaxed", "pair")


class InputIssues(BaseModel):
    """What in the predictions could not be scored as given (never dropped silently)."""

    gold_documents: int = 0
    pred_documents: int = 0
    missing_in_pred: list[str] = Field(default_factory=list)  # scored as empty predictions
    extra_in_pred: list[str] = Field(default_factory=list)  # not scored
    text_mismatch: list[str] = Field(default_factory=list)  # same id, different text
    out_of_range_entities: int = 0  # dropped
    text_mismatch_entities: int = 0  # kept (offsets rule), counted
    unknown_entity_types: dict[str, int] = Field(default_factory=dict)
    unknown_relation_types: dict[str, int] = Field(default_factory=dict)
    dangling_relations: int = 0  # pointing at an entity id the note lacks; dropped
    relations_without_concept: int = 0  # concept-level scoring needs ids; dropped


class EvaluationReport(BaseModel):
    documents: int
    relation_level: RelationLevel
    entity: dict[str, ModeScore]
    relation: dict[str, ModeScore]
    issues: InputIssues


# -- entity matching ------------------------------------------------------------------


def _overlap(a: Entity, b: Entity) -> int:
    return max(0, min(a.end, b.end) - max(a.start, b.start))


def _span_match(mode: EntityMode) -> Callable[[Entity, Entity], bool]:
    if mode == "strict":
        return lambda g, p: (g.start, g.end, g.type) == (p.start, p.end, p.type)
    if mode == "exact":
        return lambda g, p: (g.start, g.end) == (p.start, p.end)
    return lambda g, p: g.type == p.type and _overlap(g, p) > 0


def match_entities(gold: list[Entity], pred: list[Entity], mode: EntityMode) -> dict[str, Counts]:
    """Per-type counts for one document under ``mode``."""
    counts: dict[str, Counts] = {}

    def bump(t: str, field: str) -> None:
        c = counts.setdefault(t, Counts())
        setattr(c, field, getattr(c, field) + 1)

    if mode == "type":
        g, p = Counter(e.type for e in gold), Counter(e.type for e in pred)
        for t in sorted(set(g) | set(p)):
            counts[t] = Counts(tp=min(g[t], p[t]), fp=max(0, p[t] - g[t]), fn=max(0, g[t] - p[t]))
        return counts
    ok = _span_match(mode)
    free = list(range(len(gold)))
    for pe in sorted(pred, key=lambda e: (e.start, e.end, e.type)):
        candidates = [i for i in free if ok(gold[i], pe)]
        if not candidates:
            bump(pe.type, "fp")
            continue
        best = max(candidates, key=lambda i: (gold[i].type == pe.type, _overlap(gold[i], pe), -i))
        free.remove(best)
        bump(gold[best].type, "tp")
    for i in free:
        bump(gold[i].type, "fn")
    return counts


# -- relation matching ----------------------------------------------------------------

Rel = tuple[Entity, str, Entity]


def _resolve(record: NoteRecord, issues: InputIssues | None) -> list[Rel]:
    by_id = {e.id: e for e in record.entities}
    rels: list[Rel] = []
    for r in record.relations:
        s, o = by_id.get(r.subject), by_id.get(r.object)
        if s is None or o is None:
            if issues is not None:
                issues.dangling_relations += 1
            continue
        rels.append((s, r.type, o))
    return rels


def _same_entity(g: Entity, p: Entity) -> bool:
    shared = set(concept_ids(g)) & set(concept_ids(p))
    return bool(shared) or _overlap(g, p) > 0


def _concept_keys(rel: Rel, mode: RelationMode) -> list[tuple]:
    """Set keys of a relation by concept id; composite mentions expand to every id they carry."""
    s, t, o = rel
    keys = []
    for sid in concept_ids(s):
        for oid in concept_ids(o):
            if mode == "strict":
                keys.append((sid, s.type, t, oid, o.type))
            else:
                pair = tuple(sorted((sid, oid)))
                keys.append((pair, t) if mode == "relaxed" else (pair,))
    return keys


def match_relations(
    gold: list[Rel], pred: list[Rel], mode: RelationMode, level: RelationLevel, issues: InputIssues | None = None
) -> dict[str, Counts]:
    """Per-relation-type counts for one document under ``mode``."""
    counts: dict[str, Counts] = {}

    def bump(t: str, field: str) -> None:
        c = counts.setdefault(t, Counts())
        setattr(c, field, getattr(c, field) + 1)

    if level == "concept":
        gk: dict[tuple, str] = {}
        for r in gold:
            for key in _concept_keys(r, mode):
                gk.setdefault(key, r[1])
        pk: dict[tuple, str] = {}
        for r in pred:
            keys = _concept_keys(r, mode)
            if not keys and issues is not None:
                issues.relations_without_concept += 1
            for key in keys:
                pk.setdefault(key, r[1])
        for key, t in gk.items():
            bump(t, "tp" if key in pk else "fn")
        for key, t in pk.items():
            if key not in gk:
                bump(t, "fp")
        return counts

    if mode == "strict":

        def key(r: Rel) -> tuple:
            return (r[0].start, r[0].end, r[0].type, r[1], r[2].start, r[2].end, r[2].type)

        remaining = Counter(key(r) for r in gold)
        gold_type = {key(r): r[1] for r in gold}
        for r in pred:
            k = key(r)
            if remaining[k] > 0:
                remaining[k] -= 1
                bump(gold_type[k], "tp")
            else:
                bump(r[1], "fp")
        for k, n in remaining.items():
            for _ in range(n):
                bump(gold_type[k], "fn")
        return counts

    def ok(g: Rel, p: Rel) -> bool:
        if mode == "relaxed" and g[1] != p[1]:
            return False
        forward = _same_entity(g[0], p[0]) and _same_entity(g[2], p[2])
        return forward or (_same_entity(g[0], p[2]) and _same_entity(g[2], p[0]))

    free = list(range(len(gold)))
    for p in pred:
        candidates = [i for i in free if ok(gold[i], p)]
        if not candidates:
            bump(p[1], "fp")
            continue
        best = max(candidates, key=lambda i: (gold[i][1] == p[1], -i))
        free.remove(best)
        bump(gold[best][1], "tp")
    for i in free:
        bump(gold[i][1], "fn")
    return counts


# -- evaluation ------------------------------------------------------------------------


def _clean_prediction(record: NoteRecord, known_entity_types: set[str], issues: InputIssues) -> NoteRecord:
    """Drop entities whose offsets fall outside the text; count every other oddity."""
    kept = []
    for e in record.entities:
        if not (0 <= e.start < e.end <= len(record.text)):
            issues.out_of_range_entities += 1
            continue
        if record.text[e.start : e.end] != e.text:
            issues.text_mismatch_entities += 1
        if e.type not in known_entity_types:
            issues.unknown_entity_types[e.type] = issues.unknown_entity_types.get(e.type, 0) + 1
        kept.append(e)
    return record.model_copy(update={"entities": kept})


def evaluate(
    gold: Sequence[NoteRecord],
    pred: Sequence[NoteRecord],
    relation_level: RelationLevel = "mention",
    bootstrap_samples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> EvaluationReport:
    """Score ``pred`` against ``gold``, aligned by record id."""
    if not gold:
        raise InputError("gold has no documents to score against")
    gold_by_id: dict[str, NoteRecord] = {}
    for g in gold:
        if g.id in gold_by_id:
            raise InputError(f"gold: document id {g.id} appears twice")
        gold_by_id[g.id] = g
    pred_by_id: dict[str, NoteRecord] = {}
    for p in pred:
        if p.id in pred_by_id:
            raise InputError(f"predictions: document id {p.id} appears twice")
        pred_by_id[p.id] = p
    issues = InputIssues(gold_documents=len(gold_by_id), pred_documents=len(pred_by_id))
    issues.missing_in_pred = [i for i in gold_by_id if i not in pred_by_id]
    issues.extra_in_pred = [i for i in pred_by_id if i not in gold_by_id]
    if pred_by_id and len(issues.extra_in_pred) == len(pred_by_id):
        raise InputError(
            f"no document id of the predictions is in the gold (e.g. {issues.extra_in_pred[0]!r} vs "
            f"{next(iter(gold_by_id))!r}): are they for the same corpus?"
        )
    known_entity_types = set(SEMANTIC_GROUPS) | {e.type for g in gold for e in g.entities}
    known_relation_types = set(RELATION_TYPES) | {r.type for g in gold for r in g.relations}

    ent_docs: dict[str, list[dict[str, Counts]]] = {m: [] for m in ENTITY_MODES}
    rel_docs: dict[str, list[dict[str, Counts]]] = {m: [] for m in RELATION_MODES}
    for doc_id, g in gold_by_id.items():
        p = pred_by_id.get(doc_id) or NoteRecord(id=doc_id, text=g.text)
        if p.text != g.text:
            issues.text_mismatch.append(doc_id)
        p = _clean_prediction(p, known_entity_types, issues)
        for r in p.relations:
            if r.type not in known_relation_types:
                issues.unknown_relation_types[r.type] = issues.unknown_relation_types.get(r.type, 0) + 1
        for m in ENTITY_MODES:
            ent_docs[m].append(match_entities(g.entities, p.entities, m))
        g_rels, p_rels = _resolve(g, None), _resolve(p, issues)
        for i, m in enumerate(RELATION_MODES):
            rel_docs[m].append(match_relations(g_rels, p_rels, m, relation_level, issues if i == 0 else None))

    def scored(per_doc: list[dict[str, Counts]]) -> ModeScore:
        return mode_score(per_doc, bootstrap(per_doc, bootstrap_samples, seed, level))

    return EvaluationReport(
        documents=len(gold_by_id),
        relation_level=relation_level,
        entity={m: scored(d) for m, d in ent_docs.items()},
        relation={m: scored(d) for m, d in rel_docs.items()},
        issues=issues,
    )


def relation_counts(
    gold: Sequence[NoteRecord], pred: Sequence[NoteRecord], mode: RelationMode = "relaxed",
    relation_level: RelationLevel = "concept",
) -> list[dict[str, Counts]]:
    """Per-document relation counts, in gold order, as :func:`evaluate` sums them.

    For statistics :func:`evaluate` does not report itself, such as a paired bootstrap
    of two systems' F1 on the same documents (:func:`~kgsynth.evaluation.scores.difference_interval`).
    """
    pred_by_id = {p.id: p for p in pred}
    result = []
    for g in gold:
        p = pred_by_id.get(g.id) or NoteRecord(id=g.id, text=g.text)
        result.append(match_relations(_resolve(g, None), _resolve(p, None), mode, relation_level))
    return result
