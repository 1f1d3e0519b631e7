"""The names a linker may answer with: every name of every concept of one semantic group.

Built from the graph with coverage sampling's slice reader, so "the group's concepts" means
the same thing for sampling and for linking. MeSH-style inverted entry terms are left out
when the same words come in normal order (``mention_names``), which shrinks the index
without losing a surface form a text would use.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property

from kgsynth.cypher.cover import SliceSpec, mention_names, slice_concepts
from kgsynth.errors import ConfigError
from kgsynth.graph.schema import check_group
from kgsynth.graph.store import GraphStore


def normalize(name: str) -> str:
    """Case-, accent-, punctuation- and space-insensitive form of a name (the dictionary key)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


@dataclass
class NameIndex:
    """Names of one group's concepts: ``names[i]`` belongs to ``ids[i]``; ``preferred`` per id.

    Filled once (:func:`build_index`); the lookup tables below are computed on first use and kept.
    """

    group: str
    names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    preferred: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def concepts(self) -> int:
        return len(self.preferred)

    @cached_property
    def ids_by_name(self) -> dict[str, list[str]]:
        """Normalized name -> the concepts that have it, in index order (the dictionary's table)."""
        table: dict[str, list[str]] = {}
        for name, cid in zip(self.names, self.ids, strict=True):
            ids = table.setdefault(normalize(name), [])
            if cid not in ids:
                ids.append(cid)
        return table

    @cached_property
    def names_by_id(self) -> dict[str, list[str]]:
        """Concept id -> its names in the index, in index order."""
        table: dict[str, list[str]] = {}
        for name, cid in zip(self.names, self.ids, strict=True):
            table.setdefault(cid, []).append(name)
        return table


def build_index(store: GraphStore, group: str, prefix: str = "", max_names: int | None = None) -> NameIndex:
    """All names of the concepts of ``group`` (ids starting with ``prefix``) in ``store``.

    ``max_names`` keeps the preferred name and the first synonyms only (a smaller index to
    embed; every concept stays in it)."""
    check_group(group)
    index = NameIndex(group=group)
    for node in slice_concepts(store, [SliceSpec(text=f"group:{group}", groups=[group], prefix=prefix)]):
        names = mention_names(node)[:max_names]
        if not names:
            continue
        index.preferred[node[0]] = names[0]
        for name in names:
            index.names.append(name)
            index.ids.append(node[0])
    if not index.names:
        where = f" with ids starting {prefix!r}" if prefix else ""
        raise ConfigError(f"the graph has no named {group} concepts{where}: nothing to link to "
                          "(load a vocabulary first, e.g. `kgsynth load mesh`)")
    return index
