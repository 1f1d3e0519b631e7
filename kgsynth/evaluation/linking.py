"""Entity-linking Recall@k by mention, micro and per type, with document-bootstrap intervals.

A gold mention (one with at least one id) is a hit at ``k`` when any of its gold ids is
among the first ``k`` candidates predicted for the same span (document, start, end); a
span with no prediction is a miss. Gold mentions without ids are counted and left out.
Intervals resample documents (:func:`kgsynth.evaluation.scores.bootstrap`, hits as tp and
misses as fn, so its recall interval is the Recall@k interval).
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, Field

from kgsynth.evaluation.scores import Counts, Interval, bootstrap, difference_interval
from kgsynth.linking.mentions import LinkMention, LinkPrediction


class RecallAtK(BaseModel):
    k: int
    mentions: int
    hits: int
    recall: float | None
    ci: Interval | None = None


class LinkTypeScores(BaseModel):
    micro: RecallAtK
    per_type: dict[str, RecallAtK] = Field(default_factory=dict)


class LinkReport(BaseModel):
    gold_mentions: int
    without_gold_id: int
    scored: int
    predicted: int
    without_prediction: int
    predictions_not_in_gold: int
    #: Share of scored mentions that got at least one candidate (linkers answer only with ids of
    #: the mention's group, so this is also the share of valid answers).
    answered: float | None
    at: dict[str, LinkTypeScores]


class RecallDifference(BaseModel):
    """Recall@k of one linker minus another's on the same mentions, with a paired document-bootstrap
    interval (both linkers on the same resampled documents), and the mentions each gets right alone."""

    k: int
    mentions: int
    difference: float | None
    ci: Interval | None = None
    only_a: int
    only_b: int


def hit_at(gold: list[str], candidates: list[str], k: int) -> bool:
    return any(c in gold for c in candidates[:k])


def mention_hits(gold: list[LinkMention], predictions: list[LinkPrediction], k: int) -> list[bool | None]:
    """Per gold mention, in order: hit at ``k`` or not (None for a mention without a gold id)."""
    by_span = {(p.doc, p.start, p.end): p for p in predictions}
    found = [by_span.get((g.doc, g.start, g.end)) for g in gold]
    return [None if not g.gold else bool(p and hit_at(g.gold, p.candidates, k))
            for g, p in zip(gold, found, strict=True)]


def hits_per_doc(gold: list[LinkMention], predictions: list[LinkPrediction], k: int) -> dict[str, dict[str, Counts]]:
    """Per document and type, the scored gold mentions hit at ``k`` (tp) and missed (fn), in gold order."""
    return _per_doc(gold, mention_hits(gold, predictions, k))


def _per_doc(gold: list[LinkMention], hits: list[bool | None]) -> dict[str, dict[str, Counts]]:
    per_doc: dict[str, dict[str, Counts]] = defaultdict(lambda: defaultdict(Counts))
    for g, hit in zip(gold, hits, strict=True):
        if hit is not None:
            per_doc[g.doc][g.group].add(Counts(tp=int(hit), fn=int(not hit)))
    return per_doc


def recall_difference(gold: list[LinkMention], a: list[LinkPrediction], b: list[LinkPrediction], k: int = 1,
                      bootstrap_samples: int = 1000, seed: int = 0) -> RecallDifference:
    """Recall@k(a) − Recall@k(b) on ``gold``, with its paired 95% document-bootstrap interval: whether one
    linker beats another is a question about the difference, which the two rows' own intervals overlap on."""
    hits_a, hits_b = mention_hits(gold, a, k), mention_hits(gold, b, k)
    per_a, per_b = _per_doc(gold, hits_a), _per_doc(gold, hits_b)
    docs = list(per_a)
    scored = [(x, y) for x, y in zip(hits_a, hits_b, strict=True) if x is not None]
    gained = sum(int(x) - int(bool(y)) for x, y in scored)
    return RecallDifference(
        k=k, mentions=len(scored), difference=round(gained / len(scored), 4) if scored else None,
        ci=difference_interval([per_a[d] for d in docs], [per_b[d] for d in docs], bootstrap_samples, seed,
                               metric="recall"),
        only_a=sum(1 for x, y in scored if x and not y), only_b=sum(1 for x, y in scored if y and not x))


def link_scores(gold: list[LinkMention], predictions: list[LinkPrediction], ks: tuple[int, ...] = (1, 5),
                bootstrap_samples: int = 1000, seed: int = 0) -> LinkReport:
    by_span = {(p.doc, p.start, p.end): p for p in predictions}
    scored = [g for g in gold if g.gold]
    spans = {(g.doc, g.start, g.end) for g in gold}
    missing = sum(1 for g in scored if (g.doc, g.start, g.end) not in by_span)
    answered = [bool(by_span.get((g.doc, g.start, g.end)) and by_span[(g.doc, g.start, g.end)].candidates)
                for g in scored]
    at: dict[str, LinkTypeScores] = {}
    for k in ks:
        docs = list(hits_per_doc(gold, predictions, k).values())
        at[f"recall@{k}"] = LinkTypeScores(
            micro=_score(k, docs, None, bootstrap_samples, seed),
            per_type={t: _score(k, docs, t, bootstrap_samples, seed)
                      for t in sorted({g.group for g in scored})})
    return LinkReport(gold_mentions=len(gold), without_gold_id=len(gold) - len(scored), scored=len(scored),
                      predicted=len(predictions), without_prediction=missing,
                      predictions_not_in_gold=sum(1 for s in by_span if s not in spans),
                      answered=round(sum(answered) / len(answered), 4) if answered else None, at=at)


def _score(k: int, docs: list[dict[str, Counts]], group: str | None, samples: int, seed: int) -> RecallAtK:
    rows = [{t: c for t, c in d.items() if group is None or t == group} for d in docs]
    rows = [r for r in rows if r]
    hits = sum(c.tp for r in rows for c in r.values())
    total = hits + sum(c.fn for r in rows for c in r.values())
    ci = bootstrap(rows, samples=samples, seed=seed) if samples > 0 else None
    return RecallAtK(k=k, mentions=total, hits=hits, recall=round(hits / total, 4) if total else None,
                     ci=ci.recall if ci else None)
