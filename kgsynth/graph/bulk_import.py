"""Offline import into the managed server: checks, ``neo4j-admin database import full``, swap, restart.

Neo4j Community can only *fully* import a database (incremental import is
Enterprise-only) and has one user database, which cannot be stopped on its own;
so this works on the server ``kgsynth neo4j start`` manages, whose home, config
and jars it knows. The import never writes into the live database folder: it runs
against a staging copy of the config whose data folders lie under
``<home>/bulk-staging``, while the server keeps running; then the server is
stopped and the finished store moved into place by two directory renames (store
and transaction logs), recorded first in a journal so a kill between them is
completed on the next start (:func:`recover_swap`, called by ``server.start``),
and the server started again. A bulk load killed at any other point leaves the
previous (empty) database as it was; run it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kgsynth.atomic import write_text_atomic
from kgsynth.errors import ConfigError, StoreError
from kgsynth.graph.bulk_csv import ARRAY_DELIMITER_ARG, CsvFiles
from kgsynth.graph.server_config import ServerOptions, render_config
from kgsynth.settings import Neo4jSettings

STAGING = "bulk-staging"
_JOURNAL = "kgsynth-bulk-swap.json"
_LOCK = "kgsynth-bulk.lock"
#: Importer memory: the JVM heap, and the off-heap cap (caches for id mapping and relationship linking).
IMPORT_HEAP = "1g"
IMPORT_OFF_HEAP = "2g"


@dataclass(frozen=True)
class ManagedTarget:
    """A managed server home and the settings a bulk load reaches it with."""

    opts: ServerOptions
    settings: Neo4jSettings

    @property
    def home(self) -> Path:
        return self.opts.home


# -- the server's options, read back from its config ---------------------------------


def options_from_config(home: Path, password: str | None) -> ServerOptions:
    """The options the server at ``home`` was last started with (its ``neo4j.conf``)."""
    conf = home / "conf" / "neo4j.conf"
    try:
        pairs = dict(line.split("=", 1) for line in conf.read_text(encoding="utf-8").splitlines()
                     if "=" in line and not line.startswith("#"))
    except OSError as exc:
        raise ConfigError(f"{home} is not a server home of `kgsynth neo4j start` (no {conf})") from exc

    def port(key: str) -> int:
        return int(pairs[key].rsplit(":", 1)[1])

    try:
        return ServerOptions(
            home=home, bolt_port=port("server.bolt.listen_address"), http_port=port("server.http.listen_address"),
            heap=pairs["server.memory.heap.max_size"], pagecache=pairs["server.memory.pagecache.size"],
            password=password or None, database=pairs.get("initial.dbms.default_database", "neo4j"),
        )
    except (KeyError, ValueError, IndexError) as exc:
        raise ConfigError(f"{conf} was not written by `kgsynth neo4j start` (missing or odd {exc})") from exc


def _endpoint(uri: str) -> tuple[str, int]:
    parts = urlsplit(uri)
    host = parts.hostname or ""
    return ("127.0.0.1" if host in ("localhost", "127.0.0.1", "::1") else host), parts.port or 7687


def managed_target(settings: Neo4jSettings, home: Path) -> ManagedTarget:
    """The managed server ``settings.uri`` points at, or a ConfigError saying why it is not one."""
    if not settings.uri:
        raise ConfigError("--bulk imports into a Neo4j server (`kgsynth neo4j start`); no --uri / NEO4J_URI is "
                          "set. The embedded store has no bulk path: load it without --bulk")
    home = home.expanduser().resolve()
    opts = options_from_config(home, settings.password)
    if _endpoint(settings.uri) != _endpoint(opts.bolt_uri):
        raise ConfigError(
            f"--bulk needs the server that `kgsynth neo4j start` manages (it stops it, imports offline and starts "
            f"it again): {settings.uri} is not the server of {home} ({opts.bolt_uri}). Pass --home for that "
            "server, or load without --bulk"
        )
    if settings.database != opts.database:
        raise ConfigError(f"--bulk imports into the server's default database {opts.database!r}, not "
                          f"{settings.database!r} (Community has one user database)")
    return ManagedTarget(opts, settings)


# -- checks -------------------------------------------------------------------------


def ensure_running(target: ManagedTarget, progress=lambda _: None) -> None:
    """Start the managed server if it is down (a re-run after a killed bulk load)."""
    from kgsynth.graph import server

    if not server.status(target.home, probe=False).running:
        server.start(target.opts, progress=progress)


def check_empty(target: ManagedTarget) -> None:
    """Refuse a database that holds any node: a full import replaces, it cannot add."""
    from kgsynth.cypher import query
    from kgsynth.graph.neo4j_store import Neo4jStore

    store = Neo4jStore(target.settings, create_schema=False)
    try:
        found = store.read(query("loaders", "any_node"))
    finally:
        store.close()
    if found:
        raise ConfigError(
            f"database {target.settings.database!r} at {target.settings.uri} is not empty: --bulk runs "
            "`neo4j-admin database import full`, which only fills an empty database (incremental import is "
            "Neo4j Enterprise-only). Load into it without --bulk (the MERGE loader adds to an existing graph), "
            "or start from an empty server"
        )


def check_disk(folder: Path, need_bytes: int, what: str) -> None:
    """ConfigError when ``folder``'s filesystem has less than ``need_bytes`` free."""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need_bytes:
        raise ConfigError(
            f"not enough disk space for {what}: about {need_bytes / 1e9:.2f} GB needed in {folder}, "
            f"{free / 1e9:.2f} GB free. Free some space or point --tmp-dir elsewhere"
        )


@contextlib.contextmanager
def bulk_lock(home: Path) -> Iterator[None]:
    """One bulk load per server home at a time."""
    path = home / "run" / _LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another bulk load is running on the server at {home}") from None
        yield


def clear_staging(home: Path) -> None:
    """Remove what a killed bulk load left in the staging folder (never the live database)."""
    recover_swap(home)
    shutil.rmtree(home / STAGING, ignore_errors=True)


# -- import and swap ---------------------------------------------------------------


def _db_dirs(data: Path, database: str) -> tuple[Path, Path]:
    return data / "databases" / database, data / "transactions" / database


def run_import(target: ManagedTarget, files: CsvFiles, progress=lambda _: None) -> dict[str, float]:
    """Import into staging (server up), stop the server, swap the store in, start it; seconds by step, store size."""
    from kgsynth.graph import server
    from kgsynth.graph.neo4j_dist import ensure_jars, find_java

    home, database = target.home, target.opts.database
    staging = home / STAGING / "import"
    shutil.rmtree(staging, ignore_errors=True)
    conf_dir = staging / "conf"
    conf_dir.mkdir(parents=True)
    # The server's own config, with the data folders moved into staging.
    text = render_config(target.opts).splitlines()
    staged = [line for line in text if not line.startswith(("server.directories.data=",
                                                           "server.directories.transaction.logs.root="))]
    staged += [f"server.directories.data={staging / 'data'}",
               f"server.directories.transaction.logs.root={staging / 'data' / 'transactions'}"]
    (conf_dir / "neo4j.conf").write_text("\n".join(staged) + "\n", encoding="utf-8")
    java, lib = find_java(), ensure_jars(progress)
    cmd = [java, f"-Xmx{IMPORT_HEAP}", "-cp", f"{lib}{os.sep}*", "org.neo4j.cli.AdminTool", "database", "import",
           "full", database, "--overwrite-destination=true",
           f"--array-delimiter={ARRAY_DELIMITER_ARG}", f"--multiline-fields={'true' if files.multiline else 'false'}",
           f"--max-off-heap-memory={IMPORT_OFF_HEAP}", f"--report-file={staging / 'import.report'}",
           *files.import_args()]
    env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(conf_dir)}
    timings: dict[str, float] = {}

    # The import writes only under staging, so the server keeps serving the previous database while it
    # runs (a failed or killed import leaves it up and unchanged); it is stopped just for the swap.
    started = time.perf_counter()
    progress(f"neo4j-admin database import full {database} ...")
    log = staging / "import.log"
    with open(log, "wb") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                              cwd=staging, check=False, preexec_fn=_die_with_parent)
    if done.returncode != 0:
        from kgsynth.graph.neo4j_dist import _tail_text

        tail = _tail_text(log.read_text(encoding="utf-8", errors="replace"), 6)
        raise StoreError(f"neo4j-admin database import failed (exit {done.returncode}); the database was "
                         f"left as it was. Log {log}: {tail}")
    timings["import"] = time.perf_counter() - started
    timings["store_bytes"] = float(sum(p.stat().st_size for p in (staging / "data").rglob("*") if p.is_file()))
    started = time.perf_counter()
    progress("stopping Neo4j to move the new store in ...")
    server.stop(home)
    timings["stop"] = time.perf_counter() - started
    try:
        swap_in(home, database, staging / "data")
    finally:
        started = time.perf_counter()
        progress("starting Neo4j ...")
        server.start(target.opts, progress=progress)
        timings["start"] = time.perf_counter() - started
    return timings


def _die_with_parent() -> None:
    """In the importer's child process: a killed bulk load must not leave the importer writing on (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def swap_in(home: Path, database: str, staged_data: Path) -> None:
    """Move the imported store and logs into the server's data folder (server stopped), via a journal."""
    live_db, live_tx = _db_dirs(home / "data", database)
    new_db, new_tx = _db_dirs(staged_data, database)
    old = home / STAGING / "replaced"
    shutil.rmtree(old, ignore_errors=True)
    old.mkdir(parents=True)
    moves = [(live_db, old / "database"), (live_tx, old / "transactions"), (new_db, live_db), (new_tx, live_tx)]
    journal = home / "run" / _JOURNAL
    write_text_atomic(journal, json.dumps({"moves": [[str(a), str(b)] for a, b in moves]}))
    _apply(journal)


def _apply(journal: Path) -> None:
    moves = json.loads(journal.read_text(encoding="utf-8"))["moves"]
    for source, target in moves:
        src, dst = Path(source), Path(target)
        if src.exists() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            src.rename(dst)
    journal.unlink()
    shutil.rmtree(Path(moves[0][1]).parent, ignore_errors=True)  # the replaced (empty) database


def recover_swap(home: Path) -> bool:
    """Finish a swap a killed bulk load began (its import had completed); True if there was one."""
    journal = home / "run" / _JOURNAL
    if not journal.exists():
        return False
    _apply(journal)
    return True


def create_schema(target: ManagedTarget) -> float:
    """The store's constraints and indexes (the MERGE path's own schema code), then wait until online."""
    from kgsynth.cypher import query
    from kgsynth.graph.neo4j_store import Neo4jStore

    started = time.perf_counter()
    store = Neo4jStore(target.settings)  # runs ensure_schema
    try:
        store.run(query("loaders", "await_indexes"))
    finally:
        store.close()
    return time.perf_counter() - started
