"""What the managed Neo4j server is told: user options, ``neo4j.conf`` and the JVM command line.

Kept apart from :mod:`kgsynth.graph.server` (which starts, watches and stops the
process) so the config can be rendered and tested without a JVM.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from kgsynth.errors import ConfigError
from kgsynth.settings import Neo4jSettings, user_data_dir

ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
HOST = "127.0.0.1"
_SIZE = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")

# The JVM flags Neo4j's own launcher adds (from its default neo4j.conf); we start
# the JVM directly, so ``server.jvm.additional`` in the config is not read.
_JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)


def default_home() -> Path:
    """``KGSYNTH_NEO4J_HOME`` or ``user_data_dir()/neo4j``: where the server's data lives."""
    env = os.environ.get("KGSYNTH_NEO4J_HOME")
    return Path(env).expanduser() if env else user_data_dir() / "neo4j"


@dataclass(frozen=True)
class ServerOptions:
    """What the user can choose about the local server."""

    home: Path = field(default_factory=default_home)
    bolt_port: int = 7687
    http_port: int = 7474
    heap: str = "512m"
    pagecache: str = "256m"
    password: str | None = None
    database: str = "neo4j"

    @classmethod
    def from_env(cls, **overrides: object) -> ServerOptions:
        """Options with the password and database taken from ``NEO4J_*`` variables."""
        settings = Neo4jSettings()
        values: dict[str, object] = {"password": settings.password or None, "database": settings.database}
        if settings.password and settings.username != "neo4j":
            raise ConfigError(
                f"the local server only creates user 'neo4j', but NEO4J_USERNAME={settings.username!r}: "
                "unset it or set it to neo4j"
            )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def validate(self) -> ServerOptions:
        """Reject bad ports and sizes with one clear line before anything runs."""
        for name, port in (("--bolt-port", self.bolt_port), ("--http-port", self.http_port)):
            if not 1 <= port <= 65535:
                raise ConfigError(f"{name} must be between 1 and 65535, got {port}")
        if self.bolt_port == self.http_port:
            raise ConfigError(f"--bolt-port and --http-port must differ (both {self.bolt_port})")
        for name, size in (("--heap", self.heap), ("--pagecache", self.pagecache)):
            if not _SIZE.match(size):
                raise ConfigError(f"{name} must be a size like 512m or 1g, got {size!r}")
        if self.password is not None and len(self.password) < 8:
            raise ConfigError("NEO4J_PASSWORD must be at least 8 characters (Neo4j's minimum)")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9.-]{2,62}", self.database):
            raise ConfigError(f"NEO4J_DATABASE={self.database!r} is not a valid Neo4j database name")
        return self

    @property
    def bolt_uri(self) -> str:
        return f"bolt://{HOST}:{self.bolt_port}"

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.http_port}/"

    @property
    def browser_url(self) -> str:
        return f"http://{HOST}:{self.http_port}/browser/"


def render_config(opts: ServerOptions) -> str:
    """The ``neo4j.conf`` text: loopback only, explicit memory, no outbound calls."""
    home = opts.home.resolve()
    lines = [
        "# Written by `kgsynth neo4j start`; rewritten on every start (edit the flags instead).",
        f"server.directories.data={home / 'data'}",
        f"server.directories.logs={home / 'logs'}",
        f"server.directories.run={home / 'run'}",
        f"server.directories.import={home / 'import'}",
        f"server.directories.plugins={home / 'plugins'}",
        f"server.directories.transaction.logs.root={home / 'data' / 'transactions'}",
        f"server.default_listen_address={HOST}",
        f"server.default_advertised_address={HOST}",
        "server.bolt.enabled=true",
        f"server.bolt.listen_address={HOST}:{opts.bolt_port}",
        f"server.bolt.advertised_address={HOST}:{opts.bolt_port}",
        "server.http.enabled=true",
        f"server.http.listen_address={HOST}:{opts.http_port}",
        f"server.http.advertised_address={HOST}:{opts.http_port}",
        "server.https.enabled=false",
        f"server.memory.heap.initial_size={opts.heap}",
        f"server.memory.heap.max_size={opts.heap}",
        f"server.memory.pagecache.size={opts.pagecache}",
        f"dbms.security.auth_enabled={'true' if opts.password else 'false'}",
        f"initial.dbms.default_database={opts.database}",
        "dbms.usage_report.enabled=false",
        "browser.remote_content_hostname_whitelist=localhost",
        "dbms.security.allow_csv_import_from_file_urls=true",
        # Netty's quiet period on Bolt shutdown (5 s for each of the two Bolt connectors) made every stop
        # take ~10.4 s after the databases had already checkpointed and closed; nothing is lost without it.
        "internal.dbms.bolt.netty_server_shutdown_quiet_period=0",
    ]
    return "\n".join(lines) + "\n"


def write_config(opts: ServerOptions) -> Path:
    """Create the home layout and write ``<home>/conf/neo4j.conf``."""
    for sub in ("conf", "data", "logs", "run", "import", "plugins"):
        (opts.home / sub).mkdir(parents=True, exist_ok=True)
    path = opts.home / "conf" / "neo4j.conf"
    path.write_text(render_config(opts), encoding="utf-8")
    return path


def jvm_args(opts: ServerOptions, lib: Path) -> list[str]:
    """The full ``java`` argument list (after the executable) for the server."""
    home = opts.home.resolve()
    return [
        f"-Xms{opts.heap}",
        f"-Xmx{opts.heap}",
        *_JVM_FLAGS,
        "-cp",
        f"{lib}{os.sep}*",
        ENTRY_POINT,
        f"--home-dir={home}",
        f"--config-dir={home / 'conf'}",
        "--console-mode",
    ]
