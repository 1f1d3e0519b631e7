"""Training settings: one pydantic model that is the YAML file, the CLI flags and the run record.

Every field is also a ``kgsynth train`` flag (the CLI is generated from this model),
so a YAML file and flags can never drift apart. The effective config is saved next
to every adapter (:meth:`TrainConfig.save_pretrained`), which is how ``extract``
knows the base model and quantization an adapter was trained with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kgsynth.atomic import write_text_atomic
from kgsynth.errors import ConfigError, validation_detail
from kgsynth.inputs import load_yaml, yaml_location

CONFIG_NAME = "train_config.yaml"


class TrainConfig(BaseModel):
    """QLoRA fine-tuning of a causal LM on annotated notes."""

    model_config = ConfigDict(extra="forbid")

    data: list[Path] = Field(default_factory=list, description="Note JSONL files/folders or corpus files (BioRED).")
    base_model: str = Field(
        "smollm2-135m-instruct", description="HF causal LM folder or name (default: packaged SmolLM2)."
    )
    out: Path = Field(Path("run"), description="Run folder: checkpoints, best adapter, report.")
    quantize: bool = Field(True, description="Load the base model in 4-bit NF4 (QLoRA); off = plain LoRA.")
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha (scale = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")
    target_modules: str = Field("all-linear", description="Comma-separated module names, or all-linear.")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps with linear warmup.")
    epochs: int = Field(1, ge=1, description="Passes over the training split.")
    max_steps: int = Field(0, ge=0, description="Stop after this many optimizer steps (0 = no limit).")
    max_notes: int = Field(0, ge=0, description="Use at most this many notes (0 = all), for scaled-down runs.")
    batch_tokens: int = Field(4096, ge=64, description="Token budget of one micro-batch (packed rows x length).")
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    max_length: int = Field(1024, ge=32, description="Longest example in tokens; longer ones are dropped.")
    batching: Literal["pack", "bucket"] = Field(
        "pack", description="pack: concatenate examples; bucket: group by length."
    )
    val_fraction: float = Field(0.1, ge=0, lt=1, description="Share of motif instances held out for validation.")
    save_every: int = Field(50, ge=1, description="Checkpoint every N optimizer steps.")
    keep_checkpoints: int = Field(2, ge=1, description="How many step checkpoints to keep.")
    gradient_checkpointing: bool = Field(True, description="Recompute activations in backward to save memory.")
    seed: int = Field(0, description="Seed for split, shuffling, LoRA init and dropout.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    threads: int = Field(0, ge=0, description="CPU threads for torch (0 = torch default; 1 helps on a busy machine).")
    resume: bool = Field(False, description="Continue from the latest checkpoint in --out.")

    def target_module_list(self) -> str | list[str]:
        """peft's ``target_modules``: the string ``all-linear`` or a list of names."""
        if self.target_modules.strip() == "all-linear":
            return "all-linear"
        return [m.strip() for m in self.target_modules.split(",") if m.strip()]

    def save_pretrained(self, folder: Path) -> Path:
        """Write ``train_config.yaml`` into ``folder`` atomically."""
        target = folder / CONFIG_NAME
        write_text_atomic(target, yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))
        return target

    @classmethod
    def from_pretrained(cls, path: Path, **overrides: object) -> TrainConfig:
        """Read a YAML file (or ``train_config.yaml`` in a folder); ``overrides`` win over the file."""
        file = path / CONFIG_NAME if path.is_dir() else path
        raw = load_yaml(file, ConfigError)
        if raw is None:
            raise ConfigError(f"{file}: the config file has no options (only blank lines or comments)")
        if not isinstance(raw, dict):
            raise ConfigError(f"{file}: expected a mapping of option: value")
        spelled = {k.replace("-", "_"): k for k in raw}  # the file's own spelling, to find its line
        raw = {k.replace("-", "_"): v for k, v in raw.items()}
        flags = {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls.model_validate(raw | flags)
        except ValidationError as exc:
            loc = exc.errors()[0]["loc"]
            option = str(loc[0]) if loc else ""
            source = "flags" if option in flags else yaml_location(file, (spelled.get(option, option),))
            raise ConfigError(f"{source}: option {validation_detail(exc, '')}") from exc

    @classmethod
    def build(cls, values: dict[str, object], source: str = "flags") -> TrainConfig:
        """Validate ``values`` into a config; errors name the option and where it came from."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(f"{source}: option {validation_detail(exc, '')}") from exc
