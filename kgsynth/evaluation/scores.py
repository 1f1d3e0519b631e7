"""Precision/recall/F1 from counts, micro and macro, and document bootstrap intervals.

Undefined ratios are ``None`` rather than 0: precision with no predictions, recall
with no gold. A report then says "nothing to score" instead of a silent zero. F1 is
``2tp / (2tp + fp + fn)``, defined whenever either side has anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, Field


class Counts(BaseModel):
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn


class Score(BaseModel):
    """Counts with the ratios they give (``support`` = gold items = tp + fn)."""

    tp: int
    fp: int
    fn: int
    support: int
    precision: float | None
    recall: float | None
    f1: float | None


class Interval(BaseModel):
    low: float | None
    high: float | None


class BootstrapCI(BaseModel):
    """Percentile intervals of micro scores over documents resampled with replacement."""

    level: float
    samples: int
    seed: int
    precision: Interval
    recall: Interval
    f1: Interval


class ModeScore(BaseModel):
    """Scores of one matching mode."""

    micro: Score
    macro_precision: float | None
    macro_recall: float | None
    macro_f1: float | None
    per_type: dict[str, Score] = Field(default_factory=dict)
    ci: BootstrapCI | None = None


def ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def score(c: Counts) -> Score:
    return Score(
        tp=c.tp,
        fp=c.fp,
        fn=c.fn,
        support=c.tp + c.fn,
        precision=ratio(c.tp, c.tp + c.fp),
        recall=ratio(c.tp, c.tp + c.fn),
        f1=ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
    )


def _mean(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def mode_score(per_doc: Sequence[Mapping[str, Counts]], ci: BootstrapCI | None = None) -> ModeScore:
    """Sum per-document, per-type counts into micro, macro and per-type scores."""
    totals: dict[str, Counts] = {}
    for doc in per_doc:
        for t, c in doc.items():
            totals.setdefault(t, Counts()).add(c)
    micro = Counts()
    for c in totals.values():
        micro.add(c)
    per_type = {t: score(c) for t, c in sorted(totals.items())}
    return ModeScore(
        micro=score(micro),
        macro_precision=_mean([s.precision for s in per_type.values()]),
        macro_recall=_mean([s.recall for s in per_type.values()]),
        macro_f1=_mean([s.f1 for s in per_type.values()]),
        per_type=per_type,
        ci=ci,
    )


def bootstrap(
    per_doc: Sequence[Mapping[str, Counts]], samples: int = 1000, seed: int = 0, level: float = 0.95
) -> BootstrapCI | None:
    """Resample documents (seeded) and take percentile intervals of micro P/R/F1."""
    if not per_doc or samples <= 0:
        return None
    arr = np.array(
        [
            [sum(c.tp for c in d.values()), sum(c.fp for c in d.values()), sum(c.fn for c in d.values())]
            for d in per_doc
        ],
        dtype=np.int64,
    )
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(arr), size=(samples, len(arr)))
    sums = arr[idx].sum(axis=1)  # (samples, 3)
    tp, fp, fn = sums[:, 0].astype(float), sums[:, 1].astype(float), sums[:, 2].astype(float)
    alpha = (1 - level) / 2

    def interval(num: np.ndarray, den: np.ndarray) -> Interval:
        ok = den > 0
        if not ok.any():
            return Interval(low=None, high=None)
        values = num[ok] / den[ok]
        return Interval(low=float(np.quantile(values, alpha)), high=float(np.quantile(values, 1 - alpha)))

    return BootstrapCI(
        level=level,
        samples=samples,
        seed=seed,
        precision=interval(tp, tp + fp),
        recall=interval(tp, tp + fn),
        f1=interval(2 * tp, 2 * tp + fp + fn),
    )


def difference_interval(
    per_doc_a: Sequence[Mapping[str, Counts]], per_doc_b: Sequence[Mapping[str, Counts]], samples: int = 1000,
    seed: int = 0, level: float = 0.95, metric: str = "f1",
) -> Interval | None:
    """Percentile interval of micro F1(a) - F1(b) (``metric="recall"``: recall) under a paired document
    bootstrap.

    Both systems are scored on the same documents, so each resample draws the same
    documents for both: the interval of the difference is much narrower than the two
    systems' own intervals suggest when their errors are correlated.
    """
    if metric not in ("f1", "recall"):
        raise ValueError(f"metric must be f1 or recall, not {metric!r}")
    if len(per_doc_a) != len(per_doc_b):
        raise ValueError("paired bootstrap needs the same documents on both sides")
    if not per_doc_a or samples <= 0:
        return None

    def totals(per_doc: Sequence[Mapping[str, Counts]]) -> np.ndarray:
        return np.array(
            [[sum(c.tp for c in d.values()), sum(c.fp for c in d.values()), sum(c.fn for c in d.values())]
             for d in per_doc],
            dtype=np.int64,
        )

    a, b = totals(per_doc_a), totals(per_doc_b)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(samples, len(a)))

    def score(arr: np.ndarray) -> np.ndarray:
        s = arr[idx].sum(axis=1).astype(float)
        num, den = (2 * s[:, 0], 2 * s[:, 0] + s[:, 1] + s[:, 2]) if metric == "f1" else (s[:, 0], s[:, 0] + s[:, 2])
        return np.divide(num, den, out=np.zeros_like(den), where=den > 0)

    diff = score(a) - score(b)
    alpha = (1 - level) / 2
    return Interval(low=float(np.quantile(diff, alpha)), high=float(np.quantile(diff, 1 - alpha)))
