"""The ``kgsynth`` command. Each subpackage adds its own commands through ``register``.

Heavy libraries (torch, transformers) are imported inside commands, never here,
so ``kgsynth --help`` and store commands start fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

from kgsynth import __version__
from kgsynth.console import err
from kgsynth.errors import KgsynthError

app = typer.Typer(
    name="kgsynth",
    help="Knowledge-graph-grounded generation of annotated biomedical text.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: Modules with a ``register(app)`` function, in the order their commands appear.
COMMAND_MODULES = (
    "kgsynth.graph.cli",
    "kgsynth.loaders.cli",
    "kgsynth.cypher.cli",
    "kgsynth.generation.cli",
    "kgsynth.evaluation.cli",
    "kgsynth.training.cli",
    "kgsynth.linking.cli",
)


def _version(value: bool) -> None:
    if value:
        print(f"kgsynth {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Knowledge-graph-grounded generation of annotated biomedical text."""


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(app)


_register_all()


def main() -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit."""
    try:
        app()
    except KgsynthError as exc:
        err.print(f"[bold red]error:[/bold red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
