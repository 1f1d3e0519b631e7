"""``kgsynth train`` and ``kgsynth extract``.

The ``train`` flags are generated from :class:`~kgsynth.training.config.TrainConfig`
so that every YAML option is also a flag with the same name and help; a flag given
on the command line wins over the YAML file.
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from kgsynth.cli_options import Json
from kgsynth.console import emit, out
from kgsynth.training.config import TrainConfig


def _flag_type(annotation: Any) -> Any:
    """The CLI type for a config field: Literals become plain strings (pydantic checks them)."""
    if typing.get_origin(annotation) is typing.Literal:
        return str
    return annotation


def _config_parameters() -> list[inspect.Parameter]:
    params = []
    for name, field in TrainConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        annotation = _flag_type(field.annotation)
        shown = "" if field.default_factory else f" (default: {field.default})"
        help_text = (field.description or "") + shown
        if annotation is bool:
            option = typer.Option(f"{flag}/--no-{flag[2:]}", help=help_text, show_default=False)
        else:
            option = typer.Option(flag, help=help_text, show_default=False)
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[annotation | None, option],  # type: ignore[operator]
            )
        )
    return params


def _quiet_libraries() -> None:
    """bitsandbytes warns on import that an optional CPU kernel package is missing; it is optional."""
    import logging

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)


def train_command(**kwargs: Any) -> None:
    """Fine-tune a causal LM with QLoRA (or LoRA) on annotated notes; keep the best adapter."""
    _quiet_libraries()
    from kgsynth.training.trainer import train

    config_file: Path | None = kwargs.pop("config_file")
    as_json: bool = kwargs.pop("json")
    values = {k: v for k, v in kwargs.items() if v is not None and v != []}
    config = TrainConfig.from_pretrained(config_file, **values) if config_file else TrainConfig.build(values)
    report = train(config, show_progress=not as_json)
    summary = report.model_dump(mode="json", exclude={"log", "config"})

    def render() -> None:
        from kgsynth.console import kv_table

        out.print(kv_table({k: v for k, v in summary.items() if k != "evals"}, title=f"training run {config.out}"))
        out.print(f"report: {config.out / 'report.md'}  best adapter: {report.best_adapter}")

    emit(summary | {"log": report.log[-5:]} if as_json else summary, as_json, render)


def _build_train_command() -> Any:
    """``train_command`` with one keyword parameter per config field, plus --config and --json."""
    extra = [
        inspect.Parameter(
            "config_file",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[Path | None, typer.Option("--config", help="YAML file of options (flags win).")],
        ),
        inspect.Parameter("json", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Json),
    ]
    params = _config_parameters() + extra

    def command(**kwargs: Any) -> None:
        train_command(**kwargs)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = train_command.__doc__
    command.__name__ = "train"
    return command


def extract_command(
    adapter: Annotated[Path, typer.Option("--adapter", help="Adapter folder written by train (e.g. run/best).")],
    input_path: Annotated[Path, typer.Option("--input", help="Notes: NoteRecord JSONL, or PubTator/BioC corpus file.")],
    out_path: Annotated[Path, typer.Option("--out", help="Predictions as NoteRecord JSONL.")] = Path("preds.jsonl"),
    limit: Annotated[int, typer.Option("--limit", help="Only the first N notes (0 = all).")] = 0,
    occurrences: Annotated[str, typer.Option("--occurrences", help="Annotate all occurrences or the first.")] = "all",
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Answer length cap.")] = 512,
    json: Json = False,
) -> None:
    """Extract entities and relations with a fine-tuned adapter (constrained JSON) into NoteRecords."""
    _quiet_libraries()
    from kgsynth.errors import ConfigError
    from kgsynth.evaluation.readers import read_records
    from kgsynth.training.extract import Extractor, extract_file

    if occurrences not in ("all", "first"):
        raise ConfigError(f"--occurrences must be all or first, not {occurrences!r}")
    records = read_records(input_path).records
    if limit:
        records = records[:limit]
    extractor = Extractor(adapter, max_new_tokens=max_new_tokens, occurrences=occurrences)  # type: ignore[arg-type]
    report = extract_file(extractor, records, out_path, str(input_path), len(records), show_progress=not json)
    emit(report, json)


def register(app: typer.Typer) -> None:
    app.command("train")(_build_train_command())
    app.command("extract")(extract_command)
