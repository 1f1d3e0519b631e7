"""The training loop: token-weighted loss on answer tokens only, packing, checkpoints, resume.

A small loop instead of ``transformers.Trainer`` because three things matter here and
are simpler to own than to configure: (1) logits are computed only at answer
positions (prompt positions are masked anyway, and a 49k-word vocabulary makes full
logits the largest tensor of the step); (2) the loss is a sum over answer tokens
divided by the step's answer-token count, so gradient accumulation over packed rows
of different fill weighs every token equally; (3) resume restores the exact loop
position, optimizer, scheduler and RNG state.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from kgsynth.console import err, progress
from kgsynth.errors import ConfigError, InputError
from kgsynth.training import checkpoint as ckpt
from kgsynth.training.config import TrainConfig
from kgsynth.training.data import batches, collate, group_key, read_notes, split
from kgsynth.training.formatting import IGNORE_INDEX, Example, encode
from kgsynth.training.model import add_lora, causal_lm, compute_dtype, device, load_base, load_tokenizer, resolve_base

REPORT_JSON = "report.json"
REPORT_MD = "report.md"


class RunReport(BaseModel):
    """What a run did, written to ``report.json`` and ``report.md`` in the run folder."""

    config: dict[str, Any]
    base_model_path: str
    device: str
    compute_dtype: str
    quantized: bool
    trainable_parameters: int
    total_parameters: int
    notes_train: int
    notes_val: int
    instances_train: int
    instances_val: int
    dropped_too_long: int
    steps: int
    planned_steps: int
    epochs_done: int
    train_tokens: int
    answer_tokens: int
    seconds: float
    tokens_per_second: float
    resumed_from_step: int | None = None
    final_train_loss: float | None = None
    best_val_loss: float | None = None
    best_epoch: int | None = None
    best_adapter: str
    evals: list[dict[str, float]] = Field(default_factory=list)
    log: list[dict[str, float]] = Field(default_factory=list)


def set_seed(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def answer_loss(model: Any, inputs: dict[str, Any]) -> tuple[Any, int]:
    """(sum of token cross-entropies over answer tokens, number of answer tokens)."""
    import torch.nn.functional as F

    lm = causal_lm(model)
    labels = inputs["labels"]
    body = getattr(lm, lm.base_model_prefix)
    kwargs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "position_ids")}
    hidden = body(**kwargs, use_cache=False).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    logits = lm.get_output_embeddings()(hidden[keep]).float()
    return F.cross_entropy(logits, targets[keep], reduction="sum"), int(keep.sum())


def make_optimizer(model: Any, config: TrainConfig) -> Any:
    """Paged 8-bit AdamW on GPU (optimizer state off the critical memory path), AdamW on CPU."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    if torch.cuda.is_available():
        import bitsandbytes as bnb

        return bnb.optim.PagedAdamW8bit(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)


def _encode_all(tokenizer: Any, records: Sequence[Any], limit: int) -> tuple[list[Example], int]:
    examples = [encode(tokenizer, r) for r in records]
    kept = [e for e in examples if len(e.input_ids) <= limit]
    return kept, len(examples) - len(kept)


def _to_device(inputs: dict[str, Any], where: str) -> dict[str, Any]:
    return {k: v.to(where) for k, v in inputs.items()}


def evaluate_loss(model: Any, examples: Sequence[Example], config: TrainConfig, pad_id: int) -> float | None:
    """Mean answer-token loss over ``examples`` (None when there are none)."""
    import torch

    if not examples:
        return None
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches(examples, config.batch_tokens, config.batching, config.seed, 0):
            inputs = _to_device(collate([examples[i] for i in batch.examples], config.batching, pad_id), device())
            loss, n = answer_loss(model, inputs)
            total, count = total + float(loss), count + n
    model.train()
    return total / max(count, 1)


def train(config: TrainConfig, show_progress: bool = True, stop_after: int | None = None) -> RunReport:
    """Run (or resume) training as ``config`` says; ``stop_after`` simulates a kill after that step."""
    if not config.data:
        raise ConfigError("no training data: give --data FILE_OR_FOLDER")
    out = config.out
    existing = ckpt.list_checkpoints(out)
    if existing and not config.resume:
        raise ConfigError(f"{out} already has checkpoints: pass --resume to continue, or choose another --out")
    records = read_notes(config.data)  # before torch is imported: bad data fails in a second, not in ten
    import torch
    from transformers import get_cosine_schedule_with_warmup

    set_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.max_notes:
        records = records[: config.max_notes]
    train_recs, val_recs = split(records, config.val_fraction, config.seed)
    if not train_recs:
        raise InputError(f"{', '.join(map(str, config.data))}: no notes to train on")
    base_path = resolve_base(config.base_model)
    tokenizer = load_tokenizer(base_path)
    limit = min(config.max_length, config.batch_tokens)
    train_ex, dropped = _encode_all(tokenizer, train_recs, limit)
    val_ex, dropped_val = _encode_all(tokenizer, val_recs, limit)
    run = _Prepared(
        base_path=base_path,
        notes_train=len(train_recs),
        notes_val=len(val_recs),
        instances_train=len({group_key(r) for r in train_recs}),
        instances_val=len({group_key(r) for r in val_recs}),
        dropped=dropped + dropped_val,
    )
    if not train_ex:
        raise InputError(f"every training example is longer than {limit} tokens: raise --max-length/--batch-tokens")

    model = add_lora(load_base(base_path, config.quantize, config.gradient_checkpointing), config)
    model.train()
    optimizer = make_optimizer(model, config)
    n_batches = len(batches(train_ex, config.batch_tokens, config.batching, config.seed, 0))
    per_epoch = math.ceil(n_batches / config.grad_accum)
    planned = per_epoch * config.epochs
    if config.max_steps:
        planned = min(planned, config.max_steps)
    scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(config.warmup_ratio * planned), planned)

    state = ckpt.LoopState()
    resumed_from = None
    if config.resume and existing:
        state = ckpt.load_checkpoint(existing[-1], model, optimizer, scheduler)
        resumed_from = state.step
        err.print(f"resuming from {existing[-1]} (step {state.step})")
    config.save_pretrained(out)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    where = device()
    stopped = False
    with progress("steps", disable=not show_progress) as bar:
        task = bar.add_task("training", total=planned, completed=state.step, rate="")
        while state.epoch < config.epochs and not stopped:
            plan = batches(train_ex, config.batch_tokens, config.batching, config.seed, state.epoch)
            steps = [plan[i : i + config.grad_accum] for i in range(0, len(plan), config.grad_accum)]
            for micro in steps[state.step_in_epoch :]:
                started = time.perf_counter()
                parts = [
                    _to_device(collate([train_ex[i] for i in b.examples], config.batching, pad_id), where)
                    for b in micro
                ]
                n_answer = sum(int((p["labels"][:, 1:] != IGNORE_INDEX).sum()) for p in parts)
                total = 0.0
                for inputs in parts:
                    loss, _ = answer_loss(model, inputs)
                    (loss / n_answer).backward()
                    total += float(loss.detach())
                torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state.step += 1
                state.step_in_epoch += 1
                state.tokens += sum(b.tokens for b in micro)
                state.answer_tokens += n_answer
                state.seconds += time.perf_counter() - started
                loss_value = total / n_answer
                lr = scheduler.get_last_lr()[0]
                state.log.append({"step": state.step, "epoch": state.epoch, "loss": loss_value, "lr": lr})
                speed = state.tokens / state.seconds
                bar.update(task, advance=1, rate=f"loss {loss_value:.3f} {speed:,.0f} tok/s")
                at_limit = bool(config.max_steps) and state.step >= config.max_steps
                if state.step % config.save_every == 0 and not at_limit:
                    ckpt.save_checkpoint(out, model, optimizer, scheduler, state, config.keep_checkpoints)
                if stop_after is not None and state.step >= stop_after:
                    return _report(config, run, model, state, resumed_from, planned)
                if at_limit:
                    stopped = True
                    break
            _end_epoch(config, model, tokenizer, val_ex, pad_id, state)
            ckpt.save_checkpoint(out, model, optimizer, scheduler, state, config.keep_checkpoints)
    report = _report(config, run, model, state, resumed_from, planned)
    write_report(out, report)
    return report


def _end_epoch(config: TrainConfig, model: Any, tokenizer: Any, val_ex: list[Example], pad_id: int, state: Any) -> None:
    """Validate, keep the adapter when it is the best so far, move to the next epoch."""
    val_loss = evaluate_loss(model, val_ex, config, pad_id)
    shown = val_loss if val_loss is not None else -1.0
    state.evals.append({"epoch": state.epoch, "step": state.step, "val_loss": shown})
    if val_loss is None or state.best_val_loss is None or val_loss < state.best_val_loss:
        state.best_val_loss, state.best_epoch = val_loss, state.epoch
        ckpt.save_adapter(model, tokenizer, config, config.out / "best")
    err.print(f"epoch {state.epoch}: step {state.step}, validation loss {val_loss if val_loss is not None else 'n/a'}")
    state.epoch += 1
    state.step_in_epoch = 0


class _Prepared(BaseModel):
    """The data side of a run, for the report."""

    base_path: str
    notes_train: int
    notes_val: int
    instances_train: int
    instances_val: int
    dropped: int


def _report(
    config: TrainConfig, run: _Prepared, model: Any, state: ckpt.LoopState, resumed_from: int | None, planned: int
) -> RunReport:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return RunReport(
        config=config.model_dump(mode="json"),
        base_model_path=run.base_path,
        device=device(),
        compute_dtype=str(compute_dtype()).removeprefix("torch."),
        quantized=config.quantize,
        trainable_parameters=trainable,
        total_parameters=total,
        notes_train=run.notes_train,
        notes_val=run.notes_val,
        instances_train=run.instances_train,
        instances_val=run.instances_val,
        dropped_too_long=run.dropped,
        steps=state.step,
        planned_steps=planned,
        epochs_done=state.epoch,
        train_tokens=state.tokens,
        answer_tokens=state.answer_tokens,
        seconds=round(state.seconds, 2),
        tokens_per_second=round(state.tokens / state.seconds, 1) if state.seconds else 0.0,
        resumed_from_step=resumed_from,
        final_train_loss=state.log[-1]["loss"] if state.log else None,
        best_val_loss=state.best_val_loss,
        best_epoch=state.best_epoch,
        best_adapter=str(config.out / "best"),
        evals=state.evals,
        log=state.log,
    )


def write_report(out: Path, report: RunReport) -> None:
    """``report.json`` (everything) and ``report.md`` (the readable summary), atomically."""
    from kgsynth.training.checkpoint import staging_dir

    data = report.model_dump(mode="json")
    lines = ["# Training run", "", "| item | value |", "|---|---|"]
    for key, value in data.items():
        if key not in ("config", "log", "evals"):
            lines.append(f"| {key} | {value} |")
    lines += ["", "## Validation per epoch", "", "| epoch | step | val loss |", "|---|---|---|"]
    lines += [f"| {int(e['epoch'])} | {int(e['step'])} | {e['val_loss']:.4f} |" for e in report.evals]
    for name, text in ((REPORT_JSON, json.dumps(data, indent=1)), (REPORT_MD, "\n".join(lines) + "\n")):
        tmp = staging_dir(out / name) / name
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / name)
        tmp.parent.rmdir()
