"""A local judge through transformers: a packaged model name, a .gguf or a Hugging Face folder.

Yes/no by comparing the next-token logits of "yes" and "no"; fluency from the model's own
token log-probabilities. One backend of :class:`kgsynth.evaluation.judge.Judge`.
"""

from __future__ import annotations

import math


class LocalJudge:
    """A judge run in this process with transformers: a packaged model name, a .gguf or a model folder."""

    def __init__(self, name: str | None = None) -> None:
        from kgsynth.generation.local_model import DEFAULT_MODEL, load_model

        self.model = name or DEFAULT_MODEL
        self.hf_model, self.tokenizer = load_model(name)
        self._yes = self._first_token("yes")
        self._no = self._first_token("no")

    def describe(self) -> str:
        return f"{self.model} (local, transformers)"

    def _first_token(self, word: str) -> int:
        return int(self.tokenizer(word, add_special_tokens=False).input_ids[0])

    def ask(self, question: str) -> bool | None:
        import torch

        messages = [{"role": "user", "content": question}]
        if getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
            if not isinstance(ids, torch.Tensor):  # newer transformers return a BatchEncoding
                ids = ids["input_ids"]
        else:
            ids = self.tokenizer(question + "\nAnswer:", return_tensors="pt").input_ids
        with torch.no_grad():
            logits = self.hf_model(ids).logits[0, -1]
        return bool(logits[self._yes] > logits[self._no])  # constrained: only "yes" and "no" compete

    def nll(self, text: str) -> tuple[float, int]:
        import torch

        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        start = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None \
            else self.tokenizer.eos_token_id
        tensor = torch.tensor([[start, *ids]])
        with torch.no_grad():
            logits = self.hf_model(tensor).logits[0, :-1].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        picked = logprobs[torch.arange(len(ids)), tensor[0, 1:]]
        # the first text token is left out, as the server's echo leaves it out (its logprob is null there)
        scored = picked[1:]
        total = float(-scored.sum())
        return (total if math.isfinite(total) else float("inf")), int(scored.numel())
