"""The RE probe with the encoder's top layers trained (``bench/utility.py --task re --tune-layers N``).

The frozen probe (:mod:`kgsynth.evaluation.re_probe`) can only re-weigh what all-MiniLM-L6-v2
already puts in a mention's vector; notes then teach the head their own layout. Here the top
``N`` transformer layers train with the pair head, so the encoder can learn to carry relation
words into the marked mentions' states, as a fine-tuned document-level RE model (ATLOP) does.
What keeps it on a 2-core CPU: the lower ``6 - N`` layers stay frozen, so their output is
computed once per document (windows as in the frozen probe) and only the top layers run in
training. The pair vector is the frozen probe's (:func:`re_features.pair_vector`), built from
the tuned states; each row's head is first trained alone on the untuned vectors, which is the
frozen probe's head.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel

from kgsynth.evaluation.re_features import pair_static, windows
from kgsynth.evaluation.re_pairs import (
    PAIR_GROUPS,
    RE_LABELS,
    Pair,
    build_pairs,
    concept_groups,
    mark,
    sentence_of,
    sentences,
)
from kgsynth.evaluation.re_probe import (
    ProbeSettings,
    RERow,
    make_head,
    predict_labels,
    score_side_by_side,
    train_head,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from kgsynth.generation.record import NoteRecord


class TuneSettings(BaseModel):
    """Training settings of the tuned probe; every row of a run uses the same ones."""

    layers: int = 1  # top transformer layers that train (0 = none: the frozen probe's features)
    #: First the head alone on the untuned layers' pair vectors, with the frozen probe's settings
    #: (linear probing, then fine-tuning: Kumar et al. 2022), so tuning starts from a trained head.
    probe_epochs: int = 20
    epochs: int = 3  # then layers and head together, over the documents
    encoder_lr: float = 5e-5
    head_lr: float = 1e-4
    batch_docs: int = 8
    hidden: int = 256
    dropout: float = 0.1
    seed: int = 0


@dataclass
class TunedDoc:
    """One document, reduced to the frozen layers' output and the index maps a pair vector needs."""

    states: list[np.ndarray]  # per window: (tokens, hidden) float16 input to the first tuned layer
    gather: np.ndarray  # (kept tokens, 2): window and position of each kept token (first window wins)
    concepts: np.ndarray  # (concepts + 1, kept): mean-of-mention-means weights; the last row is zero
    sentences: np.ndarray  # (sentences, kept): mean weights of a sentence's tokens
    pair_index: np.ndarray  # (pairs, 2): rows of ``concepts`` for a and b
    shared: np.ndarray  # (pairs, sentences): mean weights of the sentences a pair shares
    static: np.ndarray  # (pairs, groups + 4): the frozen probe's group counts and distances
    labels: np.ndarray  # (pairs,) label ids
    weight: float = 1.0


def _averaging(rows: Sequence[Sequence[int]], width: int) -> np.ndarray:
    m = np.zeros((len(rows), width), dtype=np.float32)
    for i, cols in enumerate(rows):
        if cols:
            m[i, list(cols)] = 1.0 / len(cols)
    return m


@dataclass
class TunedCorpus:
    """Documents with their pairs (in :func:`build_pairs` order) and their prepared inputs."""

    records: list[NoteRecord]
    pairs: list[Pair]
    docs: list[TunedDoc]


def prepare(
    records: Sequence[NoteRecord], tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, layers: int,
    max_len: int = 256, stride: int = 64, weight: float = 1.0, progress: bool = False,
) -> TunedCorpus:
    """Run the frozen lower layers once per document and build each document's index maps."""
    import torch

    pairs = build_pairs(records)
    by_doc: dict[int, list[Pair]] = {}
    for p in pairs:
        by_doc.setdefault(p.doc, []).append(p)
    cut = model.config.num_hidden_layers - layers
    label_id = {name: i for i, name in enumerate(RE_LABELS)}
    docs: list[TunedDoc] = []
    items = list(enumerate(records))
    if progress:
        from kgsynth.console import track_rate

        items = track_rate(items, len(items), "encoding", unit="docs")
    for doc, record in items:
        text, mentions = mark(record)
        enc = windows([text], tokenizer, max_len, stride)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        width = max(len(w) for w in ids)
        batch = torch.full((len(ids), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for k, w in enumerate(ids):
            batch[k, : len(w)] = torch.tensor(w)
            mask[k, : len(w)] = 1
        with torch.no_grad():
            hidden = model(input_ids=batch, attention_mask=mask, output_hidden_states=True).hidden_states[cut]
        states = [hidden[k, : len(w)].numpy().astype(np.float16) for k, w in enumerate(ids)]
        seen: dict[int, tuple[int, int, int]] = {}  # char start -> (end, window, position)
        for k, window in enumerate(offsets):
            for t, (start, end) in enumerate(window):
                if start != end and start not in seen:
                    seen[start] = (end, k, t)
        starts = sorted(seen)
        gather = np.array([(seen[s][1], seen[s][2]) for s in starts], dtype=np.int64).reshape(-1, 2)
        ends = np.array([seen[s][0] for s in starts], dtype=np.int64)
        begins = np.array(starts, dtype=np.int64)

        def inside(a: int, b: int, begins: np.ndarray = begins, ends: np.ndarray = ends) -> list[int]:
            return np.nonzero((begins >= a) & (ends <= b))[0].tolist()

        spans = sentences(text)
        groups = concept_groups(record)
        ids_sorted = sorted(groups)
        row = {cid: i for i, cid in enumerate(ids_sorted)}
        mention_tokens: dict[str, list[list[int]]] = {}
        concept_sentences: dict[str, set[int]] = {}
        for m in mentions:
            tokens = inside(m.start, m.end)
            if not tokens:
                continue  # beyond what the tokenizer kept
            for cid in m.concepts:
                mention_tokens.setdefault(cid, []).append(tokens)
                concept_sentences.setdefault(cid, set()).add(sentence_of(spans, m.start))
        concepts = np.zeros((len(ids_sorted) + 1, len(starts)), dtype=np.float32)
        for cid, lists in mention_tokens.items():
            if cid in row:
                for tokens in lists:
                    concepts[row[cid], tokens] += 1.0 / (len(tokens) * len(lists))
        sentence_rows = _averaging([inside(a, b) for a, b in spans], len(starts))
        doc_pairs = by_doc.get(doc, [])
        zero_row = len(ids_sorted)
        pair_index, shared_rows, static, labels = [], [], [], []
        for p in doc_pairs:
            sa, sb = concept_sentences.get(p.a, set()), concept_sentences.get(p.b, set())
            pair_index.append((row[p.a] if p.a in mention_tokens else zero_row,
                               row[p.b] if p.b in mention_tokens else zero_row))
            shared_rows.append(sorted(sa & sb))
            mentions = len(mention_tokens.get(p.a, [])) + len(mention_tokens.get(p.b, []))
            static.append(pair_static(groups, p.a, p.b, sa, sb, mentions))
            labels.append(label_id[p.label])
        docs.append(TunedDoc(
            states=states, gather=gather, concepts=concepts, sentences=sentence_rows,
            pair_index=np.array(pair_index, dtype=np.int64).reshape(-1, 2),
            shared=_averaging(shared_rows, len(spans)),
            static=np.array(static, dtype=np.float32).reshape(-1, len(PAIR_GROUPS) + 4),
            labels=np.array(labels, dtype=np.int64), weight=weight,
        ))
    return TunedCorpus(records=list(records), pairs=pairs, docs=docs)


def subset(corpus: TunedCorpus, keep: Sequence[int]) -> TunedCorpus:
    """The documents ``keep`` (indices) of ``corpus`` with their pairs and inputs."""
    index = {old: new for new, old in enumerate(keep)}
    return TunedCorpus(
        records=[corpus.records[i] for i in keep],
        pairs=[p.model_copy(update={"doc": index[p.doc]}) for p in corpus.pairs if p.doc in index],
        docs=[corpus.docs[i] for i in keep],
    )


def run_rows(
    mixes: Sequence[tuple[str, Sequence[TunedCorpus]]], dev: TunedCorpus, model: PreTrainedModel,
    settings: TuneSettings, bootstrap_samples: int = 1000, progress: bool = False,
) -> tuple[list[RERow], list[list[NoteRecord]]]:
    """Tune a fresh copy of the top layers and a head per mix, score each on ``dev``; rows side by side."""

    def fit_predict(parts: Sequence[TunedCorpus]) -> list[str]:
        probe = TunedProbe(model, settings).fit([d for c in parts for d in c.docs], progress=progress)
        return probe.predict(dev.docs)

    return score_side_by_side(mixes, dev, fit_predict, bootstrap_samples, settings.seed)


class TunedProbe:
    """Top encoder layers plus the pair head, trained on documents' pairs (``fit`` / ``predict``)."""

    def __init__(self, model: PreTrainedModel, settings: TuneSettings) -> None:
        import torch

        self.settings = settings
        hidden = model.config.hidden_size
        cut = model.config.num_hidden_layers - settings.layers
        torch.manual_seed(settings.seed)
        self.layers = torch.nn.ModuleList(copy.deepcopy(layer) for layer in model.encoder.layer[cut:])
        self.head = make_head(4 * hidden + len(PAIR_GROUPS) + 4, settings.hidden, settings.dropout)
        self.dtype = next(model.parameters()).dtype

    def _pair_features(self, docs: Sequence[TunedDoc]) -> torch.Tensor:
        """Run the tuned layers on every window of ``docs`` at once and build their pair vectors."""
        import torch

        windows = [(d, k) for d, doc in enumerate(docs) for k in range(len(doc.states))]
        width = max(len(docs[d].states[k]) for d, k in windows)
        hidden = docs[0].states[0].shape[1]
        x = torch.zeros((len(windows), width, hidden), dtype=self.dtype)
        mask = torch.zeros((len(windows), width), dtype=self.dtype)
        for i, (d, k) in enumerate(windows):
            s = docs[d].states[k]
            x[i, : len(s)] = torch.from_numpy(s.astype(np.float32))
            mask[i, : len(s)] = 1
        additive = (1.0 - mask)[:, None, None, :] * torch.finfo(self.dtype).min
        for layer in self.layers:
            out = layer(x, attention_mask=additive)
            x = out[0] if isinstance(out, tuple) else out
        first = 0
        features = []
        for doc in docs:
            n = len(doc.states)
            local = x[first : first + n]
            first += n
            if len(doc.labels) == 0:
                continue
            kept = local[torch.from_numpy(doc.gather[:, 0]), torch.from_numpy(doc.gather[:, 1])]
            concepts = torch.from_numpy(doc.concepts) @ kept
            sents = torch.from_numpy(doc.sentences) @ kept
            va = concepts[torch.from_numpy(doc.pair_index[:, 0])]
            vb = concepts[torch.from_numpy(doc.pair_index[:, 1])]
            context = torch.from_numpy(doc.shared) @ sents
            features.append(torch.cat([va + vb, (va - vb).abs(), va * vb, context,
                                       torch.from_numpy(doc.static)], dim=1))
        return torch.cat(features) if features else torch.zeros((0, self.head[0].normalized_shape[0]))

    def fit(self, docs: Sequence[TunedDoc], progress: bool = False) -> TunedProbe:
        """Train layers and head on ``docs`` (seeded; loss weighted per document's corpus)."""
        import torch

        s = self.settings
        rng = random.Random(s.seed)
        torch.manual_seed(s.seed)
        train = [d for d in docs if len(d.labels)]
        if s.probe_epochs and train:
            self._fit_head_alone(train)
        optimizer = torch.optim.AdamW(
            [{"params": self.layers.parameters(), "lr": s.encoder_lr},
             {"params": self.head.parameters(), "lr": s.head_lr}], weight_decay=0.01)
        steps = max(1, s.epochs * ((len(train) + s.batch_docs - 1) // s.batch_docs))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: max(0.0, 1 - k / steps))
        self.layers.train()
        self.head.train()
        batches = []
        for _ in range(s.epochs):
            order = list(range(len(train)))
            rng.shuffle(order)
            batches += [order[k : k + s.batch_docs] for k in range(0, len(order), s.batch_docs)]
        if progress:
            from kgsynth.console import track_rate

            batches = track_rate(batches, len(batches), "tuning", unit="batches")
        for batch in batches:
            chosen = [train[i] for i in batch]
            logits = self.head(self._pair_features(chosen))
            y = torch.from_numpy(np.concatenate([d.labels for d in chosen]))
            w = torch.tensor([d.weight for d in chosen for _ in d.labels], dtype=torch.float32)
            losses = torch.nn.functional.cross_entropy(logits, y, reduction="none")
            loss = (losses * w).sum() / w.sum().clamp(min=1e-12)
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        self.layers.eval()
        self.head.eval()
        return self

    def _fit_head_alone(self, docs: Sequence[TunedDoc]) -> None:
        """Train a fresh head on the pair vectors of the layers as they are (the frozen probe's head)."""
        self.layers.eval()
        x = self._features_no_grad(docs)
        y = np.concatenate([d.labels for d in docs])
        weights = [d.weight for d in docs for _ in d.labels]
        head_settings = ProbeSettings(epochs=self.settings.probe_epochs, hidden=self.settings.hidden,
                                      dropout=self.settings.dropout, seed=self.settings.seed)
        self.head = train_head(x, y.tolist(), head_settings, weights)

    def _features_no_grad(self, docs: Sequence[TunedDoc], batch_docs: int = 16) -> np.ndarray:
        import torch

        with torch.no_grad():
            parts = [self._pair_features(docs[k : k + batch_docs]).numpy() for k in range(0, len(docs), batch_docs)]
        return np.concatenate(parts) if parts else np.zeros((0, self.head[0].normalized_shape[0]), dtype=np.float32)

    def predict(self, docs: Sequence[TunedDoc], batch_docs: int = 16) -> list[str]:
        """One label per pair of ``docs``, in the order :func:`build_pairs` gave them."""
        return predict_labels(self.head, self._features_no_grad(docs, batch_docs))

