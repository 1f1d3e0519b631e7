"""Pairs of the relation-extraction probe (:mod:`kgsynth.evaluation.re_probe`): the data side.

Every pair of distinct concepts that co-occur in a document (Gene, Disease, Chemical and
Variant concepts, as BioRED relates only those) is one example, labelled with its BioRED
relation type or ``None`` (undirected: an unordered pair of concept ids). Here: the pairs
and their gold labels, the entity markers (``* mention *``) put into the text, sentence
spans, and :func:`pair_shape`, the diagnostics that compare a corpus's pairs with BioRED's.
No model code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel

from kgsynth.evaluation.convert import concept_ids
from kgsynth.generation.record import Entity, NoteRecord
from kgsynth.loaders.mapping import MAPPINGS

#: BioRED's eight relation types, as kgsynth names them (the BioRED rows of the one mapping table).
RE_TYPES: tuple[str, ...] = tuple(dict.fromkeys(m.type for m in MAPPINGS if m.scheme == "BioRED"))
NONE = "None"
#: The classifier's labels: "no relation" first.
RE_LABELS: tuple[str, ...] = (NONE, *RE_TYPES)
#: The five rare BioRED types the generator should help with.
RARE_TYPES: frozenset[str] = frozenset({"BINDS", "COTREATMENT", "COMPARISON", "DRUG_INTERACTION", "CONVERSION"})
#: Entity groups that take part in BioRED relations; generated Phenotype counts as Disease.
PAIR_GROUPS: tuple[str, ...] = ("Gene", "Disease", "Chemical", "Variant")
GROUP_ALIASES: dict[str, str] = {"Phenotype": "Disease"}
MARKER = "*"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


class Pair(BaseModel):
    """One candidate: an unordered concept pair of document ``doc`` (``a < b``)."""

    doc: int
    a: str
    b: str
    label: str = NONE


class MarkedMention(BaseModel):
    """A mention's place in the marked text: from its opening marker to its closing one."""

    start: int
    end: int
    concepts: list[str]
    entity: str


def _group(entity: Entity) -> str | None:
    group = GROUP_ALIASES.get(entity.type, entity.type)
    return group if group in PAIR_GROUPS else None


def concept_groups(record: NoteRecord) -> dict[str, str]:
    """Concept id -> group for every pairable concept of ``record`` (first mention's group)."""
    groups: dict[str, str] = {}
    for e in sorted(record.entities, key=lambda e: (e.start, e.end)):
        group = _group(e)
        if group is None:
            continue
        for cid in concept_ids(e):
            groups.setdefault(cid, group)
    return groups


def gold_labels(record: NoteRecord) -> dict[tuple[str, str], str | None]:
    """Unordered concept pair -> BioRED type; ``None`` marks a pair related by a type outside BioRED's eight."""
    by_id = {e.id: e for e in record.entities}
    labels: dict[tuple[str, str], str | None] = {}
    for r in record.relations:
        s, o = by_id.get(r.subject), by_id.get(r.object)
        if s is None or o is None:
            continue
        for sid in concept_ids(s):
            for oid in concept_ids(o):
                if sid == oid:
                    continue
                key = (min(sid, oid), max(sid, oid))
                if key not in labels or labels[key] is None:
                    labels[key] = r.type if r.type in RE_TYPES else None
    return labels


def build_pairs(records: Sequence[NoteRecord]) -> list[Pair]:
    """Every co-occurring pair of pairable concepts per document, with its gold label.

    Pairs whose only relation is of a type outside BioRED's eight (e.g. TREATS from
    another KG) are left out: they are neither a BioRED type nor truly unrelated.
    """
    pairs = []
    for doc, record in enumerate(records):
        ids = sorted(concept_groups(record))
        labels = gold_labels(record)
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                if (a, b) in labels and labels[(a, b)] is None:
                    continue
                pairs.append(Pair(doc=doc, a=a, b=b, label=labels.get((a, b)) or NONE))
    return pairs


def mark(record: NoteRecord) -> tuple[str, list[MarkedMention]]:
    """The text with ``* mention *`` around every pairable mention, and where each now lies.

    Overlapping mentions keep the first (outer) one, so markers never interleave.
    """
    kept: list[Entity] = []
    for e in sorted(record.entities, key=lambda e: (e.start, -e.end)):
        if _group(e) is None or not concept_ids(e) or e.end > len(record.text):
            continue
        if kept and e.start < kept[-1].end:
            continue
        kept.append(e)
    pieces: list[str] = []
    spans: list[MarkedMention] = []
    cursor = 0
    length = 0
    for e in kept:
        before = record.text[cursor : e.start]
        pieces.append(before)
        length += len(before)
        marked = f"{MARKER} {record.text[e.start : e.end]} {MARKER}"
        spans.append(MarkedMention(start=length, end=length + len(marked), concepts=concept_ids(e), entity=e.id))
        pieces.append(marked)
        length += len(marked)
        cursor = e.end
    pieces.append(record.text[cursor:])
    return "".join(pieces), spans


def sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (split after . ! ? and at line breaks)."""
    spans = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans or [(0, len(text))]


def sentence_of(spans: Sequence[tuple[int, int]], offset: int) -> int:
    """Index of the sentence (of ``spans``) that holds character ``offset`` (the last one past the end)."""
    return next(i for i, (a, b) in enumerate(spans) if a <= offset < b or i == len(spans) - 1)


class PairShape(BaseModel):
    """What a pair classifier can learn from a corpus's layout alone (no words).

    A training set whose positives always share a sentence, or whose shared-sentence
    pairs are nearly all positive, teaches "same sentence = related"; BioRED train has
    86% of its positives in a shared sentence but only a third of its shared-sentence
    pairs related. Compare a generated corpus's shape with BioRED's before training on it.
    """

    docs: int
    pairs: int
    positive: float | None  # share of pairs that are related
    shared: float | None  # share of pairs whose concepts share a sentence
    positive_if_shared: float | None
    positive_if_apart: float | None
    positives_shared: float | None  # share of positive pairs that share a sentence
    type_share: dict[str, float]  # each BioRED type's share of the positive pairs


def pair_shape(records: Sequence[NoteRecord]) -> PairShape:
    """The :class:`PairShape` of ``records`` (pairs as :func:`build_pairs`, sentences as the encoder's)."""
    pairs = build_pairs(records)
    where: list[dict[str, set[int]]] = []
    for record in records:
        text, mentions = mark(record)
        spans = sentences(text)
        found: dict[str, set[int]] = {}
        for m in mentions:
            for cid in m.concepts:
                found.setdefault(cid, set()).add(sentence_of(spans, m.start))
        where.append(found)
    shared = [bool(where[p.doc].get(p.a, set()) & where[p.doc].get(p.b, set())) for p in pairs]
    positive = [p.label != NONE for p in pairs]

    def share(num: int, den: int) -> float | None:
        return num / den if den else None

    n_pos, n_shared = sum(positive), sum(shared)
    both = sum(s and q for s, q in zip(shared, positive, strict=True))
    types: dict[str, int] = {}
    for p in pairs:
        if p.label != NONE:
            types[p.label] = types.get(p.label, 0) + 1
    return PairShape(
        docs=len(records), pairs=len(pairs), positive=share(n_pos, len(pairs)), shared=share(n_shared, len(pairs)),
        positive_if_shared=share(both, n_shared), positive_if_apart=share(n_pos - both, len(pairs) - n_shared),
        positives_shared=share(both, n_pos), type_share={t: k / n_pos for t, k in sorted(types.items())},
    )
