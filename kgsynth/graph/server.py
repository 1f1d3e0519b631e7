"""A local Neo4j Community server managed by the project, without Docker.

Neo4j and Neo4j Browser are ordinary Maven artifacts, so Maven fetches them once
into the user cache and the server runs as ``java -cp <jars> CommunityEntryPoint``
on a home folder the user picks. That needs only Java 17+ and Maven, which many
machines (and CI images) have where Docker is not available.

The server is a detached process (own session, output to ``logs/console.log``)
with a pid file and a small JSON state file under ``<home>/run``; ``start`` returns
only once Bolt answers ``RETURN 1``, so callers can use it straight away.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kgsynth.errors import ConfigError, StoreError
from kgsynth.graph.neo4j_dist import (
    NEO4J_VERSION,
    Progress,
    _quiet,
    _tail_text,
    ensure_jars,
    find_java,
    lib_dir,
)
from kgsynth.graph.server_config import ENTRY_POINT, HOST, ServerOptions, default_home, jvm_args, write_config
from kgsynth.settings import Neo4jSettings

ADMIN_TOOL = "org.neo4j.cli.AdminTool"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0


# -- ports, pids, state --------------------------------------------------------------


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something already listens on ``host:port`` (a bind would fail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_ports_free(opts: ServerOptions) -> None:
    """ConfigError naming the busy port and the flag that moves it."""
    for flag, port in (("--bolt-port", opts.bolt_port), ("--http-port", opts.http_port)):
        if port_in_use(port):
            raise ConfigError(f"port {port} on {HOST} is already in use by another program: stop it or pass {flag}")


def pid_file(home: Path) -> Path:
    return home / "run" / "neo4j.pid"


def state_file(home: Path) -> Path:
    return home / "run" / "kgsynth-neo4j.json"


def _process_alive(pid: int) -> bool:
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


def _is_our_server(pid: int, home: Path) -> bool:
    """True when ``pid`` is a live Neo4j JVM for this home (guards against pid reuse)."""
    if not _process_alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():  # no /proc (macOS): trust the pid file
        return True
    with contextlib.suppress(OSError):
        args = cmdline.read_bytes().split(b"\0")
        return ENTRY_POINT.encode() in args and f"--home-dir={home.resolve()}".encode() in args
    return False


def running_pid(home: Path) -> int | None:
    """The pid of this home's running server, or None (a stale pid file is removed)."""
    path = pid_file(home)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if _is_our_server(pid, home):
        return pid
    _remove(path)
    return None


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _read_state(home: Path) -> dict[str, object]:
    with contextlib.suppress(OSError, ValueError):
        return json.loads(state_file(home).read_text(encoding="utf-8"))
    return {}


def console_log(home: Path) -> Path:
    return home / "logs" / "console.log"


def log_tail(home: Path, lines: int = 12) -> str:
    try:
        return _tail_text(console_log(home).read_text(encoding="utf-8", errors="replace"), lines)
    except OSError:
        return "(no console log)"


# -- status ---------------------------------------------------------------------------


@dataclass
class ServerStatus:
    """What ``kgsynth neo4j status`` reports (also returned by start and stop)."""

    running: bool
    home: str
    pid: int | None = None
    version: str | None = None
    bolt_uri: str | None = None
    http_url: str | None = None
    browser_url: str | None = None
    auth_enabled: bool | None = None
    bolt_answers: bool | None = None
    message: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def status(home: Path | None = None, probe: bool = True) -> ServerStatus:
    """The state of the server at ``home``; with ``probe``, also ask Bolt for its version."""
    home = (home or default_home()).expanduser()
    pid = running_pid(home)
    state = _read_state(home)
    result = ServerStatus(running=pid is not None, home=str(home.resolve()), pid=pid)
    if pid is None:
        result.message = f"Neo4j is not running (home {result.home})"
        return result
    result.version = str(state.get("version") or "") or None
    for key in ("bolt_uri", "http_url", "browser_url", "auth_enabled"):
        setattr(result, key, state.get(key))
    if probe and result.bolt_uri:
        version = server_version(result.bolt_uri, _password_for(state))
        result.bolt_answers = version is not None
        result.version = version or result.version
    result.message = f"Neo4j {result.version or '?'} is running (pid {pid}) at {result.bolt_uri}"
    return result


def _password_for(state: dict[str, object]) -> str | None:
    return Neo4jSettings().password if state.get("auth_enabled") else None


def _auth(password: str | None) -> tuple[str, str] | None:
    return ("neo4j", password) if password else None


def server_version(uri: str, password: str | None, timeout: float = 5.0) -> str | None:
    """The Neo4j version a Bolt server reports, or None when it does not answer."""
    from neo4j import GraphDatabase

    try:
        with GraphDatabase.driver(
            uri, auth=_auth(password), connection_timeout=timeout, connection_acquisition_timeout=timeout
        ) as driver:
            with driver.session(database="system") as session:
                record = session.run("CALL dbms.components() YIELD versions RETURN versions[0] AS v").single()
            return str(record["v"]) if record else None
    except Exception:  # noqa: BLE001 - any failure means "not answering"
        return None


# -- start / stop --------------------------------------------------------------------


def _system_db_exists(home: Path) -> bool:
    return (home / "data" / "databases" / "system").exists()


def set_initial_password(java: str, lib: Path, opts: ServerOptions) -> None:
    """Run ``neo4j-admin dbms set-initial-password`` (AdminTool) before the first start."""
    env = {**os.environ, "NEO4J_HOME": str(opts.home.resolve()), "NEO4J_CONF": str(opts.home.resolve() / "conf")}
    cmd = [java, "-Xmx256m", "-cp", f"{lib}{os.sep}*", ADMIN_TOOL, "dbms", "set-initial-password", str(opts.password)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False)
    if out.returncode != 0:
        raise ConfigError(f"could not set the initial Neo4j password: {_tail_text(out.stdout + out.stderr, 4)}")


def _launch(java: str, lib: Path, opts: ServerOptions) -> subprocess.Popen[bytes]:
    """Start the JVM detached (own session), output to ``logs/console.log`` (previous run kept as .1)."""
    log = console_log(opts.home)
    if log.exists():
        log.replace(log.with_name(log.name + ".1"))
    with log.open("wb") as out:
        return subprocess.Popen(
            [java, *jvm_args(opts, lib)],
            cwd=opts.home,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for_bolt(proc: subprocess.Popen[bytes], opts: ServerOptions, timeout: float) -> str:
    """Block until Bolt answers ``RETURN 1``; returns the version, raises StoreError otherwise."""
    from neo4j import GraphDatabase
    from neo4j import exceptions as neo4j_errors

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StoreError(f"Neo4j exited with code {proc.returncode} while starting: {log_tail(opts.home)}")
        try:
            with (
                GraphDatabase.driver(opts.bolt_uri, auth=_auth(opts.password), connection_timeout=2.0) as driver,
                driver.session(database=opts.database) as session,
            ):  # auto-commit: the driver does not retry
                session.run("RETURN 1").consume()
            return server_version(opts.bolt_uri, opts.password) or NEO4J_VERSION
        except neo4j_errors.AuthError as exc:
            raise StoreError(
                f"Neo4j at {opts.bolt_uri} rejected NEO4J_PASSWORD ({exc.message}); the password of "
                f"{opts.home} was set on its first start: use that one, or delete {opts.home / 'data'}"
            ) from exc
        except (
            neo4j_errors.ServiceUnavailable,
            neo4j_errors.SessionExpired,
            OSError,
            neo4j_errors.DatabaseUnavailable,
            neo4j_errors.TransientError,
        ):
            time.sleep(1.0)
    raise StoreError(f"Neo4j did not answer on {opts.bolt_uri} within {timeout:.0f} s: {log_tail(opts.home)}")


def start(
    opts: ServerOptions | None = None, progress: Progress = _quiet, timeout: float = START_TIMEOUT_S
) -> ServerStatus:
    """Start the server at ``opts.home`` and wait for Bolt; a no-op if it already runs."""
    opts = (opts or ServerOptions.from_env()).validate()
    current = status(opts.home, probe=False)
    if current.running:
        current.message = f"Neo4j is already running (pid {current.pid}) at {current.bolt_uri}"
        return current
    java = find_java()
    check_ports_free(opts)
    from kgsynth.graph.bulk_import import recover_swap

    if recover_swap(opts.home):
        progress("Finished moving in the database of an interrupted bulk load")
    lib = ensure_jars(progress)
    write_config(opts)
    if opts.password and not _system_db_exists(opts.home):
        set_initial_password(java, lib, opts)
    progress(f"Starting Neo4j {NEO4J_VERSION} (home {opts.home}) ...")
    started = time.monotonic()
    proc = _launch(java, lib, opts)
    pid_file(opts.home).write_text(f"{proc.pid}\n", encoding="utf-8")
    try:
        version = _wait_for_bolt(proc, opts, timeout)
    except BaseException:
        _terminate(proc.pid, grace=10.0)
        _remove(pid_file(opts.home))
        raise
    _write_state(opts, proc.pid, version)
    result = status(opts.home, probe=False)
    result.version, result.bolt_answers = version, True
    took = time.monotonic() - started
    result.message = f"Neo4j {version} started in {took:.1f} s (pid {proc.pid}) at {opts.bolt_uri}"
    return result


def _write_state(opts: ServerOptions, pid: int, version: str) -> None:
    state = {
        "pid": pid,
        "version": version,
        "bolt_uri": opts.bolt_uri,
        "http_url": opts.http_url,
        "browser_url": opts.browser_url,
        "auth_enabled": bool(opts.password),
        "lib": str(lib_dir()),
    }
    state_file(opts.home).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal the server's process group (its own session), falling back to the pid."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _process_alive(pid):
            return True
        time.sleep(0.2)
    return not _process_alive(pid)


def _terminate(pid: int, grace: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM, wait ``grace`` seconds, then SIGKILL; True if it stopped cleanly."""
    _signal(pid, signal.SIGTERM)
    if _wait_gone(pid, grace):
        return True
    _signal(pid, signal.SIGKILL)
    _wait_gone(pid, 10.0)
    return False


def stop(home: Path | None = None, timeout: float = STOP_TIMEOUT_S) -> ServerStatus:
    """Stop the server at ``home`` (no-op when it is not running) and remove its pid file."""
    home = (home or default_home()).expanduser()
    pid = running_pid(home)
    if pid is None:
        return ServerStatus(running=False, home=str(home.resolve()), message=f"Neo4j is not running (home {home})")
    started = time.monotonic()
    clean = _terminate(pid, timeout)
    _remove(pid_file(home))
    how = "stopped" if clean else f"did not stop within {timeout:.0f} s and was killed"
    return ServerStatus(
        running=False,
        home=str(home.resolve()),
        pid=pid,
        message=f"Neo4j (pid {pid}) {how} after {time.monotonic() - started:.1f} s",
    )
