"""Training data: read notes, split by motif instance, and batch by packing or length buckets.

The split groups notes by ``record.instance.id``: several notes written from the same
sampled KG facts would otherwise land on both sides and make validation look better
than it is. Packing concatenates examples into one row with ``position_ids`` restarting
at 0 for each example; transformers then builds a block-diagonal causal mask, so
packed examples never attend to each other and no token is wasted on padding.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from kgsynth.generation.record import NoteRecord
from kgsynth.training.formatting import IGNORE_INDEX, Example


def read_notes(paths: Sequence[Path]) -> list[NoteRecord]:
    """All records of NoteRecord JSONL files, folders of them, or corpus files (BioRED etc.)."""
    from kgsynth.evaluation.readers import read_records

    records: list[NoteRecord] = []
    for path in paths:
        records.extend(read_records(Path(path), sound=True).records)
    return records


def group_key(record: NoteRecord) -> str:
    """What must stay on one side of the split: the motif instance, else the note itself."""
    return record.instance.id if record.instance and record.instance.id else record.id


def split(records: Sequence[NoteRecord], val_fraction: float, seed: int) -> tuple[list[NoteRecord], list[NoteRecord]]:
    """(train, validation), whole instance groups per side, stable for a given seed.

    Groups are ordered by a seeded hash, not by ``random``, so adding notes to the
    data never moves an existing group across the split.
    """
    groups = sorted({group_key(r) for r in records}, key=lambda k: hashlib.sha1(f"{seed}:{k}".encode()).hexdigest())
    n_val = math.ceil(val_fraction * len(groups)) if val_fraction > 0 and len(groups) > 1 else 0
    n_val = min(n_val, len(groups) - 1)
    val_groups = set(groups[:n_val])
    train = [r for r in records if group_key(r) not in val_groups]
    val = [r for r in records if group_key(r) in val_groups]
    return train, val


class Batch(BaseModel):
    """Indices of the examples in one micro-batch; tensors are made by :func:`collate`."""

    examples: list[int]
    tokens: int


def batches(examples: Sequence[Example], budget: int, mode: str, seed: int, epoch: int) -> list[Batch]:
    """Micro-batches of at most ``budget`` tokens, in a seeded order that is the same on resume."""
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(examples)))
    rng.shuffle(order)
    if mode == "pack":
        out = _first_fit(order, [len(e.input_ids) for e in examples], budget)
    else:
        out = _buckets(order, [len(e.input_ids) for e in examples], budget)
    rng.shuffle(out)
    return out


def _first_fit(order: list[int], lengths: list[int], budget: int) -> list[Batch]:
    """First-fit-decreasing bin packing: rows end up nearly full."""
    bins: list[Batch] = []
    for i in sorted(order, key=lambda i: -lengths[i]):
        target = next((b for b in bins if b.tokens + lengths[i] <= budget), None)
        if target is None:
            target = Batch(examples=[], tokens=0)
            bins.append(target)
        target.examples.append(i)
        target.tokens += lengths[i]
    return bins


def _buckets(order: list[int], lengths: list[int], budget: int) -> list[Batch]:
    """Examples of similar length together, rows x longest <= budget (little padding)."""
    out: list[Batch] = []
    current: list[int] = []
    for i in sorted(order, key=lambda i: lengths[i]):  # stable: ties keep the shuffled order
        longest = max([lengths[j] for j in current] + [lengths[i]])
        if current and longest * (len(current) + 1) > budget:
            out.append(Batch(examples=current, tokens=sum(lengths[j] for j in current)))
            current = []
        current.append(i)
    if current:
        out.append(Batch(examples=current, tokens=sum(lengths[j] for j in current)))
    return out


def collate(examples: Sequence[Example], mode: str, pad_id: int) -> dict[str, Any]:
    """Model inputs: one packed row with restarting ``position_ids``, or a padded batch."""
    import torch

    if mode == "pack":
        ids = [t for e in examples for t in e.input_ids]
        labels = []
        for e in examples:  # the first token of each example predicts nothing across the border
            labels.extend([IGNORE_INDEX, *e.labels[1:]])
        positions = [p for e in examples for p in range(len(e.input_ids))]
        return {
            "input_ids": torch.tensor([ids]),
            "labels": torch.tensor([labels]),
            "position_ids": torch.tensor([positions]),
        }
    width = max(len(e.input_ids) for e in examples)
    ids = [e.input_ids + [pad_id] * (width - len(e.input_ids)) for e in examples]
    labels = [e.labels + [IGNORE_INDEX] * (width - len(e.labels)) for e in examples]
    mask = [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in examples]
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}
