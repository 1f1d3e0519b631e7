"""Fine-tune on generated notes vs the template baseline, then extract and score on held-out notes and BioRED dev.

Both runs use the same recipe (``kgsynth.training``: QLoRA 4-bit NF4 + LoRA on all
linear layers, packed batches, answer-only loss) and the same step budget, so the
only difference is the training notes. Held-out notes are whole motif instances
(KG facts) that neither run trained on. BioRED dev is scored with kgsynth's metrics:
entities strict (span + type); relations at mention level, "relaxed" mode (arguments
by overlapping span, same type, either direction), because predicted mentions carry
no concept ids for BioRED's concept-level scoring.

Without ``--notes`` the "generated" notes are varied template notes from the bundled
sample KG (``kgsynth.evaluation.synthetic``, variety 3) — a stand-in for LLM notes —
and the output says so. The baseline is the classic single-template notes (variety 1).
Earlier reference: Mistral-7B QLoRA on template notes, entity F1 84.8%, relation F1
39.2% on its own synthetic test set (a different test set; shown for orientation).

    python bench/train.py                                    # full: 2,000 notes, 1 epoch
    python bench/train.py --n-notes 300 --max-steps 40 --test-notes 30 --biored-docs 5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("KGSYNTH_SHARED_DATA", REPO.parent / "shared" / "data"))
REFERENCE = {"name": "Mistral-7B QLoRA, template notes (earlier work)", "entity_f1": 0.848, "relation_f1": 0.392}


def _notes(path: Path | None, n: int, variety: int, seed: int) -> tuple[list, str]:
    from kgsynth.evaluation.readers import read_records
    from kgsynth.evaluation.synthetic import template_notes
    from kgsynth.graph.sample import sample_graph

    if path is not None:
        return read_records(path).records[:n], str(path)
    concepts, relations = sample_graph()
    return template_notes(concepts, relations, n, seed=seed, variety=variety), f"template notes, variety {variety}"


def _f1(report, side: str, mode: str) -> float | None:
    scores = report.entity if side == "entity" else report.relation
    return scores[mode].micro.f1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=Path, help="Generated NoteRecord JSONL (default: varied template notes).")
    parser.add_argument("--baseline-notes", type=Path, help="Baseline notes (default: single-template notes).")
    parser.add_argument("--n-notes", type=int, default=2000, help="Notes per training set (before holding out).")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="Share of instances held out for test.")
    parser.add_argument("--test-notes", type=int, default=100, help="Held-out notes to extract (0 = all).")
    parser.add_argument("--biored", type=Path, default=DEFAULT_DATA / "biored" / "Dev.PubTator")
    parser.add_argument("--biored-docs", type=int, default=100, help="BioRED dev documents to extract (0 = skip).")
    parser.add_argument("--base-model", default="smollm2-135m-instruct")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=0, help="Optimizer steps per run (0 = full epochs).")
    parser.add_argument("--batch-tokens", type=int, default=2048)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--max-new-tokens", type=int, default=384)
    parser.add_argument("--no-quantize", action="store_true", help="Plain LoRA instead of QLoRA.")
    parser.add_argument("--out", type=Path, default=Path("bench-train-runs"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default; 1 on a busy CPU).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args(argv)

    from kgsynth.evaluation.metrics import evaluate
    from kgsynth.evaluation.readers import read_records, write_records
    from kgsynth.training.config import TrainConfig
    from kgsynth.training.data import group_key, split
    from kgsynth.training.extract import Extractor, extract_file
    from kgsynth.training.trainer import train

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    generated, gen_source = _notes(args.notes, args.n_notes, variety=3, seed=args.seed)
    baseline, base_source = _notes(args.baseline_notes, args.n_notes, variety=1, seed=args.seed)
    gen_train, test = split(generated, args.test_fraction, seed=args.seed + 1)
    held_out = {group_key(r) for r in test}
    base_train = [r for r in baseline if group_key(r) not in held_out]
    test = test[: args.test_notes] if args.test_notes else test
    write_records(args.out / "test.jsonl", test)
    biored = read_records(args.biored).records[: args.biored_docs] if args.biored_docs else []

    rows = []
    for name, source, notes in (("generated", gen_source, gen_train), ("template baseline", base_source, base_train)):
        run = args.out / name.replace(" ", "-")
        data = run.with_suffix(".jsonl")
        write_records(data, notes)
        config = TrainConfig(
            data=[data],
            out=run,
            base_model=args.base_model,
            quantize=not args.no_quantize,
            epochs=args.epochs,
            max_steps=args.max_steps,
            batch_tokens=args.batch_tokens,
            learning_rate=args.learning_rate,
            val_fraction=0.05,
            save_every=50,
            seed=args.seed,
            threads=args.threads,
            resume=bool(list((run / "checkpoints").glob("step-*"))) if (run / "checkpoints").is_dir() else False,
        )
        report = train(config, show_progress=not args.json)
        extractor = Extractor(run / "best", max_new_tokens=args.max_new_tokens)
        row = {
            "training": name,
            "source": source,
            "train_notes": report.notes_train,
            "train_instances": report.instances_train,
            "steps": report.steps,
            "train_seconds": report.seconds,
            "train_tokens_per_s": report.tokens_per_second,
            "best_val_loss": report.best_val_loss,
        }
        for label, gold in (("held_out", test), ("biored_dev", biored)):
            if not gold:
                continue
            preds = args.out / f"{run.name}-{label}.jsonl"
            ext = extract_file(extractor, gold, preds, label, len(gold), show_progress=not args.json)
            scored = evaluate(gold, read_records(preds).records, relation_level="mention", bootstrap_samples=200)
            relation_mode = "strict" if label == "held_out" else "relaxed"
            row[f"{label}_docs"] = len(gold)
            row[f"{label}_entity_f1"] = _f1(scored, "entity", "strict")
            row[f"{label}_relation_f1"] = _f1(scored, "relation", relation_mode)
            row[f"{label}_truncated"] = ext.truncated
            row[f"{label}_notes_per_s"] = ext.notes_per_second
        rows.append(row)
        del extractor

    result = {
        "base_model": args.base_model,
        "generated_source": gen_source,
        "test_notes": len(test),
        "biored_docs": len(biored),
        "rows": rows,
        "reference": REFERENCE,
        "seconds": round(time.perf_counter() - started, 1),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    (args.out / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    if args.json:
        print(json.dumps(result))
        return 0

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:.1f}"

    print(
        f"base model {args.base_model}; generated = {gen_source}; {len(test)} held-out notes, {len(biored)} BioRED dev"
    )
    print(
        "| training data | steps | held-out entity F1 | held-out relation F1 | BioRED entity F1"
        " | BioRED relation F1 (relaxed) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = [r.get(k) for k in ("held_out_entity_f1", "held_out_relation_f1", "biored_dev_entity_f1")]
        cells.append(r.get("biored_dev_relation_f1"))
        print(f"| {r['training']} | {r['steps']} | " + " | ".join(pct(c) for c in cells) + " |")
    print(f"| {REFERENCE['name']} | | {pct(REFERENCE['entity_f1'])} | {pct(REFERENCE['relation_f1'])} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
