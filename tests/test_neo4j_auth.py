"""Wrong credentials against a real auth-enabled server: one clear line, no traceback.

Starts a second, password-protected server on its own ports (the CI server runs
with auth disabled), so it is slow; it needs the jars that ``.ci/run`` fetched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kgsynth.graph import neo4j_dist, server, server_config
from tests.conftest import need
from tests.test_cli_graph import kgsynth

PASSWORD = "kgsynth-test-pw"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory):
    need(shutil.which("java") is not None and neo4j_dist.is_fetched(), "Java and the Neo4j jars are needed")
    home = Path(tmp_path_factory.mktemp("neo4j-auth"))
    opts = server_config.ServerOptions(
        home=home, bolt_port=7695, http_port=7495, heap="256m", pagecache="64m", password=PASSWORD
    )
    status = server.start(opts, timeout=180)
    yield status.bolt_uri
    server.stop(home)


@pytest.mark.slow
def test_wrong_password_is_one_line_error(auth_server: str) -> None:
    result = kgsynth("graph", "stats", "--uri", auth_server, "--password", "not-the-password")
    assert result.returncode != 0
    assert "refused the credentials" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_right_password_connects(auth_server: str) -> None:
    result = kgsynth("graph", "stats", "--json", env={"NEO4J_URI": auth_server, "NEO4J_PASSWORD": PASSWORD})
    assert result.returncode == 0, result.stderr
    assert '"backend": "neo4j"' in result.stdout
