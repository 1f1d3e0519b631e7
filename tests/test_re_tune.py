"""The tuned RE probe: same pair vectors as the frozen probe before training, and it can learn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kgsynth.evaluation import re_probe as rp
from kgsynth.evaluation import re_tune as rt
from tests.test_re_probe import _doc1, _doc2

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def encoder():  # noqa: ANN201 - tokenizer and model
    return rp.load_encoder()


@pytest.mark.parametrize("layers", [1, 2])
def test_untrained_top_layers_give_the_frozen_probes_pair_vectors(encoder, layers: int) -> None:  # noqa: ANN001
    """Cached lower layers plus copied top layers must be the full encoder: the same pairs, the same vectors."""
    import torch

    tokenizer, model = encoder
    records = [_doc1(), _doc2()]
    frozen = rp.prepare(records, tokenizer, model, max_len=64)
    tuned = rt.prepare(records, tokenizer, model, layers, max_len=64)
    assert [(p.doc, p.a, p.b, p.label) for p in tuned.pairs] == [(p.doc, p.a, p.b, p.label) for p in frozen.pairs]
    probe = rt.TunedProbe(model, rt.TuneSettings(layers=layers))
    probe.layers.eval()
    with torch.no_grad():
        x = probe._pair_features(tuned.docs).numpy()
    assert x.shape == frozen.x.shape
    np.testing.assert_allclose(x, frozen.x, atol=5e-3)  # float16 cache of the lower layers


def test_tuning_fits_a_tiny_corpus_and_is_seeded(encoder) -> None:  # noqa: ANN001
    tokenizer, model = encoder
    corpus = rt.prepare([_doc1(), _doc2()] * 4, tokenizer, model, 1, max_len=64)
    settings = rt.TuneSettings(layers=1, epochs=15, head_lr=1e-2, batch_docs=4)
    first = rt.TunedProbe(model, settings).fit(corpus.docs).predict(corpus.docs)
    assert first == [p.label for p in corpus.pairs]  # memorized: every pair, "none" included
    assert rt.TunedProbe(model, settings).fit(corpus.docs).predict(corpus.docs) == first
    # The encoder the probe copied from is left as it was.
    again = rt.prepare([_doc1()], tokenizer, model, 1, max_len=64)
    np.testing.assert_array_equal(again.docs[0].states[0], corpus.docs[0].states[0])


def test_subset_renumbers_documents(encoder) -> None:  # noqa: ANN001
    tokenizer, model = encoder
    corpus = rt.prepare([_doc1(), _doc2()], tokenizer, model, 1, max_len=64)
    part = rt.subset(corpus, [1])
    assert part.records[0].id == "d2" and {p.doc for p in part.pairs} == {0}
    assert len(part.pairs) == sum(p.doc == 1 for p in corpus.pairs) == len(part.docs[0].labels)


def test_tiny_re_benchmark_with_tuned_layers(shared_data: Path, tmp_path: Path) -> None:
    from kgsynth.evaluation.readers import write_records

    write_records(tmp_path / "notes.jsonl", [_doc1(), _doc2()])
    cmd = [sys.executable, str(REPO / "bench" / "utility.py"), "--task", "re", "--train-docs", "3", "--dev-docs",
           "2", "--max-len", "64", "--bootstrap", "20", "--tune-layers", "1", "--tune-epochs", "1", "--json",
           "--train", str(shared_data / "biored" / "Train.PubTator"),
           "--dev", str(shared_data / "biored" / "Dev.PubTator"),
           "--generated", str(tmp_path / "notes.jsonl")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["tune_layers"] == 1 and report["head"]["layers"] == 1
    assert [r["train_pairs"] for r in report["rows"]][2] == 8
    assert report["rows"][1]["f1_diff_ci"] is not None
    clash = subprocess.run([*cmd, "--domain-copies"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert clash.returncode == 1 and "--domain-copies" in clash.stderr
