"""Background servers the project starts itself (Neo4j, the local LLM server): ports, pids, logs, stop.

Both managers run their server as a detached process (own session, output to a log
file) recorded in a pid file; these helpers are the parts they share, so "is it
alive", "is the port free" and "stop it politely, then not" behave the same for both.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

HOST = "127.0.0.1"


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something already listens on ``host:port`` (a bind would fail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (reaping our own children)."""
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def command_line(pid: int) -> list[bytes] | None:
    """The argv of ``pid`` from /proc, or None where there is no /proc (macOS) or it cannot be read."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return None


def read_pid(path: Path) -> int | None:
    """The pid written in ``path``, or None when the file is missing or garbled."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def tail_text(text: str, lines: int) -> str:
    """The last non-empty lines of ``text`` joined with " | " (errors stay one line)."""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(no output)"


def log_tail(log: Path, lines: int = 12) -> str:
    try:
        return tail_text(log.read_text(encoding="utf-8", errors="replace"), lines)
    except OSError:
        return f"(no log at {log})"


def launch_detached(
    cmd: Sequence[str], log: Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session with output to ``log`` (the previous run's log kept as ``.1``)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    if log.exists():
        log.replace(log.with_name(log.name + ".1"))
    with log.open("wb") as out:
        return subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the server's process group (its own session), falling back to the pid."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.2)
    return not process_alive(pid)


def terminate(pid: int, grace: float) -> bool:
    """SIGTERM, wait ``grace`` seconds, then SIGKILL; True if it stopped cleanly."""
    signal_group(pid, signal.SIGTERM)
    if wait_gone(pid, grace):
        return True
    signal_group(pid, signal.SIGKILL)
    wait_gone(pid, 10.0)
    return False
