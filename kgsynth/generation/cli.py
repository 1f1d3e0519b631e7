"""``kgsynth generate``, ``export``, ``demo`` and ``coverage`` (notes written back to the graph)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kgsynth.cli_options import Database, Json, Password, StorePath, Uri, Username, store_from
from kgsynth.console import count_table, emit, err, out
from kgsynth.errors import ConfigError


class BackendName(StrEnum):
    template = "template"
    transformers = "transformers"
    openai = "openai"


class ExportFormat(StrEnum):
    hf = "hf"
    bioc = "bioc"
    conll = "conll"


class NoteBalanceName(StrEnum):
    relation_type = "relation_type"
    none = "none"


class NoteStyle(StrEnum):
    fact = "fact"
    abstract = "abstract"


class ContextWords(StrEnum):
    free = "free"
    vetted = "vetted"


class SchemaMode(StrEnum):
    json_schema = "json_schema"
    json_object = "json_object"


def backend_options(model: str | None, base_url: str | None, api_key: str | None, temperature: float,
                    max_words: int, price_in: float, price_out: float,
                    schema_mode: SchemaMode = SchemaMode.json_schema, lexicon: Path | None = None,
                    context_words: ContextWords | None = None) -> dict[str, object]:
    """The options every backend accepts; ``context_words`` only when given (each backend has its default)."""
    from kgsynth.generation.lexicon import load_lexicon

    options: dict[str, object] = {
        "model": model, "base_url": base_url, "api_key": api_key, "temperature": temperature,
        "max_words": max_words, "price_in": price_in, "price_out": price_out, "schema_mode": schema_mode.value,
        "lexicon": load_lexicon(lexicon)}
    if context_words is not None:
        options["context_words"] = context_words.value
    return options


def generate_command(
    instances: Annotated[Path, typer.Option("--instances", help="Motif instances (JSONL from `kgsynth sample`).")],
    out: Annotated[Path, typer.Option("--out", help="Dataset folder: JSONL shards + rejects; resumed if present.")],
    backend: Annotated[BackendName, typer.Option("--backend", help="Note writer.")] = BackendName.template,
    n: Annotated[int, typer.Option("--n", help="Notes wanted (instances are cycled).")] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Run seed: same seed, same prompts.")] = 0,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Requests in flight (openai backend).")] = 1,
    model: Annotated[str | None, typer.Option("--model", help="Model name, folder or .gguf (default per backend).")]
    = None,
    base_url: Annotated[str | None, typer.Option("--base-url", envvar="OPENAI_BASE_URL",
                                                 help="OpenAI-compatible endpoint.")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="OPENAI_API_KEY", show_default=False,
                                                help="API key.")] = None,
    temperature: Annotated[float, typer.Option("--temperature")] = 0.7,
    schema_mode: Annotated[SchemaMode, typer.Option(
        "--schema-mode", help="How the openai backend sends its JSON schema: json_schema (OpenAI, vLLM, "
        "llama-server) or json_object (llama-cpp-python's server).")] = SchemaMode.json_schema,
    max_words: Annotated[int, typer.Option("--max-words", help="Most words in each run of free text around a "
                                           "fact's statement.")] = 10,
    context_words: Annotated[ContextWords | None, typer.Option(
        "--context-words", help="Words around a fact's statement in an LLM's note: vetted (leads and tails that fit "
        "the fact and the note, the model chooses; default for transformers) or free (runs of plain words; default "
        "for openai).", show_default=False)] = None,
    lexicon: Annotated[Path | None, typer.Option("--lexicon", help="YAML of extra relation phrasings (the layout of "
                                                  "kgsynth/generation/prompts/lexicon.yaml).")] = None,
    best_of: Annotated[int, typer.Option("--best-of", help="Drafts per note; keeps the one with the best mean token "
                                          "log-probability under the writer.")] = 1,
    max_attempts: Annotated[int, typer.Option("--max-attempts", help="Tries per note before it is rejected.")] = 3,
    extract: Annotated[bool, typer.Option("--extract/--no-extract", help="Run the relation-extraction pass.")]
    = True,
    prompt_config: Annotated[Path | None, typer.Option("--prompt-config",
                                                       help="YAML of age/sex/note-type distributions.")] = None,
    shard_size: Annotated[int, typer.Option("--shard-size", help="Notes per JSONL shard.")] = 100,
    price_in: Annotated[float, typer.Option("--price-in", help="USD per 1M prompt tokens (cost accounting).")]
    = 0.0,
    price_out: Annotated[float, typer.Option("--price-out", help="USD per 1M completion tokens.")] = 0.0,
    export_formats: Annotated[list[ExportFormat] | None, typer.Option("--export", help="Also export (repeatable).")]
    = None,
    balance: Annotated[NoteBalanceName, typer.Option(
        "--balance", help="relation_type: plan notes so relation types get even counts, scarce facts several "
        "notes each; none: one note per instance, cycled.")] = NoteBalanceName.relation_type,
    max_notes_per_fact: Annotated[int, typer.Option(
        "--max-notes-per-fact", help="With --balance relation_type: most notes about one distinct fact.")] = 10,
    note_style: Annotated[NoteStyle, typer.Option(
        "--note-style", help="fact: a note per sampled instance; abstract: 4-10 sentences combining it with "
        "companion facts and unrelated (distractor) concepts.")] = NoteStyle.fact,
    written_form_rate: Annotated[float | None, typer.Option(
        "--written-form-rate", help="Share of single-concept notes naming their concept by a written form "
        "('liver tumors' for Neoplasms, Hepatic) instead of a KB name; default from the prompt settings "
        "(0.5).")] = None,
    json: Json = False,
) -> None:
    """Write annotated notes for motif instances; resumable, invalid notes go to rejects."""
    from kgsynth.generation.backends import make_backend
    from kgsynth.generation.dataset_folder import read_notes
    from kgsynth.generation.engine import generate
    from kgsynth.generation.export import export
    from kgsynth.generation.instances import read_instances
    from kgsynth.generation.note_plan import plan_notes
    from kgsynth.generation.prompt import load_settings

    if n < 0 or concurrency < 1 or max_attempts < 1 or best_of < 1 or max_words < 1:
        raise ConfigError("--n must be >= 0, --concurrency, --max-attempts, --best-of and --max-words >= 1")
    if written_form_rate is not None and not 0 <= written_form_rate <= 1:
        raise ConfigError(f"--written-form-rate must be between 0 and 1, got {written_form_rate}")
    settings = load_settings(prompt_config)
    if written_form_rate is not None:
        settings = settings.model_copy(update={"written_form_rate": written_form_rate})
    items = read_instances(instances)
    plan = plan_notes(items, n, balance.value, max_notes_per_fact, seed)
    if not json:
        _print_plan(plan)
    writer = make_backend(backend.value, **backend_options(model, base_url, api_key, temperature, max_words,
                                                           price_in, price_out, schema_mode, lexicon,
                                                           context_words))
    report = generate(items, writer, out, n, seed=seed, settings=settings,
                      concurrency=concurrency, max_attempts=max_attempts, extract=extract,
                      shard_size=shard_size, quiet=json, best_of=best_of, plan=plan, note_style=note_style.value)
    data = report.model_dump(mode="json")
    if export_formats:
        data["exports"] = export(read_notes(out), out / "export", [f.value for f in export_formats])
    emit(data, json)


def _print_plan(plan: object) -> None:
    """The note plan as a table on stderr (the --json report carries it as ``plan``)."""
    from rich.table import Table

    table = Table(title=f"note plan ({plan.balance}): {plan.planned} of {plan.requested} notes, "
                        f"at most {plan.max_notes_per_fact} per fact")
    for col in ("relation type", "distinct facts", "notes", "notes per fact", "most per fact", "capped"):
        table.add_column(col, justify="left" if col == "relation type" else "right")
    for t in plan.types:
        table.add_row(t.type, str(t.facts), str(t.notes), f"{t.notes_per_fact:.2f}", str(t.max_notes_per_fact),
                      "yes" if t.capped else "")
    err.print(table)
    if plan.max_min_ratio is not None:
        err.print(f"max/min notes per relation type: {plan.max_min_ratio:.2f}")


def export_command(
    notes: Annotated[Path, typer.Argument(help="Dataset folder written by `kgsynth generate`.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the exported files.")],
    formats: Annotated[list[ExportFormat] | None, typer.Option("--format", help="hf, bioc, conll (repeatable).")]
    = None,
    json: Json = False,
) -> None:
    """Export a generated dataset as HF datasets, BioC XML and/or BIO CoNLL."""
    from kgsynth.errors import InputError
    from kgsynth.generation.dataset_folder import read_notes
    from kgsynth.generation.export import export

    if not notes.is_dir():
        raise InputError(f"{notes}: not a dataset folder")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; give a folder for the exported files")
    records = read_notes(notes)
    if not records:
        shards = ", ".join(sorted(p.name for p in notes.glob("notes-*.jsonl*"))) or "none"
        raise InputError(f"{notes}: no notes in this dataset folder (notes-*.jsonl shards: {shards})")
    paths = export(records, out, [f.value for f in (formats or list(ExportFormat))])
    emit({"notes": len(records), "exports": paths}, json)


def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for the graph, instances, notes and report.")] = Path(
        "kgsynth-demo"),
    n: Annotated[int, typer.Option("--n", help="Notes to write.")] = 3,
    backend: Annotated[BackendName, typer.Option("--backend", help="Note writer.")] = BackendName.transformers,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    json: Json = False,
) -> None:
    """The whole job on the bundled sample: graph -> balanced motifs -> notes -> check -> exports."""
    from kgsynth.demo import run_demo

    emit(run_demo(out, n=n, backend=backend.value, seed=seed, quiet=json), json)


def coverage_command(
    notes: Annotated[
        Path | None, typer.Option("--notes", help="Note JSONL file or folder to write back to the graph first.")
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Rows in the concept lists.")] = 20,
    uri: Uri = None,
    username: Username = None,
    password: Password = None,
    database: Database = None,
    store: StorePath = None,
    json: Json = False,
) -> None:
    """Show which relation types and concepts generated notes cover (optionally writing notes back first)."""
    from kgsynth.cypher.coverage import coverage_report
    from kgsynth.generation.coverage import write_notes

    with store_from(uri, username, password, database, store) as graph:
        written = write_notes(graph, notes) if notes is not None else None
        report = coverage_report(graph, top=top)
    data = report.model_dump()
    if written is not None:
        data["written"] = written.model_dump()

    def render() -> None:
        from rich.table import Table

        if written is not None:
            err.print(f"wrote back {written.notes:,} notes ({written.mentions:,} mentions, {written.facts:,} facts)")
        out.print(
            f"[bold]{report.notes:,}[/bold] notes; {report.concepts_covered:,} of {report.concepts:,} concepts "
            f"mentioned ({report.mentions:,} mentions)"
        )
        out.print(count_table(report.notes_per_motif, "motif", "notes per motif"))
        table = Table(title="relation types covered")
        for col in ("type", "expressions", "facts", "in graph", "graph edges", "fraction"):
            table.add_column(col, justify="left" if col == "type" else "right")
        for t in report.relation_types:
            table.add_row(
                t.type,
                str(t.expressions),
                str(t.facts),
                str(t.facts_in_graph),
                f"{t.graph_edges:,}",
                f"{t.fraction:.2%}",
            )
        out.print(table)
        if report.balance_max_min is not None:
            out.print(f"balance across relation types (max/min expressions): {report.balance_max_min:.2f}")
        covered = Table(title="most mentioned concepts")
        uncovered = Table(title="never-covered concepts, highest degree first")
        for col in ("id", "name", "group", "mentions", "notes"):
            covered.add_column(col)
        for col in ("id", "name", "group", "degree"):
            uncovered.add_column(col)
        for c in report.top_concepts:
            covered.add_row(c.id, c.name, c.group, str(c.mentions), str(c.notes))
        for c in report.uncovered_high_degree:
            uncovered.add_row(c.id, c.name, c.group, str(c.degree))
        out.print(covered)
        out.print(uncovered)

    emit(data, json, render)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_command)
    app.command("export")(export_command)
    app.command("demo")(demo_command)
    app.command("coverage")(coverage_command)
    from kgsynth.generation.llm_cli import app as llm_app
    from kgsynth.generation.models_cli import app as models_app

    app.add_typer(models_app, name="models")
    app.add_typer(llm_app, name="llm")
