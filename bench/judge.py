"""Qwen2.5-1.5B on this machine: decoding speed (llama.cpp server vs transformers) and the independent judge.

Usage:
  python bench/judge.py speed [--model qwen2.5-1.5b] [--tokens 32] [--port 8093] [--json]
  python bench/judge.py quality --notes LABEL=DIR ... --judge-url URL [--fluency-gguf qwen2.5-1.5b]
                                [--abstracts 20] [--abstract-chars 400] [--store KG] [--save DIR] [--json]

``speed`` starts ``kgsynth llm`` (1 thread) and loads the same GGUF with transformers
(``gguf_file=``, de-quantized to fp32, 1 torch thread), decodes the same greedy prompt on
both, and reports decode tokens/s as (N-1) / (t(N tokens) - t(1 token)), so prompt
prefill is not counted; the ratio column is server / transformers (target >= 4x).

``quality`` asks the judge every sampled fact of each notes folder and scores fluency
(judge NLL per token), against the same judge's NLL on real BioRED train abstracts
(title + abstract, cut to about a note's length at a word boundary): one row per
writer, with the fluency ratio (notes / abstracts), the agreement with the deterministic
relation-phrase check of ``kgsynth check`` (``--store``: the KG the notes came from), the
agreement with the template truth (template notes state every sampled fact by construction)
and seconds per note. ``--save DIR`` keeps every verdict (one JSON file per set).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kgsynth.console import emit, err, out  # noqa: E402

PROMPT = ("Write a detailed admission note for a 64-year-old woman with type 2 diabetes mellitus "
          "induced by glucocorticoid therapy. Describe her history, examination and plan.")
BIORED_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "biored" / "Train.PubTator"


# -- speed ------------------------------------------------------------------------------------


def server_rate(base_url: str, model: str, tokens: int) -> tuple[float, int]:
    """(decode tokens/s, tokens decoded) on the server, greedy."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="x", timeout=600)

    def timed(n: int) -> tuple[float, int]:
        t = time.perf_counter()
        r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}],
                                           temperature=0.0, max_tokens=n)
        return time.perf_counter() - t, r.usage.completion_tokens if r.usage else n

    timed(1)  # warm-up: the prompt enters the cache, as on the transformers side
    t1, _ = timed(1)
    tn, n = timed(tokens)
    return (n - 1) / (tn - t1), n


def transformers_rate(gguf: Path, tokens: int) -> tuple[float, int, float]:
    """(decode tokens/s, tokens decoded, load seconds) with transformers on the de-quantized GGUF, 1 thread."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    t = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32).eval()
    load_s = time.perf_counter() - t
    ids = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                                        return_tensors="pt")
    ids = ids if isinstance(ids, torch.Tensor) else ids["input_ids"]

    def timed(n: int) -> tuple[float, int]:
        t = time.perf_counter()
        with torch.no_grad():
            result = model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)
        return time.perf_counter() - t, int(result.shape[1] - ids.shape[1])

    t1, _ = timed(1)
    tn, n = timed(tokens)
    return (n - 1) / (tn - t1), n, load_s


def speed(args: argparse.Namespace) -> None:
    from kgsynth.generation import llm_server

    gguf, alias = llm_server.resolve_gguf(args.model)
    home = Path(tempfile.mkdtemp(prefix="kgsynth-bench-llm-"))
    opts = llm_server.LlmOptions(model=gguf, alias=alias, home=home, port=args.port, threads=1, ctx=2048)
    t = time.perf_counter()
    started = llm_server.start(opts)
    server_load = time.perf_counter() - t
    try:
        err.print("server: decoding ...")
        s_rate, s_n = server_rate(str(started.base_url), alias, args.tokens)
    finally:
        llm_server.stop(home)
    err.print("transformers: loading the GGUF (de-quantizing to fp32) and decoding ...")
    t_rate, t_n, t_load = transformers_rate(gguf, args.tokens)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    rows = [
        ("llama.cpp server (kgsynth llm, 1 thread): decode tokens/s", s_rate, s_rate / t_rate),
        ("transformers gguf_file= fp32 (1 thread): decode tokens/s", t_rate, 1.0),
        ("tokens decoded per side", f"{s_n} / {t_n}", None),
        ("server start (to /v1/models answering), s", server_load, None),
        ("transformers load (de-quantize), s", t_load, None),
        ("bench peak RSS (transformers side), GB", peak_gb, None),
    ]
    report = {"model": alias, "gguf": str(gguf), "tokens": args.tokens, "server_tokens_per_s": s_rate,
              "transformers_tokens_per_s": t_rate, "ratio": s_rate / t_rate, "target_met": s_rate / t_rate >= 4.0,
              "rows": [{"metric": m, "value": v, "ratio": r} for m, v, r in rows]}
    _table(f"decoding speed, {alias} ({args.tokens} tokens, greedy)", rows, report, args.json)


# -- quality ------------------------------------------------------------------------------


def quality(args: argparse.Namespace) -> None:
    from kgsynth.evaluation.check import check_notes
    from kgsynth.evaluation.judge import agreement, judge_notes, make_judge, mean_nll, reference_texts
    from kgsynth.generation.dataset_folder import read_notes
    from kgsynth.graph.memory import MemoryStore

    judge = make_judge(args.judge_url, args.judge_model, fluency_gguf=args.fluency_gguf)
    sets = []
    began = time.perf_counter()
    try:
        t = time.perf_counter()
        real = reference_texts(args.corpus, args.abstracts, args.abstract_chars)
        real_nll = mean_nll(judge, real)
        real_s = time.perf_counter() - t
        for spec in args.notes:
            label, _, folder = spec.partition("=")
            records = read_notes(Path(folder))[: args.limit]
            t = time.perf_counter()
            judged = judge_notes(records, judge, quiet=args.json)
            seconds = time.perf_counter() - t
            template = bool(records) and all(r.backend == "template" for r in records)
            verdicts = [v.stated for r in judged.results for v in r.verdicts if v.stated is not None]
            template_agreement = sum(verdicts) / len(verdicts) if template and verdicts else None
            check = check_notes(records, MemoryStore(args.store)) if args.store else None
            stated = {c.id: {(f.subject, f.type, f.object) for f in c.expressed} for c in check.results} \
                if check else {}
            check_agreement, _ = agreement(judged, stated)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                (args.save / f"{label}.json").write_text(judged.model_dump_json(indent=1), encoding="utf-8")
            ratio = judged.nll_per_token / real_nll if judged.nll_per_token and real_nll else None
            words = sum(len(r.text.split()) for r in records) / max(len(records), 1)
            sets.append({"label": label, "notes": judged.notes, "self_judged": judged.self_judged_notes,
                         "facts": judged.facts, "fact_recall": judged.fact_recall,
                         "template_agreement": template_agreement, "check_agreement": check_agreement,
                         "check_recall": check.fact_recall if check else None, "nll_per_token": judged.nll_per_token,
                         "fluency_ratio": ratio, "mean_words": words, "unanswered": judged.unanswered,
                         "judge_s_per_note": seconds / max(len(records), 1)})
    finally:
        scorer = getattr(judge, "scorer", None)
        if scorer is not None:
            scorer.close()
    report = {"judge": judge.describe(), "abstracts": len(real), "abstract_chars": args.abstract_chars,
              "abstract_nll_per_token": real_nll, "abstract_seconds": real_s, "sets": sets,
              "wall_s": time.perf_counter() - began}

    def render() -> None:
        from rich.table import Table

        table = Table(title=f"independent judge: {judge.describe()}")
        for col in ("writer", "notes", "self-judged", "facts", "recall by check", "recall by judge",
                    "agreement w/ check", "agreement w/ template truth", "NLL/token", "fluency ratio", "mean words",
                    "judge s/note"):
            table.add_column(col, justify="left" if col == "writer" else "right")
        for s in sets:
            table.add_row(s["label"], str(s["notes"]), str(s["self_judged"]), str(s["facts"]),
                          _f(s["check_recall"]), _f(s["fact_recall"]), _f(s["check_agreement"]),
                          _f(s["template_agreement"]), _f(s["nll_per_token"]), _f(s["fluency_ratio"]),
                          f"{s['mean_words']:.1f}", f"{s['judge_s_per_note']:.1f}")
        table.add_row(f"real BioRED train abstracts (first {len(real)}, <= {args.abstract_chars} chars)",
                      str(len(real)), "", "", "", "", "", "", _f(real_nll), "1.00", "",
                      f"{real_s / max(len(real), 1):.1f}")
        out.print(table)
        out.print(f"wall time {report['wall_s']:.0f} s")

    emit(report, args.json, render)


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _table(title: str, rows: list, report: dict, as_json: bool) -> None:
    def render() -> None:
        from rich.table import Table

        table = Table(title=title)
        for col in ("metric", "value", "ratio"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for m, v, r in rows:
            table.add_row(m, f"{v:,.2f}" if isinstance(v, float) else str(v), "" if r is None else f"{r:.2f}x")
        out.print(table)

    emit(report, as_json, render)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--model", default="qwen2.5-1.5b")
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--port", type=int, default=8093)
    p.add_argument("--json", action="store_true")
    q = sub.add_parser("quality")
    q.add_argument("--notes", action="append", required=True, help="LABEL=DIR of a generated dataset (repeatable)")
    q.add_argument("--judge-url", required=True)
    q.add_argument("--judge-model")
    q.add_argument("--fluency-gguf", help="score fluency locally with llama.cpp on this GGUF (the judge's model)")
    q.add_argument("--limit", type=int, default=None, help="notes per set")
    q.add_argument("--corpus", type=Path, default=BIORED_TRAIN, help="real abstracts (default: BioRED train)")
    q.add_argument("--abstracts", type=int, default=20)
    q.add_argument("--abstract-chars", type=int, default=400)
    q.add_argument("--store", type=Path, default=os.environ.get("KGSYNTH_STORE"),
                   help="embedded KG the notes came from, for the deterministic check (default $KGSYNTH_STORE)")
    q.add_argument("--save", type=Path, default=Path("judge-verdicts"), help="folder for every verdict (JSON per set)")
    q.add_argument("--json", action="store_true")
    args = parser.parse_args()
    speed(args) if args.command == "speed" else quality(args)


if __name__ == "__main__":
    main()
