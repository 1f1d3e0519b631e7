"""The CLI end to end: the embedded default, --json, and one-line errors for bad settings."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need


def kgsynth(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kgsynth", *args], capture_output=True, text=True, env=full_env, timeout=120
    )


def test_help_on_every_command() -> None:
    for args in (["--help"], ["graph", "--help"], ["graph", "stats", "--help"], ["neo4j", "start", "--help"]):
        result = kgsynth(*args)
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_a_reader_that_closes_stdout_is_no_error(tmp_path: Path) -> None:
    """`kgsynth graph stats --json | head -c 10`: the reader going away ends the command quietly, as click
    does for its own output (before: "unexpected error: BrokenPipeError ... please report it", exit 70)."""
    env = {**os.environ, "KGSYNTH_STORE": str(tmp_path / "kg.json.gz")}
    assert kgsynth("graph", "load-sample", env=env).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "kgsynth", "graph", "stats", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes: its first write finds no reader
    code = proc.wait(timeout=120)
    stderr = proc.stderr.read().decode()
    assert "unexpected error" not in stderr and "Traceback" not in stderr, stderr
    assert code == 1


def test_embedded_default_loads_sample_and_reports_json(tmp_path: Path) -> None:
    env = {"KGSYNTH_STORE": str(tmp_path / "kg.json.gz")}
    assert kgsynth("graph", "load-sample", env=env).returncode == 0
    result = kgsynth("graph", "stats", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["backend"] == "memory"
    assert report["concepts"] == 37 and report["relations"] == 40
    assert report["relations_by_type"]["TREATS"] == 7
    assert "embedded graph store" in result.stderr


def test_corrupt_store_is_one_line_error_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "kg.json.gz"
    broken = gzip.compress(b"{broken")
    path.write_bytes(broken)
    result = kgsynth("graph", "stats", env={"KGSYNTH_STORE": str(path)})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr
    assert path.read_bytes() == broken


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://localhost:7687", "invalid Neo4j URI"),
        ("bolt://", "invalid Neo4j URI"),
        (f"bolt://127.0.0.1:{_free_port()}", "cannot reach Neo4j"),
    ],
    ids=["wrong-scheme", "no-host", "refused"],
)
def test_bad_uri_is_one_line_error(uri: str, expected: str) -> None:
    result = kgsynth("graph", "stats", "--uri", uri)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_neo4j_stats_over_bolt(neo4j_store) -> None:
    uri = os.environ["NEO4J_URI"]
    assert kgsynth("graph", "load-sample", "--uri", uri).returncode == 0
    result = kgsynth("graph", "stats", "--uri", uri, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["backend"] == "neo4j"
    assert (report["concepts"], report["relations"]) == (37, 40)


def test_unknown_database_is_one_line_error(neo4j_store) -> None:
    need("NEO4J_URI" in os.environ, "NEO4J_URI unset")
    result = kgsynth("graph", "stats", "--uri", os.environ["NEO4J_URI"], "--database", "nosuchdb")
    assert result.returncode != 0
    assert "nosuchdb" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_and_group_has_help() -> None:
    """Walk the whole command tree: each command and group answers --help."""
    import typer.main
    from typer.testing import CliRunner

    from kgsynth.cli import app

    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    expected = {"neo4j", "graph", "load", "kg", "sample", "coverage", "generate", "demo", "check", "evaluate",
                "report", "train", "extract"}
    assert expected <= {p[0] for p in paths if p}
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output, path
