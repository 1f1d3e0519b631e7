"""Load a base causal LM for QLoRA (4-bit NF4 + LoRA) or plain LoRA, and reload adapters.

The same code path runs on CPU and GPU: bitsandbytes does NF4 on CPU with fp32
compute, so CI exercises the real quantized training path. On GPUs with bf16 the
compute dtype is bf16; everywhere else fp32 (fp16 would need loss scaling).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kgsynth.errors import ConfigError
from kgsynth.training.config import TrainConfig
from kgsynth.training.tiny import CHATML_TEMPLATE


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def compute_dtype():
    """bf16 where the GPU supports it, else fp32."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def resolve_base(name: str) -> str:
    """A loadable path: the packaged SmolLM2 (converted once by generation's loader) or ``name`` as is."""
    from kgsynth.generation.local_model import resolve_model

    return str(resolve_model(name))


def load_tokenizer(path: str) -> Any:
    """The base tokenizer with a pad token and a chat template (ChatML when it has none)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load tokenizer from {path}: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def load_base(path: str, quantize: bool, gradient_checkpointing: bool = False) -> Any:
    """The frozen base model: NF4 with double quantization when ``quantize``, else full precision."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    dtype = compute_dtype()
    kwargs: dict[str, Any] = {"dtype": dtype}
    if quantize:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_quant_storage=dtype,
        )
    if torch.cuda.is_available():
        kwargs["device_map"] = {"": 0}
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load base model from {path}: {exc}") from exc
    if quantize:
        from peft import prepare_model_for_kbit_training

        # Checkpointing is switched on below, not by peft, which calls transformers 5's deprecated name.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers 5.x; the old name warns there
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.config.use_cache = False
    return model


def add_lora(model: Any, config: TrainConfig) -> Any:
    """Wrap ``model`` with fresh LoRA adapters (seeded by the caller)."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_module_list(),
        task_type="CAUSAL_LM",
        bias="none",
    )
    return get_peft_model(model, lora)


def load_adapter(adapter: Path, trainable: bool = False) -> tuple[Any, Any, TrainConfig]:
    """(model with the adapter, tokenizer, the run's config) from an adapter folder."""
    from peft import PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"{adapter} is not an adapter folder (no adapter_config.json)")
    config = TrainConfig.from_pretrained(adapter)
    base_path = resolve_base(config.base_model)
    tokenizer = load_tokenizer(str(adapter)) if (adapter / "tokenizer_config.json").is_file() else None
    tokenizer = tokenizer or load_tokenizer(base_path)
    base = load_base(base_path, config.quantize, gradient_checkpointing=False)
    model = PeftModel.from_pretrained(base, str(adapter), is_trainable=trainable)
    if not trainable:
        model.eval()
    return model, tokenizer, config


def causal_lm(model: Any) -> Any:
    """The underlying ``*ForCausalLM`` of a (peft-wrapped) model."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model
