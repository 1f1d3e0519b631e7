"""Reading motif instances (the sampler's JSONL output) for generation, checked line by line."""

from __future__ import annotations

from pathlib import Path

from kgsynth import inputs
from kgsynth.cypher.instance import MotifInstance
from kgsynth.errors import InputError
from kgsynth.graph.schema import RELATION_TYPES, SEMANTIC_GROUPS


def read_instances(path: Path) -> list[MotifInstance]:
    """Motif instances from JSONL; a bad line raises :class:`InputError` naming file and line."""
    instances = []
    seen: dict[str, int] = {}
    for number, instance in inputs.iter_models(path, MotifInstance, "not a motif instance"):
        if instance.id in seen:
            raise InputError(f"{path}:{number}: instance {instance.id} repeats line {seen[instance.id]}")
        seen[instance.id] = number
        unknown = [f"relation type {r.type!r}" for r in instance.relations if r.type not in RELATION_TYPES] + [
            f"group {c.group!r} of {c.id}" for c in instance.concepts if c.group not in SEMANTIC_GROUPS]
        if unknown:  # what the graph's schema does not have cannot have been sampled from it
            raise InputError(f"{path}:{number}: instance {instance.id}: {unknown[0]} is not in the graph's schema")
        ids = {c.id for c in instance.concepts}
        missing = [e for r in instance.relations for e in (r.subject, r.object) if e not in ids]
        if missing or not (instance.relations or instance.single_concept):
            why = (f"relation endpoint {missing[0]} is not among its concepts" if missing
                   else "it has no relation (and is not a single-concept instance: one concept, no relation)")
            raise InputError(f"{path}:{number}: instance {instance.id}: {why}")
        instances.append(instance)
    if not instances:
        raise InputError(f"{path}: no motif instances")
    return instances
