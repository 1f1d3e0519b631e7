"""Contrastive fine-tuning of the bi-encoder on (mention in context, concept name) pairs.

Pairs come from any annotated notes (kgsynth notes, or a corpus's train split): each
entity whose concept is in the name index gives ``(query_text(mention), preferred name)``.
The loss is InfoNCE with in-batch negatives (other pairs' names in the batch; a name of
the same concept elsewhere in the batch is not counted as a negative), one thread. With
``hard_negatives``, each pair also brings the name of another concept that the encoder
ranks highest for its query before training (DPR's mined negative): random in-batch names
from a 16,000-concept vocabulary are too easy to teach which of two close names is right.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from pydantic import BaseModel

from kgsynth.errors import InputError
from kgsynth.generation.record import NoteRecord
from kgsynth.linking.kb import NameIndex, normalize
from kgsynth.linking.linkers import load_encoder, query_text
from kgsynth.linking.mentions import mentions_of


class TrainReport(BaseModel):
    pairs: int
    hard_negatives: int = 0
    skipped_unknown_concept: int
    epochs: int
    steps: int
    final_loss: float
    seconds: float
    out: str


def training_pairs(records: Iterable[NoteRecord], indexes: dict[str, NameIndex],
                   with_context: bool, seed: int = 0) -> tuple[list[tuple[str, str, str]], int]:
    """``(query, name, concept id)`` per mention whose (first) gold id is in its group's index.

    The name is the concept's preferred name, unless the mention already is that name: then
    it is another of the concept's names (chosen with ``seed``), so that a note naming a
    concept by its preferred name still teaches a synonym (SapBERT's lesson: identical pairs
    teach a bi-encoder nothing, synonym pairs are what it learns from). A generated note's
    mention that is exactly a name of *another* concept of the index is left out (counted with
    the unknown ones): a written form can collide with a more specific concept's name.
    """
    records = list(records)
    generated = {r.id for r in records if r.instance is not None}
    rng = random.Random(seed)
    pairs, unknown = [], 0
    for mention in mentions_of(records):
        index = indexes.get(mention.group)
        gold = next((g for g in mention.gold if index is not None and g in index.preferred), None)
        if gold is None:
            unknown += 1
            continue
        owners = index.ids_by_name.get(normalize(mention.text), [])
        if owners and gold not in owners and mention.doc in generated:
            # A generated form that is another concept's name ("severe combined immunodeficiency"
            # written for Combined Immunodeficiency) would teach the wrong answer: left out.
            unknown += 1
            continue
        target = index.preferred[gold]
        if normalize(target) == normalize(mention.text):
            others = [n for n in index.names_by_id.get(gold, []) if normalize(n) != normalize(mention.text)]
            target = rng.choice(others) if others else target
        pairs.append((query_text(mention, with_context), target, gold))
    return pairs, unknown


def train_biencoder(
    records: list[NoteRecord], indexes: dict[str, NameIndex], out: Path, *, epochs: int = 1, batch_size: int = 32,
    lr: float = 3e-5, temperature: float = 0.05, seed: int = 0, with_context: bool = False,
    base: Path | str | None = None, max_pairs: int | None = None, on_step: Callable[[int, int], None] | None = None,
    hard_negatives: bool = False, mining_indexes: dict[str, NameIndex] | None = None,
) -> TrainReport:
    """Fine-tune MiniLM (or ``base``) on the pairs of ``records``; the model is saved to ``out``.

    ``hard_negatives`` mines one negative name per pair among ``mining_indexes`` (default
    ``indexes``: pass the linker's own, smaller index to mine where it will search).
    """
    import torch

    began = time.perf_counter()
    pairs, unknown = training_pairs(records, indexes, with_context, seed)
    if not pairs:
        raise InputError("no training pairs: no mention has a gold id among the index's concepts")
    rng = random.Random(seed)
    rng.shuffle(pairs)
    pairs = pairs[:max_pairs] if max_pairs else pairs
    torch.manual_seed(seed)
    model = load_encoder(base)
    negatives = mine_negatives(model, pairs, mining_indexes or indexes) if hard_negatives else {}
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    steps, loss_value = 0, float("nan")
    total = epochs * ((len(pairs) + batch_size - 1) // batch_size)
    for _ in range(epochs):
        rng.shuffle(pairs)
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start:start + batch_size]
            if len(batch) < 2:
                continue
            queries = _embed(model, [q for q, _, _ in batch])
            mined = [negatives[(q, c)] for q, _, c in batch if (q, c) in negatives]
            names = _embed(model, [n for _, n, _ in batch] + [n for n, _ in mined])
            logits = queries @ names.T / temperature
            ids = [c for _, _, c in batch]
            columns = ids + [c for _, c in mined]
            same = torch.tensor([[a == b and i != j for j, b in enumerate(columns)] for i, a in enumerate(ids)])
            logits = logits.masked_fill(same, float("-inf"))
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
            loss_value = loss.item()
            if on_step:
                on_step(steps, total)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    return TrainReport(pairs=len(pairs), hard_negatives=len(negatives), skipped_unknown_concept=unknown,
                       epochs=epochs, steps=steps, final_loss=round(loss_value, 4),
                       seconds=round(time.perf_counter() - began, 1), out=str(out))


def mine_negatives(model, pairs: list[tuple[str, str, str]], indexes: dict[str, NameIndex],
                   depth: int = 8) -> dict[tuple[str, str], tuple[str, str]]:
    """``(query, gold id) -> (name, its id)``: the best-ranked name of another concept of the gold's group."""
    import torch

    group_of = {cid: group for group, index in indexes.items() for cid in index.preferred}
    by_group: dict[str, list[tuple[str, str]]] = {}
    for query, _, gold in pairs:
        if gold in group_of:
            by_group.setdefault(group_of[gold], []).append((query, gold))
    out = {}
    with torch.no_grad():
        for group, rows in by_group.items():
            index = indexes[group]
            rows = list(dict.fromkeys(rows))
            names = model.encode(index.names, batch_size=128, convert_to_tensor=True, normalize_embeddings=True)
            queries = model.encode([q for q, _ in rows], batch_size=128, convert_to_tensor=True,
                                   normalize_embeddings=True)
            top = torch.topk(queries @ names.T, min(depth, len(index)), dim=1).indices.tolist()
            for (query, gold), ranked in zip(rows, top, strict=True):
                hit = next((j for j in ranked if index.ids[j] != gold), None)
                if hit is not None:
                    out[(query, gold)] = (index.names[hit], index.ids[hit])
    return out


def _embed(model, texts: list[str]):  # noqa: ANN001, ANN202
    import torch

    features = model.tokenize(texts)
    embeddings = model(features)["sentence_embedding"]
    return torch.nn.functional.normalize(embeddings, dim=-1)
