"""The local Neo4j server manager: config, ports, tool checks, and a live server in CI.

Nothing here starts a server (CI's .ci/run starts one with ``kgsynth neo4j start``
before the suite); the tests that need it are skipped outside CI and fail in CI.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kgsynth.errors import ConfigError
from kgsynth.graph import neo4j_dist, server, server_config

IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parents[1]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the neo4j sub-app in a fresh interpreter, as a user would."""
    code = "from kgsynth.graph.neo4j_cli import app; app()"
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=full_env, timeout=60, check=False
    )


def _config(**kw: object) -> dict[str, str]:
    text = server_config.render_config(server_config.ServerOptions(**kw))  # type: ignore[arg-type]
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return dict(pairs)


# -- config -------------------------------------------------------------------------


def test_config_defaults_are_local_small_and_quiet(tmp_path: Path) -> None:
    conf = _config(home=tmp_path)
    assert conf["server.default_listen_address"] == "127.0.0.1"
    assert conf["server.bolt.listen_address"] == "127.0.0.1:7687"
    assert conf["server.http.listen_address"] == "127.0.0.1:7474"
    assert conf["server.https.enabled"] == "false"
    assert conf["server.memory.heap.initial_size"] == conf["server.memory.heap.max_size"] == "512m"
    assert conf["server.memory.pagecache.size"] == "256m"
    assert conf["dbms.usage_report.enabled"] == "false"
    assert conf["dbms.security.auth_enabled"] == "false"
    assert conf["server.directories.data"] == str(tmp_path.resolve() / "data")
    assert conf["server.directories.logs"] == str(tmp_path.resolve() / "logs")


def test_port_memory_and_password_overrides(tmp_path: Path) -> None:
    opts = server_config.ServerOptions(
        home=tmp_path, bolt_port=17687, http_port=17474, heap="1g", pagecache="128m", password="longenough"
    )
    conf = _config(**opts.__dict__)
    assert conf["server.bolt.listen_address"] == "127.0.0.1:17687"
    assert conf["server.http.listen_address"] == "127.0.0.1:17474"
    assert conf["server.memory.heap.max_size"] == "1g"
    assert conf["server.memory.pagecache.size"] == "128m"
    assert conf["dbms.security.auth_enabled"] == "true"
    assert opts.bolt_uri == "bolt://127.0.0.1:17687"
    assert opts.browser_url == "http://127.0.0.1:17474/browser/"
    args = server_config.jvm_args(opts, tmp_path / "lib")
    assert "-Xms1g" in args and "-Xmx1g" in args
    assert args[-4:] == [
        server.ENTRY_POINT,
        f"--home-dir={tmp_path.resolve()}",
        f"--config-dir={tmp_path.resolve() / 'conf'}",
        "--console-mode",
    ]


def test_write_config_creates_the_home_layout(tmp_path: Path) -> None:
    home = tmp_path / "neo"
    path = server_config.write_config(server_config.ServerOptions(home=home, bolt_port=17001, http_port=17002))
    assert path == home / "conf" / "neo4j.conf"
    assert "server.bolt.listen_address=127.0.0.1:17001" in path.read_text()
    assert all((home / d).is_dir() for d in ("data", "logs", "run"))


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"bolt_port": 7474}, "must differ"),
        ({"bolt_port": 70000}, "--bolt-port"),
        ({"heap": "lots"}, "--heap"),
        ({"pagecache": "0"}, "--pagecache"),
        ({"password": "short"}, "at least 8"),
    ],
)
def test_bad_options_are_config_errors(tmp_path: Path, kw: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        server_config.ServerOptions(home=tmp_path, **kw).validate()  # type: ignore[arg-type]


def test_pom_pins_the_versions() -> None:
    pom = neo4j_dist.render_pom()
    assert f"<version>{neo4j_dist.NEO4J_VERSION}</version>" in pom
    assert f"<version>{neo4j_dist.BROWSER_VERSION}</version>" in pom
    assert neo4j_dist.NEO4J_VERSION.startswith("5.26.")


# -- ports and pids ------------------------------------------------------------------


def test_port_in_use_is_detected_before_starting(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        assert server.port_in_use(busy)
        other = busy + 1 if busy < 65535 else busy - 1
        opts = server_config.ServerOptions(home=tmp_path, bolt_port=busy, http_port=other)
        with pytest.raises(ConfigError, match=f"port {busy} .* already in use.*--bolt-port"):
            server.check_ports_free(opts)
    assert not server.port_in_use(busy)


def test_stale_pid_file_is_not_a_running_server(tmp_path: Path) -> None:
    pid_file = server.pid_file(tmp_path)
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{os.getpid()}\n")  # alive, but not a Neo4j JVM for this home
    assert server.running_pid(tmp_path) is None
    assert not pid_file.exists()
    assert server.stop(tmp_path).running is False


def test_status_json_when_not_running(tmp_path: Path) -> None:
    out = _cli("status", "--home", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["running"] is False and report["pid"] is None


# -- tools ------------------------------------------------------------------------------


def test_missing_java_is_one_clear_line(tmp_path: Path) -> None:
    out = _cli(
        "start",
        "--home",
        str(tmp_path),
        "--bolt-port",
        "17901",
        "--http-port",
        "17902",
        env={"PATH": str(tmp_path), "JAVA_HOME": ""},
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "error: Java 17+ not found: install openjdk-17-jre-headless (or set JAVA_HOME)"
    assert "Traceback" not in out.stderr + out.stdout
    assert not (tmp_path / "run" / "neo4j.pid").exists()


def test_old_java_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "java"
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert neo4j_dist.java_major_version(str(fake)) == 11
    with pytest.raises(ConfigError, match="Java 17\\+ needed.*Java 11"):
        neo4j_dist.find_java()


def test_missing_maven_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="Maven not found: install maven"):
        neo4j_dist.find_maven()


# -- a live server (started by .ci/run) --------------------------------------------


def _live_uri() -> str:
    uri = os.environ.get("NEO4J_URI")
    if uri and server.server_version(uri, os.environ.get("NEO4J_PASSWORD")):
        return uri
    message = f"no Neo4j server answers at NEO4J_URI={uri!r}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.neo4j
def test_live_server_is_neo4j_5_26() -> None:
    uri = _live_uri()
    version = server.server_version(uri, os.environ.get("NEO4J_PASSWORD"))
    assert version is not None and version.startswith("5.26.")


@pytest.mark.neo4j
def test_status_reports_the_live_server() -> None:
    uri = _live_uri()
    home = os.environ.get("KGSYNTH_NEO4J_HOME")
    if not home:
        if IN_CI:
            pytest.fail("CI must export KGSYNTH_NEO4J_HOME for the server it started")
        pytest.skip("KGSYNTH_NEO4J_HOME is not set")
    out = _cli("status", "--json", "--home", home)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["running"] is True and report["bolt_answers"] is True
    assert report["bolt_uri"] == uri
    assert report["version"].startswith("5.26.")
    assert isinstance(report["pid"], int)
