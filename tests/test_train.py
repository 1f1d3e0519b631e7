"""Training on a tiny random Llama with a self-built tokenizer: the real QLoRA code path on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.generation.record import Entity, NoteRecord, NoteRelation
from kgsynth.training.config import TrainConfig
from kgsynth.training.data import batches, collate, group_key, split
from kgsynth.training.formatting import IGNORE_INDEX, encode, target

DRUGS = ["aspirin", "metformin", "ibuprofen", "warfarin", "insulin", "lisinopril"]
DISEASES = ["fever", "diabetes", "arthritis", "stroke", "hypertension", "asthma"]


def make_note(i: int, repeat: int = 0) -> NoteRecord:
    """A templated note; ``repeat`` > 0 gives another note of the same motif instance."""
    drug, disease = DRUGS[i % len(DRUGS)], DISEASES[(i // len(DRUGS)) % len(DISEASES)]
    lead = ["The patient", "A woman", "An old man"][repeat % 3]
    text = f"{lead} with {disease} was given {drug}. {drug.capitalize()} helped."
    d0 = text.index(disease)
    c0 = text.index(drug)
    instance = MotifInstance(
        motif="treats",
        concepts=[
            InstanceConcept(slot="c", id=f"MESH:C{i}", name=drug, group="Chemical"),
            InstanceConcept(slot="d", id=f"MESH:D{i}", name=disease, group="Disease"),
        ],
        relations=[InstanceRelation(subject=f"MESH:C{i}", type="TREATS", object=f"MESH:D{i}")],
    )
    return NoteRecord(
        text=text,
        entities=[
            Entity(id="T1", start=d0, end=d0 + len(disease), text=disease, type="Disease", concept_id=f"MESH:D{i}"),
            Entity(id="T2", start=c0, end=c0 + len(drug), text=drug, type="Chemical", concept_id=f"MESH:C{i}"),
        ],
        relations=[NoteRelation(subject="T2", type="TREATS", object="T1")],
        instance=instance,
    )


def notes(n: int, per_instance: int = 2) -> list[NoteRecord]:
    return [make_note(i, r) for i in range(n) for r in range(per_instance)]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kgsynth.training.tiny import build_tiny_checkpoint

    folder = tmp_path_factory.mktemp("tiny-llama")
    texts = [n.text for n in notes(36, 3)] + [target(n).model_dump_json() for n in notes(36, 1)]
    return build_tiny_checkpoint(folder, texts * 3, vocab_size=400, hidden_size=64, layers=2)


def write_notes(path: Path, records: list[NoteRecord]) -> Path:
    path.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    return path


def test_split_keeps_instances_on_one_side() -> None:
    records = notes(30, per_instance=3)
    train, val = split(records, 0.2, seed=1)
    assert val and train
    assert {group_key(r) for r in train}.isdisjoint({group_key(r) for r in val})
    assert len(train) + len(val) == len(records)
    assert split(records, 0.2, seed=1) == (train, val)  # stable


def test_loss_mask_covers_only_the_answer(tiny_model: Path) -> None:
    from kgsynth.training.model import load_tokenizer

    tok = load_tokenizer(str(tiny_model))
    note = make_note(3)
    ex = encode(tok, note)
    answer = [t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != IGNORE_INDEX]
    prompt = [t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab == IGNORE_INDEX]
    decoded = tok.decode(answer)
    assert decoded.startswith('{"entities":')
    assert json.loads(decoded.removesuffix("<|im_end|>\n").removesuffix("<|im_end|>")) == target(note).model_dump(
        mode="json"
    )
    assert note.text in tok.decode(prompt) and note.text not in decoded
    # the masked part is a prefix: no answer token hides inside the prompt
    first = ex.labels.index(next(lab for lab in ex.labels if lab != IGNORE_INDEX))
    assert all(lab == IGNORE_INDEX for lab in ex.labels[:first])
    assert all(lab != IGNORE_INDEX for lab in ex.labels[first:])


def test_packing_fills_rows_and_isolates_examples(tiny_model: Path) -> None:
    import torch

    from kgsynth.training.model import load_tokenizer

    tok = load_tokenizer(str(tiny_model))
    examples = [encode(tok, n) for n in notes(12, 1)]
    longest = max(len(e.input_ids) for e in examples)
    packed = batches(examples, 3 * longest, "pack", seed=0, epoch=0)
    assert sorted(i for b in packed for i in b.examples) == list(range(len(examples)))
    assert all(b.tokens <= 3 * longest for b in packed)
    assert len(packed) < len(examples) / 2
    inputs = collate([examples[i] for i in packed[0].examples], "pack", tok.pad_token_id)
    pos = inputs["position_ids"][0]
    assert int((pos == 0).sum()) == len(packed[0].examples)
    assert batches(examples, 3 * longest, "pack", 0, 0) == packed  # same plan on resume
    bucketed = batches(examples, 3 * longest, "bucket", 0, 0)
    inputs = collate([examples[i] for i in bucketed[0].examples], "bucket", tok.pad_token_id)
    assert inputs["input_ids"].shape == inputs["attention_mask"].shape
    assert torch.all(inputs["labels"][inputs["attention_mask"] == 0] == IGNORE_INDEX)


def test_config_yaml_round_trip(tmp_path: Path) -> None:
    config = TrainConfig(data=[tmp_path / "a.jsonl"], lora_r=4, batching="bucket", quantize=False)
    config.save_pretrained(tmp_path)
    again = TrainConfig.from_pretrained(tmp_path)
    assert again == config
    assert TrainConfig.from_pretrained(tmp_path, lora_r=8).lora_r == 8


def _config(tiny_model: Path, data: Path, out: Path, **extra: object) -> TrainConfig:
    values = dict(
        data=[data],
        base_model=str(tiny_model),
        out=out,
        lora_r=16,
        lora_alpha=64,
        lora_dropout=0.05,
        learning_rate=1e-2,
        warmup_ratio=0.0,
        batch_tokens=200,  # one example per micro-batch
        max_length=200,
        val_fraction=0.5,
        save_every=2,
        epochs=2,
    )
    return TrainConfig(**(values | extra))


@pytest.mark.slow
def test_qlora_trains_saves_and_reloads(tiny_model: Path, tmp_path: Path) -> None:
    import torch

    from kgsynth.training.formatting import encode
    from kgsynth.training.model import load_adapter
    from kgsynth.training.trainer import train

    data = write_notes(tmp_path / "notes.jsonl", notes(2, 1) * 6)  # one instance trains, one validates
    report = train(_config(tiny_model, data, tmp_path / "run"), show_progress=False)
    assert report.quantized and report.steps == 12 and report.epochs_done == 2
    losses = [row["loss"] for row in report.log]
    assert losses[-1] < losses[0] - 0.4  # the repeated example is being learned
    assert report.instances_val == 1 and report.instances_train == 1
    assert len(report.evals) == 2 and report.best_val_loss is not None
    assert (tmp_path / "run" / "best" / "adapter_model.safetensors").is_file()
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["steps"] == report.steps and (tmp_path / "run" / "report.md").is_file()

    model, tok, config = load_adapter(tmp_path / "run" / "best")
    again, _, _ = load_adapter(tmp_path / "run" / "best")
    assert config.quantize
    ids = torch.tensor([encode(tok, make_note(1)).input_ids])
    with torch.no_grad():
        a, b = model(input_ids=ids).logits, again(input_ids=ids).logits
    assert torch.allclose(a, b)
    lora = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora and any(float(p.abs().sum()) > 0 for p in lora)  # trained, not the zero init


@pytest.mark.slow
def test_resume_continues_from_the_saved_step(tiny_model: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from kgsynth.training.trainer import train

    data = write_notes(tmp_path / "notes.jsonl", notes(2, 1) * 5)
    full = train(_config(tiny_model, data, tmp_path / "full", epochs=1), show_progress=False)
    assert full.steps == 5
    killed = _config(tiny_model, data, tmp_path / "killed", epochs=1)
    train(killed, show_progress=False, stop_after=3)  # "killed" after step 3; last checkpoint is step 2
    resumed = train(killed.model_copy(update={"resume": True}), show_progress=False)
    assert resumed.resumed_from_step == 2
    assert resumed.steps == full.steps
    assert [r["step"] for r in resumed.log] == [1, 2, 3, 4, 5]  # step 3 was lost with the kill and redone
    assert [r["loss"] for r in resumed.log] == pytest.approx([r["loss"] for r in full.log], rel=1e-4)
    a = load_file(str(tmp_path / "full" / "best" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "best" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
