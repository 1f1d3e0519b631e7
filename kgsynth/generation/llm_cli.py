"""``kgsynth llm start|stop|status``: the local OpenAI-compatible server (over :mod:`.llm_server`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from kgsynth.cli_options import Json
from kgsynth.console import err
from kgsynth.generation import llm_server

app = typer.Typer(help="Run a local OpenAI-compatible LLM server (llama-cpp-python) for a GGUF model.",
                  no_args_is_help=True)

HomeOpt = Annotated[Path | None, typer.Option(
    "--home", help="Server folder (logs, pid). Default: $KGSYNTH_LLM_HOME or ~/.local/share/kgsynth/llm.",
    show_default=False)]


def _report(result: llm_server.LlmStatus, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    print(result.message)
    if result.running:
        print(f"  base url: {result.base_url}")
        print(f"  model:    {result.model}")
        print(f"  log:      {result.log}")
        print(f"  use:      kgsynth generate --backend openai --base-url {result.base_url} "
              "--schema-mode json_object ...")


@app.command()
def start(
    model: Annotated[str | None, typer.Option(
        "--model", help="Packaged model name (kgsynth models list) or a .gguf file. Default: SmolLM2-135M.")] = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = llm_server.DEFAULT_PORT,
    threads: Annotated[int, typer.Option("--threads", help="llama.cpp threads (1 is fastest on a busy 2-core box).")]
    = 1,
    ctx: Annotated[int, typer.Option("--ctx", help="Context size in tokens.")] = llm_server.DEFAULT_CTX,
    home: HomeOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the server to answer.")]
    = llm_server.START_TIMEOUT_S,
    as_json: Json = False,
) -> None:
    """Start the server in the background and wait until /v1/models answers."""
    gguf, alias = llm_server.resolve_gguf(model)
    opts = llm_server.LlmOptions(model=gguf, alias=alias, home=home or llm_server.default_home(), port=port,
                                 threads=threads, ctx=ctx)
    if not as_json:
        err.print(f"starting the LLM server for {gguf.name} on port {port} ...", highlight=False)
    _report(llm_server.start(opts, timeout=timeout), as_json)


@app.command()
def stop(
    home: HomeOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds before SIGKILL.")] = llm_server.STOP_TIMEOUT_S,
    as_json: Json = False,
) -> None:
    """Stop the server (SIGTERM, then SIGKILL after the timeout)."""
    _report(llm_server.stop(home, timeout=timeout), as_json)


@app.command()
def status(home: HomeOpt = None, as_json: Json = False) -> None:
    """Say whether the server runs, with its pid, URL, model, threads and context size."""
    _report(llm_server.status(home), as_json)
