"""Relation-extraction utility probe: BioRED's setting with gold entities.

Every pair of distinct concepts that co-occur in a document (Gene, Disease, Chemical
and Variant concepts, as BioRED relates only those) is one example, labelled with
its BioRED relation type or ``None``. Relations are undirected, so a pair is an
unordered pair of concept ids and its features are symmetric.

The encoder is the packaged all-MiniLM-L6-v2, kept frozen: every mention is wrapped
in entity markers (``* mention *``, as in ATLOP), each document is encoded once, and
a concept is the mean of its marked mentions' token states. A small MLP classifies a
pair from both concepts, the sentences they share and a few distance features.
Freezing the encoder is what keeps the probe on a 2-core CPU: documents are encoded
once per run and every training mix reuses the cached features, so rows differ only
in which pairs train the head. Predictions are scored with :func:`evaluate` at
concept level, mode ``relaxed`` (pair and type, either direction), as BioRED's own
evaluation does.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from kgsynth.evaluation.convert import concept_ids
from kgsynth.evaluation.metrics import evaluate, relation_counts

# The encoder side (markers, windows, concept and pair vectors) is kgsynth.evaluation.re_features,
# the data side (pairs, labels, markers, sentences, pair shape) kgsynth.evaluation.re_pairs; their
# names are re-exported here, so ``re_probe`` stays the one import for the probe.
from kgsynth.evaluation.re_features import (  # noqa: F401 - re-exported
    DocFeatures,
    encode_documents,
    load_encoder,
    pair_matrix,
    pair_static,
    pair_vector,
)
from kgsynth.evaluation.re_pairs import (  # noqa: F401 - re-exported
    GROUP_ALIASES,
    MARKER,
    NONE,
    PAIR_GROUPS,
    RARE_TYPES,
    RE_LABELS,
    RE_TYPES,
    MarkedMention,
    Pair,
    PairShape,
    build_pairs,
    concept_groups,
    gold_labels,
    mark,
    pair_shape,
    sentence_of,
    sentences,
)
from kgsynth.evaluation.scores import BootstrapCI, Counts, Interval, bootstrap, difference_interval
from kgsynth.generation.record import Entity, NoteRecord, NoteRelation


class ProbeSettings(BaseModel):
    """The head's training settings; every row of a run uses the same ones."""

    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    hidden: int = 256
    dropout: float = 0.1
    seed: int = 0


def make_head(width: int, hidden: int, dropout: float):  # noqa: ANN201 - torch module
    """The MLP pair classifier: LayerNorm, one hidden ReLU layer with dropout, one logit per label."""
    import torch

    return torch.nn.Sequential(
        torch.nn.LayerNorm(width),
        torch.nn.Linear(width, hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(hidden, len(RE_LABELS)),
    )


def train_head(  # noqa: ANN201 - torch module
    x: np.ndarray, y: Sequence[int], settings: ProbeSettings, weights: Sequence[float] | None = None,
    init=None,  # noqa: ANN001 - torch module
):
    """Fit the MLP pair classifier on features ``x`` and label ids ``y`` (seeded).

    ``weights`` scale each example's loss (a batch's loss is the weighted mean), so
    synthetic pairs can count less than real ones without changing anything else.
    ``init``: a trained head to go on training (a later stage of a curriculum) instead of a new one.
    """
    import torch

    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    head = make_head(x.shape[1], settings.hidden, settings.dropout) if init is None else init
    xt, yt = torch.from_numpy(x), torch.tensor(list(y), dtype=torch.long)
    wt = torch.ones(len(yt)) if weights is None else torch.tensor(list(weights), dtype=torch.float32)
    optimizer = torch.optim.AdamW(head.parameters(), lr=settings.lr, weight_decay=0.01)
    steps = max(1, settings.epochs * ((len(xt) + settings.batch_size - 1) // settings.batch_size))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / steps))
    head.train()
    order = list(range(len(xt)))
    for _ in range(settings.epochs):
        rng.shuffle(order)
        for k in range(0, len(order), settings.batch_size):
            idx = torch.tensor(order[k : k + settings.batch_size])
            losses = torch.nn.functional.cross_entropy(head(xt[idx]), yt[idx], reduction="none")
            loss = (losses * wt[idx]).sum() / wt[idx].sum().clamp(min=1e-12)
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    head.eval()
    return head


def predict_labels(head, x: np.ndarray) -> list[str]:  # noqa: ANN001 - torch module
    import torch

    if len(x) == 0:
        return []
    with torch.no_grad():
        best = head(torch.from_numpy(x)).argmax(-1).tolist()
    return [RE_LABELS[i] for i in best]


def predicted_records(records: Sequence[NoteRecord], pairs: Sequence[Pair], labels: Sequence[str]) -> list[NoteRecord]:
    """Predictions as NoteRecords: one single-id entity per concept, a relation per positive pair.

    Single-id entities keep concept-level scoring exact (a composite gold mention would
    otherwise add one key per id it carries).
    """
    out = []
    for doc, record in enumerate(records):
        first: dict[str, Entity] = {}
        for e in sorted(record.entities, key=lambda e: (e.start, e.end)):
            for cid in concept_ids(e):
                first.setdefault(cid, e)
        entities: dict[str, Entity] = {}

        def entity(cid: str, entities: dict[str, Entity] = entities, first: dict[str, Entity] = first) -> str:
            if cid not in entities:
                e = first[cid]
                entities[cid] = e.model_copy(update={"id": f"C{len(entities) + 1}", "concept_id": cid})
            return entities[cid].id

        relations = [
            NoteRelation(subject=entity(p.a), type=label, object=entity(p.b))
            for p, label in zip(pairs, labels, strict=True)
            if p.doc == doc and label != NONE
        ]
        out.append(NoteRecord(id=record.id, text=record.text, entities=list(entities.values()), relations=relations))
    return out


def gold_for_scoring(records: Sequence[NoteRecord]) -> list[NoteRecord]:
    """Gold with only BioRED's eight relation types (what the probe can predict)."""
    return [r.model_copy(update={"relations": [x for x in r.relations if x.type in RE_TYPES]}) for r in records]


class TypeScore(BaseModel):
    support: int
    precision: float | None
    recall: float | None
    f1: float | None
    f1_ci: Interval | None = None


class RERow(BaseModel):
    """One row of the RE utility table."""

    train: str
    train_docs: int
    train_pairs: int
    positive_pairs: int
    seconds: float
    micro_precision: float | None
    micro_recall: float | None
    micro_f1: float | None
    micro_f1_ci: Interval | None
    macro_f1: float | None
    per_type: dict[str, TypeScore]
    #: Paired bootstrap of micro F1 minus the first row's (same dev documents resampled).
    f1_diff_vs_first: float | None = None
    f1_diff_ci: Interval | None = None


def per_type_intervals(per_doc: Sequence[dict[str, Counts]], samples: int, seed: int) -> dict[str, BootstrapCI]:
    """A document-bootstrap F1 interval per relation type (the type's own counts resampled)."""
    types = sorted({t for d in per_doc for t in d})
    result = {}
    for t in types:
        ci = bootstrap([{t: d[t]} if t in d else {} for d in per_doc], samples, seed)
        if ci is not None:
            result[t] = ci
    return result


def score_rows(
    name: str, train_docs: int, train_pairs: Sequence[Pair], dev: Sequence[NoteRecord], dev_pairs: Sequence[Pair],
    labels: Sequence[str], seconds: float, bootstrap_samples: int = 1000, seed: int = 0,
) -> tuple[RERow, list[dict[str, Counts]]]:
    """Score one row's dev predictions with :func:`evaluate`; also return per-document counts."""
    gold = gold_for_scoring(dev)
    pred = predicted_records(dev, dev_pairs, labels)
    report = evaluate(gold, pred, relation_level="concept", bootstrap_samples=bootstrap_samples, seed=seed)
    relaxed = report.relation["relaxed"]
    per_doc = relation_counts(gold, pred, "relaxed", "concept")
    intervals = per_type_intervals(per_doc, bootstrap_samples, seed)
    per_type = {
        t: TypeScore(
            support=s.support, precision=s.precision, recall=s.recall, f1=s.f1,
            f1_ci=intervals[t].f1 if t in intervals else None,
        )
        for t, s in relaxed.per_type.items()
    }
    row = RERow(
        train=name,
        train_docs=train_docs,
        train_pairs=len(train_pairs),
        positive_pairs=sum(p.label != NONE for p in train_pairs),
        seconds=round(seconds, 1),
        micro_precision=relaxed.micro.precision,
        micro_recall=relaxed.micro.recall,
        micro_f1=relaxed.micro.f1,
        micro_f1_ci=relaxed.ci.f1 if relaxed.ci else None,
        macro_f1=relaxed.macro_f1,
        per_type=per_type,
    )
    return row, per_doc


class Corpus(BaseModel):
    """Documents with their pairs and cached pair features (encoded once per run)."""

    model_config = {"arbitrary_types_allowed": True}

    records: list[NoteRecord]
    pairs: list[Pair]
    x: np.ndarray
    #: Loss weight of this corpus's pairs when a head trains on it (real data 1.0).
    weight: float = 1.0
    #: Training stage within a mix: the head trains on the stage-0 corpora first, then goes on
    #: (fresh optimizer and schedule) on the stage-1 ones: pre-training on notes, then real text.
    stage: int = 0


def prepare(
    records: Sequence[NoteRecord], tokenizer, model, max_len: int = 256, progress: bool = False,  # noqa: ANN001
    cache_dir: Path | None = None,
) -> Corpus:
    """Pairs and their features for ``records``; with ``cache_dir``, features are reused across runs.

    The cache key is a hash of every record (text, entities, relations), ``max_len``, the
    encoder and the feature code itself (:func:`_feature_code`), so a changed corpus, setting or
    feature function is encoded afresh.
    """
    pairs = build_pairs(records)
    path = None
    if cache_dir is not None:
        name = getattr(model.config, "_name_or_path", "")
        digest = hashlib.sha1(f"{max_len}|{MARKER}|{model.config.hidden_size}|{name}|{_feature_code()}".encode())
        for r in records:
            digest.update(r.model_dump_json(include={"text", "entities", "relations"}).encode("utf-8"))
        path = Path(cache_dir) / f"re-features-{digest.hexdigest()[:20]}.npy"
        if path.is_file():
            x = np.load(path)
            if len(x) == len(pairs):
                return Corpus(records=list(records), pairs=pairs, x=x)
    features = encode_documents(records, tokenizer, model, max_len=max_len, progress=progress)
    x = pair_matrix(features, pairs, model.config.hidden_size)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, x)
        tmp.replace(path)
    return Corpus(records=list(records), pairs=pairs, x=x)


def _feature_code() -> str:
    """The source of the functions that turn documents into pair features (part of the cache key)."""
    import inspect

    return "".join(inspect.getsource(f) for f in (encode_documents, pair_vector, pair_static, pair_matrix))


def subset(corpus: Corpus, keep: Sequence[int]) -> Corpus:
    """The documents ``keep`` (indices) of ``corpus`` with their pairs and features."""
    index = {old: new for new, old in enumerate(keep)}
    rows = [i for i, p in enumerate(corpus.pairs) if p.doc in index]
    return Corpus(
        records=[corpus.records[i] for i in keep],
        pairs=[corpus.pairs[i].model_copy(update={"doc": index[corpus.pairs[i].doc]}) for i in rows],
        x=corpus.x[rows],
        weight=corpus.weight,
        stage=corpus.stage,
    )


def domain_copies(corpus: Corpus, synthetic: bool) -> Corpus:
    """Feature augmentation for two domains (Daume III, "Frustratingly easy domain adaptation", 2007).

    A real document's pair features ``x`` become ``[x, x, 0]`` and a note's ``[x, 0, x]``: the
    head can put what only the notes show (their layout, their wording) in the notes' own copy,
    which is zero on real text. Dev is real, so it is ``[x, x, 0]`` too.
    """
    zero = np.zeros_like(corpus.x)
    x = np.concatenate([corpus.x, zero if synthetic else corpus.x, corpus.x if synthetic else zero], axis=1)
    return corpus.model_copy(update={"x": x})


def run_rows(
    mixes: Sequence[tuple[str, Sequence[Corpus]]], dev: Corpus, settings: ProbeSettings, bootstrap_samples: int = 1000,
) -> tuple[list[RERow], list[list[NoteRecord]]]:
    """Train one head per mix on the mix's pairs and score each on ``dev``; rows side by side.

    A mix whose corpora have more than one ``stage`` trains its head stage by stage.
    Returns the rows and each row's dev predictions (for ``kgsynth evaluate``).
    """
    label_id = {name: i for i, name in enumerate(RE_LABELS)}

    def fit_predict(parts: Sequence[Corpus]) -> list[str]:
        head = None
        for stage in sorted({c.stage for c in parts}) or [0]:
            these = [c for c in parts if c.stage == stage]
            pairs = [p for c in these for p in c.pairs]
            x = np.concatenate([c.x for c in these]) if these else np.zeros((0, dev.x.shape[1]), dtype=np.float32)
            weights = [c.weight for c in these for _ in c.pairs]
            head = train_head(x, [label_id[p.label] for p in pairs], settings, weights, init=head)
        return predict_labels(head, dev.x)

    return score_side_by_side(mixes, dev, fit_predict, bootstrap_samples, settings.seed)


def score_side_by_side(
    mixes: Sequence[tuple[str, Sequence[Any]]], dev: Any, fit_predict: Callable[[Sequence[Any]], list[str]],
    bootstrap_samples: int, seed: int,
) -> tuple[list[RERow], list[list[NoteRecord]]]:
    """Rows side by side: ``fit_predict(parts)`` trains on a mix and labels every dev pair.

    A part and ``dev`` are any corpus with ``records`` and ``pairs`` (the frozen probe's
    :class:`Corpus`, the tuned probe's); every row after the first gets its paired-bootstrap
    difference to the first.
    """
    rows: list[RERow] = []
    predictions: list[list[NoteRecord]] = []
    first_counts: list[dict[str, Counts]] | None = None
    for name, parts in mixes:
        t0 = time.perf_counter()
        labels = fit_predict(parts)
        pairs = [p for c in parts for p in c.pairs]
        row, per_doc = score_rows(
            name, sum(len(c.records) for c in parts), pairs, dev.records, dev.pairs, labels,
            time.perf_counter() - t0, bootstrap_samples, seed,
        )
        if first_counts is None:
            first_counts = per_doc
        else:
            row.f1_diff_vs_first = (row.micro_f1 or 0.0) - (rows[0].micro_f1 or 0.0)
            row.f1_diff_ci = difference_interval(per_doc, first_counts, bootstrap_samples, seed)
        rows.append(row)
        predictions.append(predicted_records(dev.records, dev.pairs, labels))
    return rows, predictions
