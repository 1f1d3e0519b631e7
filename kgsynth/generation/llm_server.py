"""A local OpenAI-compatible LLM server for a GGUF model, started and stopped by the project.

``llama-cpp-python[server]`` serves a GGUF over the OpenAI API (chat with JSON-schema
constrained output, completions with logprobs), so the ``openai`` backend and the
judge talk to it exactly as they would to vLLM or OpenAI. It compiles llama.cpp on
install, so it usually lives in its own environment: ``KGSYNTH_LLAMA_PYTHON`` names
that Python (``.ci/run`` builds one in ``.ci-llama``).

The server runs detached like ``kgsynth neo4j`` (own session, 127.0.0.1 only), with
``logs/server.log``, ``run/llm.pid`` and a JSON state file in a home folder, and
``start`` returns once ``/v1/models`` answers. ``--threads`` defaults to 1: on this
2-core machine under load 1 thread decoded Qwen2.5-1.5B at 6.6 tokens/s and 2 threads
at 1.06 (llama.cpp's threads spin-wait, so a busy second core stalls both).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kgsynth.errors import ConfigError, StoreError
from kgsynth.process import (
    HOST,
    command_line,
    launch_detached,
    log_tail,
    port_in_use,
    process_alive,
    read_pid,
    remove,
    terminate,
)
from kgsynth.settings import user_data_dir

DEFAULT_PORT = 8080
DEFAULT_CTX = 4096
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0
_MODULE = "llama_cpp.server"


def default_home() -> Path:
    """``KGSYNTH_LLM_HOME`` or ``user_data_dir()/llm``."""
    env = os.environ.get("KGSYNTH_LLM_HOME")
    return Path(env).expanduser() if env else user_data_dir() / "llm"


def llama_python() -> str:
    """The Python that has ``llama_cpp.server``: ``$KGSYNTH_LLAMA_PYTHON`` or this one."""
    candidate = os.environ.get("KGSYNTH_LLAMA_PYTHON")
    if candidate:
        found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if found is None:
            raise ConfigError(f"KGSYNTH_LLAMA_PYTHON={candidate} is not an executable Python")
        return found
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the local LLM server needs llama-cpp-python[server]: python -m venv ~/.llama && "
            "CMAKE_ARGS=-DGGML_NATIVE=OFF ~/.llama/bin/pip install 'llama-cpp-python[server]==0.3.36' "
            "(a portable build: a native one segfaulted on an AMX Xeon), then "
            "export KGSYNTH_LLAMA_PYTHON=~/.llama/bin/python"
        ) from None
    return sys.executable


@dataclass(frozen=True)
class LlmOptions:
    """What the user chooses about the server."""

    model: Path
    alias: str
    home: Path = field(default_factory=default_home)
    port: int = DEFAULT_PORT
    threads: int = 1
    ctx: int = DEFAULT_CTX

    def validate(self) -> LlmOptions:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"--port must be between 1 and 65535, got {self.port}")
        if self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {self.threads}")
        if self.ctx < 256:
            raise ConfigError(f"--ctx must be >= 256 tokens, got {self.ctx}")
        if not self.model.is_file():
            raise ConfigError(f"model file {self.model} does not exist")
        return self

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def command(self, python: str) -> list[str]:
        return [
            python, "-m", _MODULE, "--model", str(self.model.resolve()), "--model_alias", self.alias,
            "--host", HOST, "--port", str(self.port), "--n_threads", str(self.threads),
            "--n_threads_batch", str(self.threads), "--n_ctx", str(self.ctx),
        ]


def resolve_gguf(name: str | None) -> tuple[Path, str]:
    """(GGUF path, served alias) for a packaged model name or a .gguf path; default SmolLM2."""
    from kgsynth.generation.local_model import DEFAULT_MODEL, gguf_for

    gguf = gguf_for(name)
    if gguf is None:
        raise ConfigError(f"--model must be a packaged model name (kgsynth models list) or a .gguf file, not {name!r}")
    from kgsynth.generation.models import MODELS

    alias = name if name in MODELS else (DEFAULT_MODEL if not name else gguf.name)
    return gguf, alias


def pid_file(home: Path) -> Path:
    return home / "run" / "llm.pid"


def state_file(home: Path) -> Path:
    return home / "run" / "llm.json"


def server_log(home: Path) -> Path:
    return home / "logs" / "server.log"


def _is_our_server(pid: int) -> bool:
    """A live llama_cpp.server process (guards against a reused pid)."""
    if not process_alive(pid):
        return False
    args = command_line(pid)
    return True if args is None else _MODULE.encode() in args


def running_pid(home: Path) -> int | None:
    """The pid of this home's server, or None (a stale pid file is removed)."""
    pid = read_pid(pid_file(home))
    if pid is None:
        return None
    if _is_our_server(pid):
        return pid
    remove(pid_file(home))
    return None


def _read_state(home: Path) -> dict[str, object]:
    with contextlib.suppress(OSError, ValueError):
        return json.loads(state_file(home).read_text(encoding="utf-8"))
    return {}


def served_models(base_url: str, timeout: float = 3.0) -> list[str] | None:
    """Model ids ``GET /v1/models`` lists, or None when nothing answers."""
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=timeout) as response:
            return [m["id"] for m in json.loads(response.read())["data"]]
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        return None


@dataclass
class LlmStatus:
    """What ``kgsynth llm status`` reports (also returned by start and stop)."""

    running: bool
    home: str
    pid: int | None = None
    base_url: str | None = None
    model: str | None = None
    alias: str | None = None
    threads: int | None = None
    ctx: int | None = None
    answers: bool | None = None
    log: str | None = None
    message: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def status(home: Path | None = None, probe: bool = True) -> LlmStatus:
    home = (home or default_home()).expanduser()
    pid = running_pid(home)
    result = LlmStatus(running=pid is not None, home=str(home.resolve()), pid=pid, log=str(server_log(home)))
    if pid is None:
        result.message = f"the LLM server is not running (home {result.home})"
        return result
    state = _read_state(home)
    for key in ("base_url", "model", "alias", "threads", "ctx"):
        setattr(result, key, state.get(key))
    if probe and result.base_url:
        result.answers = served_models(str(result.base_url)) is not None
    result.message = f"the LLM server is running (pid {pid}) at {result.base_url}, serving {result.alias}"
    return result


def _wait_ready(proc: subprocess.Popen[bytes], opts: LlmOptions, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StoreError(f"the LLM server exited with code {proc.returncode} while starting: "
                             f"{log_tail(server_log(opts.home), 6)}")
        if served_models(opts.base_url, timeout=2.0) is not None:
            return
        time.sleep(0.5)
    raise StoreError(f"the LLM server did not answer on {opts.base_url} within {timeout:.0f} s: "
                     f"{log_tail(server_log(opts.home), 6)}")


def start(opts: LlmOptions, timeout: float = START_TIMEOUT_S) -> LlmStatus:
    """Start the server for ``opts.model`` and wait until it answers; a no-op if this home's server runs."""
    opts = opts.validate()
    current = status(opts.home, probe=False)
    if current.running:
        current.message = f"the LLM server is already running (pid {current.pid}) at {current.base_url}, " \
                          f"serving {current.alias}"
        return current
    if port_in_use(opts.port):
        raise ConfigError(f"port {opts.port} on {HOST} is already in use by another program: stop it or pass --port")
    python = llama_python()
    for sub in ("logs", "run"):
        (opts.home / sub).mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    proc = launch_detached(opts.command(python), server_log(opts.home), cwd=opts.home)
    pid_file(opts.home).write_text(f"{proc.pid}\n", encoding="utf-8")
    try:
        _wait_ready(proc, opts, timeout)
    except BaseException:
        terminate(proc.pid, grace=10.0)
        remove(pid_file(opts.home))
        raise
    state = {"pid": proc.pid, "base_url": opts.base_url, "model": str(opts.model.resolve()), "alias": opts.alias,
             "threads": opts.threads, "ctx": opts.ctx, "python": python}
    state_file(opts.home).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    result = status(opts.home, probe=False)
    result.answers = True
    result.message = (f"the LLM server started in {time.monotonic() - started:.1f} s (pid {proc.pid}) at "
                      f"{opts.base_url}, serving {opts.alias} with {opts.threads} thread(s), ctx {opts.ctx}")
    return result


def stop(home: Path | None = None, timeout: float = STOP_TIMEOUT_S) -> LlmStatus:
    """Stop this home's server (no-op when it is not running)."""
    home = (home or default_home()).expanduser()
    pid = running_pid(home)
    if pid is None:
        return LlmStatus(running=False, home=str(home.resolve()),
                         message=f"the LLM server is not running (home {home})")
    started = time.monotonic()
    clean = terminate(pid, timeout)
    remove(pid_file(home))
    how = "stopped" if clean else f"did not stop within {timeout:.0f} s and was killed"
    return LlmStatus(running=False, home=str(home.resolve()), pid=pid,
                     message=f"the LLM server (pid {pid}) {how} after {time.monotonic() - started:.1f} s")
