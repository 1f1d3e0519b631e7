"""``kgsynth evaluate``, ``kgsynth check`` and ``kgsynth report``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from kgsynth.cli_options import Database, Json, Password, StorePath, Uri, Username, store_from
from kgsynth.console import emit, err, out

if TYPE_CHECKING:
    from kgsynth.evaluation.judge import JudgeReport
    from kgsynth.evaluation.metrics import InputIssues


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _scores_table(title: str, modes: dict, per_type: bool) -> Table:
    table = Table(title=title)
    for col in ("mode", "type", "P", "R", "F1", "F1 95% CI", "tp", "fp", "fn"):
        table.add_column(col, justify="left" if col in ("mode", "type") else "right")
    for mode, s in modes.items():
        ci = f"{_fmt(s.ci.f1.low)}–{_fmt(s.ci.f1.high)}" if s.ci else "—"
        m = s.micro
        table.add_row(mode, "micro", _fmt(m.precision), _fmt(m.recall), _fmt(m.f1), ci, str(m.tp), str(m.fp), str(m.fn))
        table.add_row("", "macro", _fmt(s.macro_precision), _fmt(s.macro_recall), _fmt(s.macro_f1), "", "", "", "")
        if per_type:
            for t, ts in s.per_type.items():
                table.add_row(
                    "", t, _fmt(ts.precision), _fmt(ts.recall), _fmt(ts.f1), "", str(ts.tp), str(ts.fp), str(ts.fn)
                )
    return table


def evaluate_command(
    gold: Annotated[Path, typer.Option("--gold", help="Gold file: PubTator, BioC XML/JSON or NoteRecord JSONL.")],
    pred: Annotated[Path, typer.Option("--pred", help="Predictions, in any of the same formats.")],
    relation_level: Annotated[
        str, typer.Option("--relation-level", help="auto (concept for corpus gold), mention or concept.")
    ] = "auto",
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples of documents (0 = none).")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    per_type: Annotated[bool, typer.Option("--per-type", help="Show a row per entity/relation type.")] = False,
    json: Json = False,
) -> None:
    """Score predicted entities and relations against gold (P/R/F1, micro/macro, bootstrap CIs).

    With ``kgsynth link`` predictions as --pred: entity-linking Recall@1 and Recall@5 by mention."""
    from kgsynth.errors import ConfigError, InputError
    from kgsynth.evaluation.metrics import evaluate
    from kgsynth.evaluation.readers import read_records
    from kgsynth.linking.mentions import is_link_predictions

    if is_link_predictions(pred):
        _evaluate_links(gold, pred, bootstrap, seed, json)
        return

    if relation_level not in ("auto", "mention", "concept"):
        raise ConfigError(f"--relation-level must be auto, mention or concept, not {relation_level!r}")
    gold_set = read_records(gold)
    pred_set = read_records(pred)
    for path, records in ((gold, gold_set.records), (pred, pred_set.records)):
        seen: set[str] = set()
        for record in records:
            if record.id in seen:
                raise InputError(f"{path}: document id {record.id} appears twice; scoring needs one record per "
                                 "document")
            seen.add(record.id)
    level = gold_set.relation_level if relation_level == "auto" else relation_level
    report = evaluate(gold_set.records, pred_set.records, relation_level=level, bootstrap_samples=bootstrap, seed=seed)

    def render() -> None:
        out.print(
            f"{report.documents} gold documents ({gold_set.format}), predictions: {pred_set.format}, "
            f"relations compared at {level} level"
        )
        out.print(_scores_table("Entities", report.entity, per_type))
        out.print(_scores_table("Relations", report.relation, per_type))
        _print_issues(report.issues)

    emit(report, json, render)


def _evaluate_links(gold: Path, pred: Path, bootstrap: int, seed: int, json: bool) -> None:
    """Recall@1/@5 of ``kgsynth link`` predictions, micro and per type, with bootstrap intervals."""
    from kgsynth.evaluation.linking import link_scores
    from kgsynth.linking.mentions import read_mentions, read_predictions

    report = link_scores(read_mentions(gold), read_predictions(pred), bootstrap_samples=bootstrap, seed=seed)

    def render() -> None:
        table = Table(title=f"Entity linking: {report.scored:,} gold mentions with ids "
                            f"({report.without_gold_id} without, {report.without_prediction} unpredicted)")
        for col in ("metric", "type", "recall", "95% CI", "hits", "mentions"):
            table.add_column(col, justify="left" if col in ("metric", "type") else "right")
        for metric, scores in report.at.items():
            for label, s in (("micro", scores.micro), *scores.per_type.items()):
                ci = f"{_fmt(s.ci.low)}–{_fmt(s.ci.high)}" if s.ci else "—"
                table.add_row(metric if label == "micro" else "", label, _fmt(s.recall), ci, str(s.hits),
                              str(s.mentions))
        out.print(table)

    emit(report, json, render)


def _print_issues(issues: InputIssues) -> None:
    lines = []
    if issues.missing_in_pred:
        lines.append(
            f"{len(issues.missing_in_pred)} gold documents have no prediction (scored as empty), "
            f"e.g. {issues.missing_in_pred[0]}"
        )
    if issues.extra_in_pred:
        lines.append(
            f"{len(issues.extra_in_pred)} predicted documents are not in the gold (ignored), "
            f"e.g. {issues.extra_in_pred[0]}"
        )
    if issues.text_mismatch:
        lines.append(f"{len(issues.text_mismatch)} documents differ in text between gold and prediction")
    for label, n in (
        ("predicted entities with offsets outside the text (dropped)", issues.out_of_range_entities),
        ("predicted entities whose offsets do not give their text", issues.text_mismatch_entities),
        ("predicted relations pointing at missing entities (dropped)", issues.dangling_relations),
        ("predicted relations without concept ids (dropped)", issues.relations_without_concept),
    ):
        if n:
            lines.append(f"{n} {label}")
    if issues.unknown_entity_types:
        lines.append(f"unknown entity types: {issues.unknown_entity_types}")
    if issues.unknown_relation_types:
        lines.append(f"unknown relation types: {issues.unknown_relation_types}")
    for line in lines:
        err.print(f"[yellow]warning:[/yellow] {line}", highlight=False)


def check_command(
    notes: Annotated[Path, typer.Argument(help="Notes: a NoteRecord JSONL file or a folder of *.jsonl.")],
    filter_out: Annotated[
        Path | None, typer.Option("--filter", help="Write the notes that pass every check here (JSONL).")
    ] = None,
    min_faithfulness: Annotated[
        float, typer.Option("--min-faithfulness", help="Least share of sampled facts a note must express.")
    ] = 1.0,
    use_annotations: Annotated[
        bool,
        typer.Option("--use-annotations", help="Trust the notes' annotated relations instead of the relation-phrase "
                     "test (for gold notes whose text does not use the lexicon)."),
    ] = False,
    lexicon: Annotated[Path | None, typer.Option("--lexicon", help="Extra relation phrasings (as for generate).")]
    = None,
    judge_url: Annotated[str | None, typer.Option(
        "--judge-url", help="OpenAI-compatible endpoint of an independent judge model (kgsynth llm start, vLLM).")]
    = None,
    judge_model: Annotated[str | None, typer.Option(
        "--judge-model", help="Judge model: the served model's name with --judge-url, else a local model "
        "(packaged name, .gguf or folder) run with transformers.")] = None,
    judge_fluency_gguf: Annotated[str | None, typer.Option(
        "--judge-fluency-gguf", help="Score fluency locally with llama.cpp on this GGUF (the judge server's own "
        "model) instead of the server's slow echoed logprobs.")] = None,
    judge_limit: Annotated[int | None, typer.Option(
        "--judge-limit", help="Judge only the first N notes (a judge question takes seconds on a CPU).")] = None,
    uri: Uri = None,
    username: Username = None,
    password: Password = None,
    database: Database = None,
    store: StorePath = None,
    json: Json = False,
) -> None:
    """Check generated notes against the graph: faithfulness, hallucination, grounding, types, spans;
    with --judge-url/--judge-model also an independent judge's verdict per fact and fluency."""
    from kgsynth.console import track_rate
    from kgsynth.evaluation.check import FAILING_FLAGS, GraphView, check_note, summarize
    from kgsynth.evaluation.readers import read_records, write_records
    from kgsynth.generation.lexicon import load_lexicon

    phrases = load_lexicon(lexicon)
    records = read_records(notes).records
    with store_from(uri, username, password, database, store) as graph_store:
        graph = GraphView(graph_store)
        results = [
            check_note(r, graph, min_faithfulness, use_annotations, phrases)
            for r in track_rate(records, len(records), "checking notes", unit="notes", disable=json)
        ]
    report = summarize(results, sum(len(r.entities) for r in records), min_faithfulness, use_annotations)
    from kgsynth.evaluation.judge import judge_section

    judged = judge_section(records, judge_url, judge_model, judge_fluency_gguf, judge_limit, quiet=json)
    if judged.asked:
        report.judge = judged.message
    written = None
    if filter_out is not None:
        passing = {r.id for r in results if r.passed}
        written = write_records(filter_out, (r for r in records if r.id in passing))

    def render() -> None:
        pct = "—" if report.pass_rate is None else f"{report.pass_rate:.1%}"
        out.print(f"{report.notes} notes, {report.passed} pass every check ({pct})")
        summary = Table(title="Consistency")
        summary.add_column("check")
        summary.add_column("value", justify="right")
        for label, value in (
            (f"sampled facts expressed (recall, by {report.faithfulness_by})", _fmt(report.fact_recall)),
            ("mean per-note faithfulness", _fmt(report.mean_faithfulness)),
            ("degenerate notes", f"{report.degenerate_notes} / {report.notes}"),
            ("facts the text states", str(report.extracted_facts)),
            ("  not sampled, in KG elsewhere", str(report.extra_in_kg)),
            ("  absent from KG", str(report.absent_from_kg)),
            ("  contradicting KG", str(report.contradicting)),
            ("hallucination rate", _fmt(report.hallucination_rate)),
            ("ungrounded entities", f"{report.ungrounded_entities} / {report.entities}"),
            ("type-mismatched entities", f"{report.type_mismatched_entities} / {report.entities}"),
            (f"writer's extraction pass: recall ({report.extraction_notes} notes)",
             _fmt(report.extraction_fact_recall)),
            ("writer's extraction pass: hallucination rate", _fmt(report.extraction_hallucination_rate)),
        ):
            summary.add_row(label, value)
        out.print(summary)
        out.print(f"judge: {report.judge}")
        flags = Table(title="Notes flagged")
        for col in ("flag", "notes", "rate", "fails a note"):
            flags.add_column(col, justify="left" if col == "flag" else "right")
        for flag, n in report.flag_counts.items():
            flags.add_row(flag, str(n), f"{report.flag_rates[flag]:.1%}", "yes" if flag in FAILING_FLAGS else "no")
        out.print(flags)
        for r in [r for r in report.results if not r.passed][:5]:
            detail = (
                r.ungrounded[:1]
                + r.type_mismatches[:1]
                + [f"{f.subject} {f.type} {f.object}" for f in r.absent_from_kg[:1] + r.contradicting[:1]]
            )
            err.print(f"{r.id}: {', '.join(r.flags)} {'; '.join(detail)}", highlight=False)
        if judged.asked:
            print_judge(judged)
        if written is not None:
            out.print(f"wrote {written} passing notes to {filter_out}")

    data = report.model_dump(mode="json")
    data["independent_judge"] = judged.model_dump(mode="json")
    if written is not None:
        data["filtered"] = {"path": str(filter_out), "written": written}
    emit(data, json, render)


def print_judge(judged: JudgeReport) -> None:
    """The judge's table, or the plain statement that no judge was asked."""
    if not judged.asked:
        out.print(f"[bold]Judge:[/bold] {judged.message}", highlight=False)
        return
    table = Table(title=f"Independent judge: {judged.judge}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in (
        ("notes judged", str(judged.notes)),
        ("  of which self-judged (written by the judge's model)", str(judged.self_judged_notes)),
        ("facts asked", str(judged.facts)),
        ("fact recall by judge", _fmt(judged.fact_recall)),
        ("  independent notes only", _fmt(judged.fact_recall_independent)),
        ("  self-judged notes only", _fmt(judged.fact_recall_self_judged)),
        ("unanswered questions", str(judged.unanswered)),
        ("fluency: judge NLL per token", _fmt(judged.nll_per_token)),
    ):
        table.add_row(label, value)
    out.print(table)
    if judged.fluency_error:
        err.print(f"[yellow]warning:[/yellow] fluency not scored: {judged.fluency_error}", highlight=False)
    for r in judged.results[:10]:
        said = ", ".join(f"{v.fact}: {'yes' if v.stated else 'no' if v.stated is False else '?'}" for v in r.verdicts)
        err.print(f"{r.id}{' (self-judged)' if r.self_judged else ''}: {said}", highlight=False)


def report_command(
    notes: Annotated[Path, typer.Argument(help="Notes: a NoteRecord JSONL file or a folder of *.jsonl.")],
    out_path: Annotated[Path, typer.Option("--out", help="HTML report to write.")] = Path("report.html"),
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Template-baseline notes to compare with (JSONL or folder).")
    ] = None,
    embeddings: Annotated[
        bool, typer.Option("--embeddings/--no-embeddings", help="Mean pairwise cosine with all-MiniLM-L6-v2.")
    ] = True,
    near_duplicate: Annotated[
        float, typer.Option("--near-duplicate", help="Word-trigram Jaccard at which two notes are near duplicates.")
    ] = 0.8,
    uri: Uri = None,
    username: Username = None,
    password: Password = None,
    database: Database = None,
    store: StorePath = None,
    json: Json = False,
) -> None:
    """Write an HTML dataset quality report (balance, KG coverage, consistency, diversity, length)."""
    from kgsynth.evaluation.readers import read_records

    sets = [("notes", read_records(notes).records)]  # bad input fails before matplotlib is imported
    if baseline is not None:
        sets.append(("template baseline", read_records(baseline).records))
    from kgsynth.evaluation.check import check_notes
    from kgsynth.evaluation.quality import load_embedder, quality_stats
    from kgsynth.evaluation.render import render_html, write_html

    stats = []
    embedder = load_embedder() if embeddings else None
    with store_from(uri, username, password, database, store) as graph_store:
        for label, records in sets:
            check = check_notes(records, graph_store)
            stats.append(quality_stats(label, records, graph_store, check, embeddings, near_duplicate, embedder))
    write_html(out_path, render_html(stats))
    data = {"out": str(out_path), "stats": [s.model_dump(mode="json", exclude={"length": {"words"}}) for s in stats]}

    def render() -> None:
        table = Table(title=f"Dataset quality (full report: {out_path})")
        table.add_column("figure")
        for s in stats:
            table.add_column(s.label, justify="right")
        rows = {
            "notes": [str(s.notes) for s in stats],
            "relation-type max/min": [
                _fmt(s.relation_balance["(all)"].max_min_ratio) if "(all)" in s.relation_balance else "—" for s in stats
            ],
            "KG concept coverage": [_fmt(s.coverage.concept_coverage if s.coverage else None) for s in stats],
            "pass rate": [_fmt(s.consistency.get("pass_rate")) for s in stats],
            "distinct-2": [_fmt(s.diversity.distinct_2) for s in stats],
            "mean pairwise cosine": [_fmt(s.diversity.mean_pairwise_cosine) for s in stats],
            "near-duplicate pairs": [str(s.diversity.near_duplicate_pairs) for s in stats],
            "mean words": [f"{s.length.mean_words:.1f}" for s in stats],
        }
        for label, values in rows.items():
            table.add_row(label, *values)
        out.print(table)

    emit(data, json, render)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_command)
    app.command("check")(check_command)
    app.command("report")(report_command)
