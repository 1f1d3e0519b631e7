"""QLoRA training throughput: kgsynth's loop vs plain transformers + peft, same model, same data, same run.

Needs a CUDA GPU (the numbers are about GPU kernels and memory); ``--smoke`` runs a
tiny CPU version only to show the script works. The model (~1.1B parameters, a
TinyLlama-shaped Llama) is built from a config with random weights: throughput does
not depend on the weights, and no model hub is reachable on the lent machines.

Both sides: the same 4-bit NF4 double-quant base, LoRA r=16 on all linear layers,
gradient checkpointing, paged 8-bit AdamW, and the same examples (note-like lengths,
about 70% prompt tokens). The baseline is the usual recipe: random batches of
``--batch-size`` examples padded to the longest, ``model(labels=...)`` over the full
vocabulary. kgsynth packs examples into ``--batch-tokens`` rows with restarting
position ids (no padding, no cross-attention) and computes logits only where the
answer is. Throughput counts real (non-pad) tokens per second.

    python bench/train_throughput.py                # on a GPU
    python bench/train_throughput.py --smoke --json # tiny CPU check
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kgsynth.training.config import TrainConfig
from kgsynth.training.data import batches, collate
from kgsynth.training.formatting import IGNORE_INDEX, Example
from kgsynth.training.model import add_lora, load_base
from kgsynth.training.tiny import build_model
from kgsynth.training.trainer import answer_loss, make_optimizer

SHAPES = {
    "1b": dict(hidden_size=2048, layers=22, heads=32, kv_heads=4, intermediate_size=5632),
    "smoke": dict(hidden_size=64, layers=2, heads=4, kv_heads=2, intermediate_size=128),
}


def synthetic_examples(n: int, vocab: int, seed: int, max_len: int) -> list[Example]:
    """Note-like lengths (log-normal, median ~350 tokens), the last ~30% answer tokens."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        length = max(32, min(max_len, int(rng.lognormvariate(5.85, 0.5))))
        ids = [rng.randrange(3, vocab) for _ in range(length)]
        cut = int(length * 0.7)
        out.append(Example(note_id=str(i), input_ids=ids, labels=[IGNORE_INDEX] * cut + ids[cut:]))
    return out


def padded_batches(examples: list[Example], size: int, seed: int) -> list[dict[str, Any]]:
    """The plain recipe: shuffled fixed-size batches, right-padded to the longest."""
    import torch

    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    out = []
    for k in range(0, len(order), size):
        group = [examples[i] for i in order[k : k + size]]
        width = max(len(e.input_ids) for e in group)
        out.append(
            {
                "input_ids": torch.tensor([e.input_ids + [0] * (width - len(e.input_ids)) for e in group]),
                "attention_mask": torch.tensor(
                    [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in group]
                ),
                "labels": torch.tensor([e.labels + [IGNORE_INDEX] * (width - len(e.labels)) for e in group]),
            }
        )
    return out


def run_side(
    name: str, ckpt: Path, config: TrainConfig, inputs: list[dict[str, Any]], real_tokens: list[int], warmup: int
) -> dict[str, Any]:
    """Train over ``inputs``; time the steps after ``warmup``."""
    import torch

    torch.manual_seed(0)
    model = add_lora(load_base(str(ckpt), True, gradient_checkpointing=True), config)
    model.train()
    optimizer = make_optimizer(model, config)
    where = "cuda" if torch.cuda.is_available() else "cpu"
    if where == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    timed_tokens, started = 0, None
    for step, (batch, tokens) in enumerate(zip(inputs, real_tokens, strict=True)):
        if step == warmup:
            if where == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        batch = {k: v.to(where) for k, v in batch.items()}
        if name == "baseline":
            loss = model(**batch, use_cache=False).loss
        else:
            total, n = answer_loss(model, batch)
            loss = total / max(n, 1)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            timed_tokens += tokens
    if where == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - (started or time.perf_counter())
    peak = torch.cuda.max_memory_allocated() / 2**30 if where == "cuda" else None
    del model, optimizer
    return {
        "side": name,
        "steps_timed": len(inputs) - warmup,
        "tokens": timed_tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(timed_tokens / seconds, 1) if seconds else None,
        "peak_gib": round(peak, 2) if peak is not None else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="Tiny model on CPU, to check the script runs.")
    parser.add_argument("--examples", type=int, default=0, help="Examples (default 512 on GPU, 16 smoke).")
    parser.add_argument("--batch-size", type=int, default=8, help="Baseline examples per batch.")
    parser.add_argument(
        "--batch-tokens",
        type=int,
        default=0,
        help="kgsynth packed tokens per row (default: "
        "baseline batch size x mean length, so both see the same tokens per step).",
    )
    parser.add_argument("--warmup", type=int, default=3, help="Untimed steps per side.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available() and not args.smoke:
        message = "bench/train_throughput.py needs a CUDA GPU; use --smoke for a tiny CPU run of the same code."
        print(json.dumps({"error": message}) if args.json else message)
        return 2
    shape = "smoke" if args.smoke else "1b"
    n = args.examples or (16 if args.smoke else 512)
    vocab = 32000 if shape == "1b" else 256
    examples = synthetic_examples(n, vocab, seed=0, max_len=1024 if shape == "1b" else 64)
    mean_len = sum(len(e.input_ids) for e in examples) / len(examples)
    budget = args.batch_tokens or int(args.batch_size * mean_len)
    config = TrainConfig(batch_tokens=budget, lora_r=16, lora_alpha=32, lora_dropout=0.05)

    base = padded_batches(examples, args.batch_size, seed=0)
    base_tokens = [int(b["attention_mask"].sum()) for b in base]
    plan = batches(examples, budget, "pack", seed=0, epoch=0)
    packed = [collate([examples[i] for i in b.examples], "pack", 0) for b in plan]
    packed_tokens = [b.tokens for b in plan]
    pad_share = 1 - sum(base_tokens) / sum(b["input_ids"].numel() for b in base)

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "model"
        model = build_model(ckpt, vocab_size=vocab, **SHAPES[shape], save=False)
        params = sum(p.numel() for p in model.parameters())
        model.to(torch.bfloat16 if torch.cuda.is_available() else torch.float32).save_pretrained(ckpt)
        del model
        rows = [
            run_side("baseline", ckpt, config, base, base_tokens, min(args.warmup, len(base) - 1)),
            run_side("kgsynth", ckpt, config, packed, packed_tokens, min(args.warmup, len(packed) - 1)),
        ]
    speedup = (rows[1]["tokens_per_s"] or 0) / (rows[0]["tokens_per_s"] or 1)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (smoke, not a measurement)"
    result = {
        "device": device,
        "parameters": params,
        "examples": n,
        "baseline_padding_share": round(pad_share, 3),
        "rows": rows,
        "speedup": round(speedup, 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"device: {device}, model: {params / 1e9:.2f}B parameters, {n} examples")
        print("| side | tokens/s | peak GPU GiB | steps timed |")
        print("|---|---:|---:|---:|")
        for r in rows:
            print(f"| {r['side']} | {r['tokens_per_s']} | {r['peak_gib']} | {r['steps_timed']} |")
        print(f"speedup: {speedup:.2f}x (baseline padding share {pad_share:.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
