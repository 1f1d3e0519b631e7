"""The generative linker: a causal LM writes the concept's name, constrained to the group's names.

The constraint is a token trie over the tokenized names (each followed by end-of-sequence):
at every step only tokens that continue some name are allowed, so every finished output is
exactly a name of a concept of the mention's group, mapped back to its id (100% valid by
construction). A beam of ``k`` gives ``k`` ranked names. A trie is built once per group
(:func:`trie_timing` measures build and per-step mask time at a given number of names).
Without the constraint (``constrained=False``) the model decodes greedily and its text is
looked up with the dictionary normalization; an output that is no name is a miss.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kgsynth.linking.kb import NameIndex, normalize
from kgsynth.linking.linkers import Linker
from kgsynth.linking.mentions import LinkMention


class TokenTrie:
    """Token sequences as a trie of dicts; ``names[node]`` lists the name indices ending there."""

    def __init__(self, sequences: list[list[int]]) -> None:
        self.children: list[dict[int, int]] = [{}]
        self.names: dict[int, list[int]] = {}
        for index, seq in enumerate(sequences):
            node = 0
            for token in seq:
                nxt = self.children[node].get(token)
                if nxt is None:
                    nxt = len(self.children)
                    self.children[node][token] = nxt
                    self.children.append({})
                node = nxt
            self.names.setdefault(node, []).append(index)

    def allowed(self, node: int) -> list[int]:
        return list(self.children[node])


def name_sequences(tokenizer: Any, names: list[str]) -> list[list[int]]:
    """Each name as the tokens the model writes after the prompt: a leading space, the name, EOS."""
    encoded = tokenizer([" " + n for n in names], add_special_tokens=False).input_ids
    return [[*ids, tokenizer.eos_token_id] for ids in encoded]


def trie_timing(tokenizer: Any, names: list[str], vocab: int, steps: int = 200) -> dict[str, float]:
    """Seconds to tokenize and build a trie of ``names``, and mean ms to build one step's vocab mask."""
    import torch

    began = time.perf_counter()
    trie = TokenTrie(name_sequences(tokenizer, names))
    built = time.perf_counter() - began
    nodes = [0]
    frontier = [0]
    while len(nodes) < steps and frontier:  # a breadth-first sample of nodes, root first (the widest)
        node = frontier.pop(0)
        for child in trie.children[node].values():
            nodes.append(child)
            frontier.append(child)
    began = time.perf_counter()
    for node in nodes[:steps]:
        mask = torch.full((vocab,), float("-inf"))
        mask[trie.allowed(node)] = 0.0
    mask_ms = 1000 * (time.perf_counter() - began) / max(1, len(nodes[:steps]))
    return {"names": len(names), "trie_nodes": len(trie.children), "build_s": round(built, 3),
            "mask_ms": round(mask_ms, 4), "root_fanout": len(trie.children[0])}


PROMPT = "{context}\nIn the text above, \"{mention}\" is the {group} named:"


class GenerativeLinker(Linker):
    """SmolLM2 (or any causal LM) writing a name of the group, under a token trie, beam ``k``."""

    name = "generative"

    def __init__(self, indexes: dict[str, NameIndex], model: Any = None, tokenizer: Any = None,
                 constrained: bool = True, max_new_tokens: int = 24) -> None:
        super().__init__(indexes)
        if model is None or tokenizer is None:
            from kgsynth.generation.local_model import load_model

            model, tokenizer = load_model(None)
        self.model, self.tokenizer = model.eval(), tokenizer
        self.constrained, self.max_new_tokens = constrained, max_new_tokens
        self.tries = {g: TokenTrie(name_sequences(tokenizer, ix.names)) for g, ix in indexes.items()} if constrained \
            else {}
        self._dictionary = {g: {normalize(n): c for n, c in reversed(list(zip(ix.names, ix.ids, strict=True)))}
                            for g, ix in indexes.items()}

    def _prompt_ids(self, mention: LinkMention) -> list[int]:
        text = PROMPT.format(context=mention.context or mention.text, mention=mention.text,
                             group=mention.group.lower())
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def rank(self, mentions: list[LinkMention], k: int = 5,
             on_progress: Callable[[int], None] | None = None) -> list[list[str]]:
        import torch

        out = []
        with torch.inference_mode():
            for mention in mentions:
                index = self.index_for(mention)
                if self.constrained:
                    names = self._beam(mention, self.tries[mention.group], max(1, k))
                    ranked: list[str] = []
                    for i in names:
                        if index.ids[i] not in ranked:
                            ranked.append(index.ids[i])
                    out.append(ranked[:k])
                else:
                    text = self._greedy(mention)
                    cid = self._dictionary[mention.group].get(normalize(text))
                    out.append([cid] if cid else [])
                if on_progress:
                    on_progress(1)
        return out

    def _logprobs(self, sequences: list[list[int]]):  # noqa: ANN202
        import torch

        width = max(len(s) for s in sequences)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(sequences), width), pad, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):  # left padding: the last position is each sequence's next token
            ids[row, width - len(seq):] = torch.tensor(seq)
            mask[row, width - len(seq):] = 1
        logits = self.model(input_ids=ids, attention_mask=mask).logits[:, -1, :].float()
        return torch.log_softmax(logits, dim=-1)

    def _beam(self, mention: LinkMention, trie: TokenTrie, width: int) -> list[int]:
        """Name indices of the best finished beams, best first."""
        prompt = self._prompt_ids(mention)
        beams: list[tuple[float, list[int], int]] = [(0.0, [], 0)]
        finished: list[tuple[float, int]] = []
        eos = self.tokenizer.eos_token_id
        for _ in range(self.max_new_tokens):
            if not beams:
                break
            logprobs = self._logprobs([prompt + b[1] for b in beams])
            candidates = []
            for row, (score, tokens, node) in enumerate(beams):
                allowed = trie.allowed(node)
                scores = logprobs[row, allowed].tolist()  # the mask: only tokens that continue a name
                candidates += [(score + s, [*tokens, t], trie.children[node][t]) for t, s in zip(allowed, scores,
                                                                                                strict=True)]
            candidates.sort(key=lambda c: -c[0])
            beams = []
            for score, tokens, node in candidates:
                if tokens[-1] == eos:
                    finished += [(score, i) for i in trie.names.get(node, [])]
                elif len(beams) < width:
                    beams.append((score, tokens, node))
                if len(beams) >= width and len(finished) >= width:
                    break
            if len(finished) >= width and (not beams or max(b[0] for b in beams) < sorted(
                    s for s, _ in finished)[-width]):
                break
        finished.sort(key=lambda f: -f[0])
        return [i for _, i in finished]

    def _greedy(self, mention: LinkMention) -> str:
        prompt = self._prompt_ids(mention)
        tokens: list[int] = []
        for _ in range(self.max_new_tokens):
            token = int(self._logprobs([prompt + tokens])[0].argmax())
            if token == self.tokenizer.eos_token_id or "\n" in self.tokenizer.decode([token]):
                break
            tokens.append(token)
        return self.tokenizer.decode(tokens).strip().rstrip(".")
