"""``kgsynth link`` (predict KB ids for mention spans) and ``kgsynth link-train`` (fine-tune the bi-encoder)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kgsynth.cli_options import Database, Json, Password, StorePath, Uri, Username, store_from
from kgsynth.console import emit, out, progress


class LinkerName(StrEnum):
    dictionary = "dictionary"
    biencoder = "biencoder"
    generative = "generative"


Groups = Annotated[list[str] | None, typer.Option("--group", help="Semantic groups to index "
                                                  "[default: the groups of the input's mentions].")]
Prefix = Annotated[str, typer.Option("--prefix", help="Only concepts whose id starts with this (e.g. MESH:).")]
Context = Annotated[bool, typer.Option("--context/--no-context", help="Bi-encoder: embed the mention with its "
                                       "context window, not alone.")]


def _indexes(graph, groups: list[str], prefix: str) -> dict:  # noqa: ANN001
    from kgsynth.linking.kb import build_index

    return {g: build_index(graph, g, prefix) for g in groups}


def link_command(
    input_path: Annotated[Path, typer.Argument(help="Mentions to link: PubTator, BioC XML/JSON or NoteRecord "
                                               "JSONL (gold ids, if any, are kept for `kgsynth evaluate`).")],
    out_path: Annotated[Path, typer.Option("--out", help="Predictions JSONL (one line per mention).")],
    linker: Annotated[LinkerName, typer.Option("--linker", help="Which linker.")] = LinkerName.biencoder,
    k: Annotated[int, typer.Option("--k", min=1, help="Candidates per mention.")] = 5,
    model: Annotated[Path | None, typer.Option("--model", help="Bi-encoder folder from `kgsynth link-train` "
                                               "[default: the packaged all-MiniLM-L6-v2].")] = None,
    unconstrained: Annotated[bool, typer.Option("--unconstrained", help="Generative linker: decode freely "
                                                "and look the text up (the ablation).")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N mentions.")] = None,
    group: Groups = None, prefix: Prefix = "", context: Context = False,
    abbreviations: Annotated[bool, typer.Option("--abbreviations/--no-abbreviations", help="Link a short form "
                             "its document defines, 'long form (SF)', by the long form (Schwartz-Hearst).")] = True,
    uri: Uri = None, username: Username = None, password: Password = None, database: Database = None,
    store: StorePath = None, json: Json = False,
) -> None:
    """Predict a KB id per mention, restricted to the graph's concepts of the mention's group."""
    import time

    from kgsynth.linking.mentions import LinkPrediction, read_mentions, write_predictions

    mentions = read_mentions(input_path, abbreviations)[:limit]
    groups = group or sorted({m.group for m in mentions})
    began = time.perf_counter()
    with store_from(uri, username, password, database, store) as graph:
        indexes = _indexes(graph, groups, prefix)
    mentions = [m for m in mentions if m.group in indexes] if group else mentions
    chosen = _make_linker(linker, indexes, model, context, unconstrained)
    with progress("mentions", json) as bar:
        task = bar.add_task(f"link ({chosen.name})", total=len(mentions), rate="")
        ranked = chosen.rank(mentions, k, on_progress=lambda n: bar.advance(task, n))
    predictions = [LinkPrediction(**m.model_dump(), candidates=c) for m, c in zip(mentions, ranked, strict=True)]
    write_predictions(out_path, predictions)
    report = {"linker": chosen.name, "constrained": not unconstrained if linker == "generative" else None,
              "mentions": len(predictions), "answered": sum(1 for p in predictions if p.candidates),
              "abbreviations_resolved": sum(1 for p in predictions if p.expansion),
              "names": {g: len(ix) for g, ix in indexes.items()},
              "concepts": {g: ix.concepts for g, ix in indexes.items()},
              "seconds": round(time.perf_counter() - began, 2), "out": str(out_path)}

    def render() -> None:
        out.print(f"{report['linker']}: {report['answered']:,} of {report['mentions']:,} mentions got a candidate; "
                  f"index {report['names']} names; {report['seconds']} s; written to {out_path}")

    emit(report, json, render)


def _make_linker(linker: LinkerName, indexes: dict, model: Path | None, context: bool, unconstrained: bool):  # noqa: ANN202
    from kgsynth.linking.linkers import BiEncoderLinker, DictionaryLinker

    if linker == LinkerName.dictionary:
        return DictionaryLinker(indexes)
    if linker == LinkerName.biencoder:
        return BiEncoderLinker(indexes, model=model, with_context=context)
    from kgsynth.linking.generative import GenerativeLinker

    return GenerativeLinker(indexes, constrained=not unconstrained)


def link_train_command(
    notes: Annotated[list[Path], typer.Argument(help="Annotated notes (kgsynth notes folder/JSONL, or a corpus "
                                                "train split): the (mention, concept name) pairs.")],
    out_path: Annotated[Path, typer.Option("--out", help="Folder for the fine-tuned bi-encoder.")],
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2)] = 32,
    lr: Annotated[float, typer.Option("--lr")] = 3e-5,
    max_pairs: Annotated[int | None, typer.Option("--max-pairs", min=1, help="Train on at most N pairs.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    base: Annotated[Path | None, typer.Option("--base", help="Start from this bi-encoder folder.")] = None,
    hard_negatives: Annotated[bool, typer.Option(
        "--hard-negatives", help="Add one mined negative per pair: the name of another concept the encoder "
                                 "ranks highest for the mention before training.")] = False,
    group: Groups = None, prefix: Prefix = "", context: Context = False,
    uri: Uri = None, username: Username = None, password: Password = None, database: Database = None,
    store: StorePath = None, json: Json = False,
) -> None:
    """Fine-tune the bi-encoder contrastively on (mention in context, concept name) pairs."""
    from kgsynth.evaluation.readers import read_records
    from kgsynth.linking.train import train_biencoder

    records = [r for path in notes for r in read_records(path).records]
    groups = group or sorted({e.type for r in records for e in r.entities})
    with store_from(uri, username, password, database, store) as graph:
        indexes = _indexes(graph, groups, prefix)
    with progress("steps", json) as bar:
        task = bar.add_task("link-train", total=None, rate="")
        report = train_biencoder(records, indexes, out_path, epochs=epochs, batch_size=batch_size, lr=lr,
                                 seed=seed, with_context=context, base=base, max_pairs=max_pairs,
                                 hard_negatives=hard_negatives,
                                 on_step=lambda s, t: bar.update(task, completed=s, total=t))
    emit(report, json, lambda: out.print(f"{report.pairs:,} pairs, {report.steps} steps, loss {report.final_loss}, "
                                          f"{report.seconds} s; saved to {report.out}"))


def register(app: typer.Typer) -> None:
    app.command("link")(link_command)
    app.command("link-train")(link_train_command)
