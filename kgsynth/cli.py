"""The ``kgsynth`` command. Each subpackage adds its own commands through ``register``.

Heavy libraries (torch, transformers) are imported inside commands, never here,
so ``kgsynth --help`` and store commands start fast.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup
from typer.exceptions import TyperException

from kgsynth import __version__
from kgsynth.console import err
from kgsynth.errors import KgsynthError

#: Exit code of an unexpected error (a bug, not bad input): BSD's EX_SOFTWARE.
UNEXPECTED_EXIT = 70
#: Exit code when the reader of stdout went away (`kgsynth ... | head`): click's, for the same case.
BROKEN_PIPE_EXIT = 1


class _Guarded(TyperGroup):
    """The root group: every error of any command ends as one line on stderr and a non-zero exit.

    A :class:`KgsynthError` prints its message and exits with its code; anything else
    is a bug and prints one line with the exception's type and message (``--debug``
    adds the traceback), exiting with :data:`UNEXPECTED_EXIT`. Done here rather than
    in :func:`main`, so commands run in-process (tests, ``CliRunner``) behave the same.
    """

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort):  # usage errors, --help, explicit exits
            raise
        except KgsynthError as exc:
            if _debug(ctx):
                err.print(traceback.format_exc(), highlight=False, markup=False, soft_wrap=True)
            err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            err.print("interrupted")
            ctx.exit(130)
        except BrokenPipeError:  # the reader closed stdout (`kgsynth ... | head`): not a bug, nothing to say
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
            ctx.exit(BROKEN_PIPE_EXIT)
        except Exception as exc:  # noqa: BLE001 - the last resort: no traceback for users
            if _debug(ctx):
                err.print(traceback.format_exc(), highlight=False, markup=False, soft_wrap=True)
            message = escape(" ".join(str(exc).split())[:300] or "(no message)")
            hint = "" if _debug(ctx) else "; run with --debug for the traceback"
            err.print(f"[bold red]unexpected error:[/bold red] {type(exc).__name__}: {message}{hint} "
                      "(this is a bug in kgsynth or an input it does not check yet: please report it)",
                      highlight=False, soft_wrap=True)
            ctx.exit(UNEXPECTED_EXIT)


def _debug(ctx: typer.Context) -> bool:
    return bool((ctx.obj or {}).get("debug")) if isinstance(ctx.obj, dict) else False


app = typer.Typer(
    cls=_Guarded,
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
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    debug: bool = typer.Option(False, "--debug", help="On an error, also print the traceback."),
) -> None:
    """Knowledge-graph-grounded generation of annotated biomedical text."""
    ctx.obj = {"debug": debug}


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
        err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
