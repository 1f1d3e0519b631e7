"""Generation speed on this machine: constrained vs unconstrained decoding, constraint builds, notes/min.

Usage: python bench/generate.py [--tokens 32] [--reps 2] [--notes 2] [--template-notes 200] [--json]

All figures come from one run on the same model and prompt, so the ratio column compares
like with like: constrained tokens/s against unconstrained tokens/s (target >= 0.8x),
a constraint built per call against one built once and reused, and the LLM backend's
notes/s against the template backend's.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kgsynth.console import emit, out  # noqa: E402
from kgsynth.cypher.motif import resolve_motif  # noqa: E402
from kgsynth.cypher.sampling import sample  # noqa: E402
from kgsynth.generation.backends import make_backend  # noqa: E402
from kgsynth.generation.engine import generate  # noqa: E402
from kgsynth.generation.grammar import note_regex  # noqa: E402
from kgsynth.generation.prompt import build_prompt, load_settings  # noqa: E402
from kgsynth.graph.memory import MemoryStore  # noqa: E402
from kgsynth.graph.sample import sample_graph  # noqa: E402


def instances(tmp: Path, n: int):
    store = MemoryStore(tmp / "graph.json.gz")
    concepts, relations = sample_graph()
    store.upsert_concepts(concepts)
    store.upsert_relations(relations)
    found, _ = sample(store, resolve_motif("single_edge"), n, seed=7)
    return found


def mask_cost_ms(tokenizer, regex: str, text: str = "The patient was seen today and ") -> float:  # noqa: ANN001
    """Mean time to compute one token mask for ``regex``: the constraint's own per-token cost."""
    import llguidance
    import llguidance.hf
    import llguidance.torch

    llg_tokenizer = llguidance.hf.from_tokenizer(tokenizer)
    matcher = llguidance.LLMatcher(llg_tokenizer, llguidance.LLMatcher.grammar_from_regex(regex))
    bitmask = llguidance.torch.allocate_token_bitmask(1, llg_tokenizer.vocab_size)
    spent, steps = 0.0, 0
    for token in tokenizer(text, add_special_tokens=False).input_ids:
        t = time.perf_counter()
        llguidance.torch.fill_next_token_bitmask(matcher, bitmask, 0)
        spent += time.perf_counter() - t
        steps += 1
        if not matcher.consume_token(token):
            break
    return 1000 * spent / max(steps, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=32, help="New tokens per timed generation.")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--notes", type=int, default=2, help="Notes for the end-to-end LLM figure.")
    parser.add_argument("--template-notes", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch
    from outlines.types import Regex

    tmp = Path(tempfile.mkdtemp(prefix="kgsynth-bench-"))
    items = instances(tmp, 8)
    began = time.perf_counter()
    backend = make_backend("transformers", max_words=8)
    load_s = time.perf_counter() - began
    settings = load_settings()
    prompt = backend.chat(build_prompt(items[0], random.Random(0), settings).text)
    regex = note_regex(items[0], backend.lexicon, max_words=8)

    # Constraint build: once (cold), then a reuse (cache hit) and a fresh build per call.
    t = time.perf_counter()
    constrained = backend.generator(Regex(regex), regex)
    build_once = time.perf_counter() - t
    t = time.perf_counter()
    backend.generator(Regex(regex), regex)
    reuse = time.perf_counter() - t
    per_call = []
    for i in range(args.reps):
        t = time.perf_counter()
        backend.generator(Regex(regex), f"fresh-{i}")
        per_call.append(time.perf_counter() - t)

    def timed(gen, reps: int) -> tuple[float, int]:
        seconds, tokens = 0.0, 0
        for rep in range(reps):
            torch.manual_seed(rep)
            t = time.perf_counter()
            text = gen(prompt, max_new_tokens=args.tokens, do_sample=True, temperature=0.7, top_p=0.95)
            seconds += time.perf_counter() - t
            tokens += backend.count_tokens(text)
        return seconds, tokens

    backend.outlines_model(prompt, max_new_tokens=4)  # warm-up, so neither side pays first-call costs
    constrained(prompt, max_new_tokens=4)
    free_s = free_tok = con_s = con_tok = 0  # interleaved, so load drift hits both sides alike
    for _ in range(args.reps):
        s, k = timed(backend.outlines_model, 1)
        free_s, free_tok = free_s + s, free_tok + k
        s, k = timed(constrained, 1)
        con_s, con_tok = con_s + s, con_tok + k
    free_rate, con_rate = free_tok / free_s, con_tok / con_s

    mask_ms = mask_cost_ms(backend.tokenizer, regex)
    llm_out = tmp / "llm"
    llm = generate(items, backend, llm_out, args.notes, seed=1, settings=settings, quiet=True)
    tpl = generate(items, make_backend("template"), tmp / "tpl", args.template_notes, seed=1, settings=settings,
                   quiet=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shutil.rmtree(tmp, ignore_errors=True)

    rows = [
        ("model load (converted checkpoint), s", load_s, None),
        ("unconstrained decoding, tokens/s", free_rate, 1.0),
        ("constrained decoding (regex, llguidance), tokens/s", con_rate, con_rate / free_rate),
        ("token mask per step (llguidance alone), ms", mask_ms, None),
        ("constraint build once, s", build_once, 1.0),
        ("constraint reuse (cached Generator), s", reuse, reuse / build_once if build_once else None),
        ("constraint rebuilt per call, s (mean)", sum(per_call) / len(per_call),
         (sum(per_call) / len(per_call)) / build_once if build_once else None),
        ("LLM notes/minute end to end (write+extract)", llm.notes_per_s * 60, None),
        ("LLM notes written / rejected", f"{llm.written} / {llm.rejected}", None),
        ("template backend notes/s", tpl.notes_per_s, tpl.notes_per_s / llm.notes_per_s if llm.notes_per_s else None),
        ("peak memory (RSS), MiB", peak_mb, None),
    ]
    report = {
        "model": backend.model,
        "tokens_per_call": args.tokens,
        "reps": args.reps,
        "rows": [{"metric": m, "value": v, "ratio": r} for m, v, r in rows],
        "constrained_vs_unconstrained": con_rate / free_rate,
        "target_met": con_rate / free_rate >= 0.8,
    }

    def render() -> None:
        from rich.table import Table

        table = Table(title=f"generation bench ({backend.model}, {args.tokens} tokens x {args.reps})")
        for col in ("metric", "value", "ratio"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for m, v, r in rows:
            value = f"{v:,.3f}" if isinstance(v, float) else str(v)
            table.add_row(m, value, "" if r is None else f"{r:.2f}x")
        out.print(table)

    emit(report, args.json, render)


if __name__ == "__main__":
    main()
