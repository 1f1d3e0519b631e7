"""The small sample graph shipped inside the package, for first runs and smoke tests."""

from __future__ import annotations

import json
from importlib import resources

from kgsynth.graph.model import Concept, Provenance, Relation


def sample_graph() -> tuple[list[Concept], list[Relation]]:
    """Concepts and relations of ``kgsynth/data/sample_kg.json``."""
    text = resources.files("kgsynth.data").joinpath("sample_kg.json").read_text(encoding="utf-8")
    data = json.loads(text)
    prov = [Provenance(**data["source"])]
    concepts = [
        Concept(id=cid, name=name, group=group, synonyms=syns, provenance=prov)
        for cid, name, group, syns in data["concepts"]
    ]
    relations = [Relation(subject=s, type=t, object=o, provenance=prov) for s, t, o in data["relations"]]
    return concepts, relations
