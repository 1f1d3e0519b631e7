"""Data utility: does adding generated notes help NER (``--task ner``) or RE (``--task re``) on real abstracts?

Fine-tunes the packaged all-MiniLM-L6-v2 as a token classifier on (a) BioRED train,
(b) generated notes, (c) both, and scores each on BioRED dev with kgsynth's strict
entity F1 (95% CI from a document bootstrap). The last column is F1 relative to the
BioRED-only row, the baseline measured in the same run.

Without ``--generated``, the "generated" notes are template notes written from the
bundled sample KG (``kgsynth.evaluation.synthetic``), and the output says so.
``--baseline NOTES`` adds two rows, the baseline notes alone and with BioRED: pass
template-backend notes written from the same motif instances to see what the LLM's
prose adds over fixed sentences.

    python bench/utility.py --train-docs 400 --dev-docs 100 --gen-docs 400 --epochs 3
    python bench/utility.py --generated notes/ --json
    python bench/utility.py --generated llm-notes/ --baseline template-notes/

``--task re`` is the relation-extraction probe (``kgsynth.evaluation.re_probe``): gold
entities, every co-occurring concept pair classified into BioRED's 8 types or none,
frozen MiniLM with entity markers and an MLP pair head, scored with ``evaluate`` at
concept level (relaxed) on BioRED dev. Rows: BioRED train; + notes; notes only;
+ the notes that state a rare type (Bind, Cotreatment, Comparison, Drug_Interaction,
Conversion). The last column is the paired-bootstrap CI of micro F1 minus the first row.

    python bench/utility.py --task re --generated notes/ --threads 1 --json

``--baseline NOTES`` (another writer's notes of the same instances, e.g. template notes beside
LLM notes) adds two rows: BioRED train + baseline notes, baseline notes only. ``--then-real``
adds a curriculum row: the head trains on the notes alone, then goes on on BioRED train alone
(the notes never share a batch with the real pairs).

``--tune-layers N`` trains the encoder's top N layers with the head (``kgsynth.evaluation.re_tune``:
the lower layers run once per document; the head is first trained alone, then both together).

    python bench/utility.py --task re --generated notes/ --threads 2 --tune-layers 1 --tune-epochs 2 --json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("KGSYNTH_SHARED_DATA", REPO.parent / "shared" / "data"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, default=DEFAULT_DATA / "biored" / "Train.PubTator")
    parser.add_argument("--dev", type=Path, default=DEFAULT_DATA / "biored" / "Dev.PubTator")
    parser.add_argument("--generated", type=Path, help="Generated NoteRecord JSONL (file or folder).")
    parser.add_argument("--baseline", type=Path, help="Baseline notes (e.g. template backend, same instances).")
    parser.add_argument("--train-docs", type=int, default=400)
    parser.add_argument("--dev-docs", type=int, default=100)
    parser.add_argument("--gen-docs", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.add_argument("--task", choices=("ner", "re"), default="ner")
    parser.add_argument("--head-epochs", type=int, default=20, help="RE: epochs of the pair head.")
    parser.add_argument("--save-predictions", type=Path, help="RE: write each row's dev predictions (JSONL) here.")
    parser.add_argument("--feature-cache", type=Path, help="RE: reuse encoded pair features from this folder.")
    parser.add_argument("--note-weight", type=float, default=1.0,
                        help="RE: loss weight of a note's pairs relative to a BioRED pair (1 = equal).")
    parser.add_argument("--domain-copies", action="store_true",
                        help="RE: give real and note pairs their own feature copies (Daume's EasyAdapt).")
    parser.add_argument("--then-real", action="store_true",
                        help="RE: add a row whose head trains on the notes first, then on BioRED train.")
    parser.add_argument("--tune-layers", type=int, default=0,
                        help="RE: train the encoder's top N layers with the head (0 = frozen encoder).")
    parser.add_argument("--tune-epochs", type=int, default=3, help="RE with --tune-layers: epochs over the documents.")
    parser.add_argument("--encoder-lr", type=float, default=5e-5, help="RE with --tune-layers: the tuned layers' lr.")
    args = parser.parse_args(argv)
    if args.task == "re":
        return re_main(args)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from kgsynth.console import emit, out
    from kgsynth.errors import KgsynthError
    from kgsynth.evaluation.readers import read_records
    from kgsynth.evaluation.synthetic import template_notes
    from kgsynth.evaluation.utility import utility_row
    from kgsynth.graph.sample import sample_graph

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        train = read_records(args.train).records[: args.train_docs]
        dev = read_records(args.dev).records[: args.dev_docs]
        if args.generated:
            generated = read_records(args.generated, "jsonl").records[: args.gen_docs]
            source = f"generated notes from {args.generated}"
        else:
            concepts, relations = sample_graph()
            generated = template_notes(concepts, relations, args.gen_docs, seed=args.seed, variety=3)
            source = "template notes from the bundled sample KG (no generator output given)"
        baseline = read_records(args.baseline, "jsonl").records[: args.gen_docs] if args.baseline else []
    except KgsynthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    common = dict(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        max_len=args.max_len,
        seed=args.seed,
        bootstrap_samples=args.bootstrap,
        progress=not args.json,
    )
    rows = []
    runs = [("biored", train), ("generated", generated), ("biored+generated", [*train, *generated])]
    if baseline:
        runs += [("baseline", baseline), ("biored+baseline", [*train, *baseline])]
    for name, data in runs:
        rows.append(utility_row(name, data, dev, **common))
    base = rows[0].strict_f1
    report = {
        "generated_source": source,
        "baseline_source": str(args.baseline) if args.baseline else None,
        "dev_docs": len(dev),
        "torch_threads": torch.get_num_threads(),
        "rows": [
            {**r.model_dump(), "f1_vs_biored": (r.strict_f1 / base) if base and r.strict_f1 is not None else None}
            for r in rows
        ],
    }

    def render() -> None:
        from rich.table import Table

        table = Table(title=f"NER utility on BioRED dev ({len(dev)} docs); generated = {source}")
        for col in ("train on", "docs", "epochs", "strict F1", "95% CI", "partial F1", "P", "R", "× biored", "s"):
            table.add_column(col, justify="left" if col == "train on" else "right")

        def f(v: float | None) -> str:
            return "—" if v is None else f"{v:.3f}"

        for r, row in zip(rows, report["rows"], strict=True):
            table.add_row(
                r.train,
                str(r.train_docs),
                str(r.epochs),
                f(r.strict_f1),
                f"{f(r.strict_f1_low)}–{f(r.strict_f1_high)}",
                f(r.partial_f1),
                f(r.precision),
                f(r.recall),
                f(row["f1_vs_biored"]),
                f"{r.seconds:.0f}",
            )
        out.print(table)

    emit(report, args.json, render)
    return 0


def _mixes(names: tuple[str, ...], train: object, notes: object, rare: object, base: object) -> list:
    """Each row's name with the corpora it trains on, in the order of ``names`` (both probes share it)."""
    parts = [[train], [train, notes], [notes], [train, rare], [train, base], [base]]
    return list(zip(names, parts[: len(names)], strict=True))


def re_main(args: argparse.Namespace) -> int:
    """The RE probe's rows side by side (frozen encoder, or its top ``--tune-layers`` trained per row)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from kgsynth.console import emit, err, out
    from kgsynth.errors import KgsynthError
    from kgsynth.evaluation import re_probe as rp
    from kgsynth.evaluation.readers import read_records, write_records

    torch.set_num_threads(args.threads or 1)
    try:
        train = read_records(args.train).records[: args.train_docs]
        dev = read_records(args.dev).records[: args.dev_docs]
        if not args.generated:
            raise KgsynthError("--task re needs --generated NOTES (e.g. template notes from a BioRED-train KG)")
        notes = read_records(args.generated, "jsonl").records[: args.gen_docs]
        baseline = read_records(args.baseline, "jsonl").records[: args.gen_docs] if args.baseline else []
    except KgsynthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.note_weight <= 0:
        print("error: --note-weight must be above 0", file=sys.stderr)
        return 1
    if args.tune_layers and (args.domain_copies or args.then_real):
        print("error: --domain-copies and --then-real work on frozen features; leave them out with --tune-layers",
              file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    tokenizer, model = rp.load_encoder()
    if not 0 <= args.tune_layers <= model.config.num_hidden_layers:
        print(f"error: --tune-layers must be 0-{model.config.num_hidden_layers}", file=sys.stderr)
        return 1
    progress = not args.json
    err.print(f"encoding {len(train)} train, {len(dev)} dev, {len(notes)} notes, {len(baseline)} baseline notes"
              f" (max_len {args.max_len})")
    rare = [i for i, r in enumerate(notes) if any(x.type in rp.RARE_TYPES for x in r.relations)]
    names = ("BioRED train", "BioRED train + notes", "notes only", "BioRED train + rare-type notes")
    if baseline:  # the same instances written by another writer (e.g. template notes beside LLM notes)
        names += ("BioRED train + baseline notes", "baseline notes only")
    if args.tune_layers:
        from kgsynth.evaluation import re_tune as rt

        c_train, c_dev = (rt.prepare(docs, tokenizer, model, args.tune_layers, args.max_len, progress=progress)
                          for docs in (train, dev))
        c_notes = rt.prepare(notes, tokenizer, model, args.tune_layers, args.max_len, weight=args.note_weight,
                             progress=progress)
        c_base = (rt.prepare(baseline, tokenizer, model, args.tune_layers, args.max_len, weight=args.note_weight,
                             progress=progress) if baseline else rt.subset(c_notes, []))
        encode_s = time.perf_counter() - t0
        settings = rt.TuneSettings(layers=args.tune_layers, epochs=args.tune_epochs, encoder_lr=args.encoder_lr,
                                   seed=args.seed)
        mixes = _mixes(names, c_train, c_notes, rt.subset(c_notes, rare), c_base)
        rows, predictions = rt.run_rows(mixes, c_dev, model, settings, args.bootstrap, progress)
    else:
        c_train, c_dev, c_notes = (rp.prepare(docs, tokenizer, model, args.max_len, progress, args.feature_cache)
                                   for docs in (train, dev, notes))
        c_base = (rp.prepare(baseline, tokenizer, model, args.max_len, progress, args.feature_cache) if baseline
                  else rp.subset(c_notes, []))
        encode_s = time.perf_counter() - t0
        c_notes, c_base = (c.model_copy(update={"weight": args.note_weight}) for c in (c_notes, c_base))
        c_rare = rp.subset(c_notes, rare)
        if args.domain_copies:
            c_train, c_dev = rp.domain_copies(c_train, False), rp.domain_copies(c_dev, False)
            c_notes, c_rare, c_base = (rp.domain_copies(c, True) for c in (c_notes, c_rare, c_base))
        settings = rp.ProbeSettings(epochs=args.head_epochs, seed=args.seed)
        mixes = _mixes(names, c_train, c_notes, c_rare, c_base)
        if args.then_real:  # a curriculum: the notes first, then the real abstracts alone
            mixes.append(("notes, then BioRED train", [c_notes, c_train.model_copy(update={"stage": 1})]))
        rows, predictions = rp.run_rows(mixes, c_dev, settings, args.bootstrap)
    dev_pairs = len(c_dev.pairs)
    if args.save_predictions:
        args.save_predictions.mkdir(parents=True, exist_ok=True)
        for k, pred in enumerate(predictions):
            write_records(args.save_predictions / f"row{k}.jsonl", pred)
    base = rows[0].micro_f1
    report = {
        "task": "re",
        "notes_source": str(args.generated),
        "notes": len(notes),
        "baseline_source": str(args.baseline) if args.baseline else None,
        "baseline_notes": len(baseline),
        "rare_type_notes": len(rare),
        "dev_docs": len(dev),
        "dev_pairs": dev_pairs,
        "encode_seconds": round(encode_s, 1),
        "torch_threads": torch.get_num_threads(),
        "max_len": args.max_len,
        "head": settings.model_dump(),
        "tune_layers": args.tune_layers,
        "note_weight": args.note_weight,
        "domain_copies": args.domain_copies,
        "then_real": args.then_real,
        # What the head can learn from layout alone: compare the notes' shape with BioRED's.
        "pair_shape": {name: rp.pair_shape(docs).model_dump() for name, docs in
                       (("BioRED train", train), ("BioRED dev", dev), ("notes", notes), ("baseline notes", baseline))
                       if docs},
        "rows": [
            {**r.model_dump(mode="json"), "f1_vs_first": r.micro_f1 / base if base and r.micro_f1 is not None else None}
            for r in rows
        ],
    }

    def render() -> None:
        from rich.table import Table

        def f(v: float | None) -> str:
            return "—" if v is None else f"{v:.3f}"

        encoder = f"top {args.tune_layers} encoder layers tuned" if args.tune_layers else "frozen encoder"
        title = (f"RE utility on BioRED dev ({len(dev)} docs, {dev_pairs} pairs); notes = {args.generated}"
                 f" (loss weight {args.note_weight:g}{', domain copies' if args.domain_copies else ''}; {encoder})")
        table = Table(title=title)
        shown = ("ASSOCIATED_WITH", "POSITIVE_CORRELATION", "NEGATIVE_CORRELATION", "BINDS", "COTREATMENT",
                 "COMPARISON")
        for col in ("train on", "docs", "pairs", "micro F1", "95% CI", "Δ vs first (95% CI)", "× first",
                    "Assoc", "PosCorr", "NegCorr", "Bind", "Cotreat", "Compar", "s"):
            table.add_column(col, justify="left" if col == "train on" else "right")
        for r, row in zip(rows, report["rows"], strict=True):
            ci = r.micro_f1_ci
            diff = "" if r.f1_diff_ci is None else (
                f"{r.f1_diff_vs_first:+.3f} ({r.f1_diff_ci.low:+.3f}…{r.f1_diff_ci.high:+.3f})")
            types = [f(r.per_type[t].f1) if t in r.per_type else "—" for t in shown]
            table.add_row(r.train, str(r.train_docs), str(r.train_pairs), f(r.micro_f1),
                          f"{f(ci.low if ci else None)}–{f(ci.high if ci else None)}", diff,
                          f(row["f1_vs_first"]), *types, f"{r.seconds:.0f}")
        out.print(table)
        shape = Table(title="Pair shape (what layout alone teaches)")
        for col in ("corpus", "pairs", "positive", "P(pos | shared sentence)", "P(pos | apart)",
                    "positives sharing a sentence"):
            shape.add_column(col, justify="left" if col == "corpus" else "right")
        for name, sh in report["pair_shape"].items():
            shape.add_row(name, str(sh["pairs"]), f(sh["positive"]), f(sh["positive_if_shared"]),
                          f(sh["positive_if_apart"]), f(sh["positives_shared"]))
        out.print(shape)

    emit(report, args.json, render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
