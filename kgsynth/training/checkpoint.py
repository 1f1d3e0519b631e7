"""Step checkpoints and the best adapter, written atomically so a kill never leaves half a folder.

A checkpoint holds what an exact continuation needs: the adapter weights, the
optimizer and scheduler states, every RNG state (dropout draws continue where they
stopped) and the loop position. Batch order is a pure function of (seed, epoch), so
it needs no saving.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

CHECKPOINTS = "checkpoints"
STATE_NAME = "state.json"


class LoopState(BaseModel):
    """Where the training loop is; saved in every checkpoint."""

    step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    best_val_loss: float | None = None
    best_epoch: int | None = None
    tokens: int = 0
    answer_tokens: int = 0
    seconds: float = 0.0
    log: list[dict[str, float]] = Field(default_factory=list)
    evals: list[dict[str, float]] = Field(default_factory=list)


def replace_dir(build: Path, target: Path) -> None:
    """Move the finished folder ``build`` to ``target``, replacing an old one."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    os.replace(build, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def staging_dir(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))


def save_adapter(model: Any, tokenizer: Any, config: Any, target: Path) -> None:
    """Adapter + tokenizer + run config, ready for ``kgsynth extract --adapter``."""
    build = staging_dir(target)
    try:
        model.save_pretrained(build)
        tokenizer.save_pretrained(build)
        config.save_pretrained(build)
        replace_dir(build, target)
    finally:
        shutil.rmtree(build, ignore_errors=True)


def rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(out: Path, model: Any, optimizer: Any, scheduler: Any, state: LoopState, keep: int) -> Path:
    """Write ``checkpoints/step-NNNNNN`` atomically and prune to the newest ``keep``."""
    import torch

    target = out / CHECKPOINTS / f"step-{state.step:06d}"
    build = staging_dir(target)
    try:
        model.save_pretrained(build)
        torch.save(optimizer.state_dict(), build / "optimizer.pt")
        torch.save(scheduler.state_dict(), build / "scheduler.pt")
        torch.save(rng_state(), build / "rng.pt")
        (build / STATE_NAME).write_text(state.model_dump_json(), encoding="utf-8")
        replace_dir(build, target)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    for old in list_checkpoints(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def list_checkpoints(out: Path) -> list[Path]:
    """Complete checkpoints, oldest first (staging folders start with a dot and are skipped)."""
    folder = out / CHECKPOINTS
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("step-*") if (p / STATE_NAME).is_file())


def load_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any) -> LoopState:
    """Restore adapter weights, optimizer, scheduler and RNG from ``path``; return the loop state."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(path / "adapter_model.safetensors")))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    set_rng_state(torch.load(path / "rng.pt", weights_only=False))
    return LoopState.model_validate_json((path / STATE_NAME).read_text(encoding="utf-8"))
