"""Note writers behind one interface: ``template`` (model-free), ``transformers`` (local), ``openai`` (HTTP).

Each backend lives in its own module and is imported only when chosen, so the heavy
libraries of one are never loaded for another.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from kgsynth.errors import ConfigError
from kgsynth.generation.backends.base import Backend

BACKENDS = {
    "template": "kgsynth.generation.backends.template_backend:TemplateBackend",
    "transformers": "kgsynth.generation.backends.transformers_backend:TransformersBackend",
    "openai": "kgsynth.generation.backends.openai_backend:OpenAIBackend",
}


def make_backend(name: str, **options: Any) -> Backend:
    """Instantiate the backend called ``name`` with its options."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return getattr(import_module(module), cls)(**options)


__all__ = ["BACKENDS", "Backend", "make_backend"]
