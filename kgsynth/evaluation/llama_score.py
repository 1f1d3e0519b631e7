"""Per-token negative log-likelihood of texts under a GGUF model, with llama.cpp (a worker script).

Run by :class:`kgsynth.evaluation.judge.LlamaScorer` with the Python that has
``llama-cpp-python`` (``KGSYNTH_LLAMA_PYTHON``), so it imports nothing from kgsynth. It
exists because llama-cpp-python 0.3.36's server, asked for echoed logprobs, sorts the
whole vocabulary in Python for every token (about 1 s per token for Qwen2.5's 152k
vocabulary on this machine); here the logits are read once and reduced with numpy.

Protocol: one JSON object per line on stdin, ``{"text": ...}``; one per line on stdout,
``{"nll": total nats, "tokens": n}``. The text is scored after a BOS token (EOS when the
model has none), leaving out its first token, as the server's echo does.
"""

from __future__ import annotations

import argparse
import json
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ctx", type=int, default=4096)
    args = parser.parse_args()

    import numpy as np
    from llama_cpp import Llama

    llm = Llama(model_path=args.model, n_ctx=args.ctx, n_threads=args.threads, n_threads_batch=args.threads,
                logits_all=True, verbose=False)
    start = llm.token_bos() if llm.token_bos() >= 0 else llm.token_eos()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        text = json.loads(line)["text"]
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)[: args.ctx - 1]
        tokens = [start, *ids]
        llm.reset()
        llm.eval(tokens)
        logits = np.asarray(llm.scores[: len(tokens) - 1], dtype=np.float64)
        peak = logits.max(axis=1, keepdims=True)
        logz = peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=1))
        picked = logits[np.arange(len(ids)), ids] - logz
        scored = picked[1:]  # the first text token has no context but BOS: left out, like the server's echo
        print(json.dumps({"nll": float(-scored.sum()), "tokens": int(scored.size)}), flush=True)


if __name__ == "__main__":
    main()
