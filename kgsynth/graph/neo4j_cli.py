"""``kgsynth neo4j start|stop|status``: run a local Neo4j Community server without Docker.

The commands are thin wrappers over :mod:`kgsynth.graph.server`; errors the user can
act on (no Java, busy port, server did not come up) print as one line on stderr and
exit non-zero, also when this sub-app is run on its own.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from kgsynth.errors import KgsynthError
from kgsynth.graph import server, server_config

app = typer.Typer(
    help="Run a local Neo4j 5.26 Community server (fetched once with Maven; needs Java 17+).",
    no_args_is_help=True,
)

_err = Console(stderr=True)
_T = TypeVar("_T")

HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Server folder (conf, data, logs). Default: $KGSYNTH_NEO4J_HOME or ~/.local/share/kgsynth/neo4j.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def _guard(action: Callable[[], _T]) -> _T:
    """Run ``action``; a KgsynthError becomes one stderr line and its exit code."""
    try:
        return action()
    except KgsynthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None


def _report(result: server.ServerStatus, as_json: bool) -> None:
    """Print a status as JSON or as a few human lines."""
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    typer.echo(result.message)
    if result.running:
        typer.echo(f"  bolt:    {result.bolt_uri}")
        typer.echo(f"  browser: {result.browser_url}")
        typer.echo(f"  home:    {result.home}")
        if result.auth_enabled is False:
            typer.echo("  auth:    disabled (set NEO4J_PASSWORD before the first start to enable it)")


@app.command()
def start(
    home: HomeOpt = None,
    bolt_port: Annotated[int, typer.Option("--bolt-port", help="Bolt port on 127.0.0.1.")] = 7687,
    http_port: Annotated[int, typer.Option("--http-port", help="HTTP (Browser) port on 127.0.0.1.")] = 7474,
    heap: Annotated[str, typer.Option("--heap", help="JVM heap (initial = max), e.g. 512m, 2g.")] = "512m",
    pagecache: Annotated[str, typer.Option("--pagecache", help="Page cache size, e.g. 256m, 1g.")] = "256m",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for Bolt.")] = server.START_TIMEOUT_S,
    as_json: JsonOpt = False,
) -> None:
    """Start the server in the background and wait until Bolt answers."""

    def run() -> server.ServerStatus:
        opts = server_config.ServerOptions.from_env(
            home=home or server_config.default_home(), bolt_port=bolt_port, http_port=http_port, heap=heap,
            pagecache=pagecache,
        )
        if as_json or not sys.stderr.isatty():
            return server.start(opts, progress=lambda line: typer.echo(line, err=True), timeout=timeout)
        with _err.status("Starting Neo4j ...") as spinner:
            return server.start(opts, progress=lambda line: spinner.update(line), timeout=timeout)

    _report(_guard(run), as_json)


@app.command()
def stop(
    home: HomeOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds before SIGKILL.")] = server.STOP_TIMEOUT_S,
    as_json: JsonOpt = False,
) -> None:
    """Stop the server (SIGTERM, then SIGKILL after the timeout)."""
    _report(_guard(lambda: server.stop(home, timeout=timeout)), as_json)


@app.command()
def status(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Say whether the server runs, with its pid, URLs and version."""
    _report(_guard(lambda: server.status(home)), as_json)
