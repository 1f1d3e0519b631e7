"""Merged concepts and relations as ``neo4j-admin database import`` CSV files.

One node file per label (``Concept`` plus the semantic group; ``Other`` gets
``Concept`` alone, as the MERGE writer labels it) and one relationship file per
type, each with its own header line. List properties are ``string[]`` columns
joined with U+001F, a control character no vocabulary uses (a value that holds
one is refused rather than silently split). Empty values are left empty, which
the importer stores as absent: readers treat an absent list, name or novelty as
empty, as the MERGE writer's relations already rely on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from kgsynth.errors import InputError
from kgsynth.graph.schema import CONCEPT_LABEL, RELATION_TYPES, SEMANTIC_GROUPS, cypher_identifier
from kgsynth.loaders.bulk_merge import ConceptRow, RelationKey, RelationRow

ARRAY_DELIMITER = "\x1f"
ARRAY_DELIMITER_ARG = "U+001F"
NODE_HEADER = ("id:ID", "name", "group", "synonyms:string[]", "semantic_types:string[]", "xrefs:string[]",
               "provenance:string[]")
RELATION_HEADER = (":START_ID", ":END_ID", "source_labels:string[]", "evidence:string[]", "novelty",
                   "provenance:string[]")


@dataclass
class CsvFiles:
    """The files written, as the importer's ``--nodes`` / ``--relationships`` arguments want them."""

    nodes: dict[str, Path] = field(default_factory=dict)  # group -> file
    relationships: dict[str, Path] = field(default_factory=dict)  # type -> file
    nodes_by_group: dict[str, int] = field(default_factory=dict)
    relations_by_type: dict[str, int] = field(default_factory=dict)
    multiline: bool = False  # some value holds a line break: the importer must be told
    bytes: int = 0

    def import_args(self) -> list[str]:
        args = []
        for group, path in sorted(self.nodes.items()):
            labels = CONCEPT_LABEL if group == "Other" else f"{CONCEPT_LABEL}:{group}"
            args.append(f"--nodes={labels}={path}")
        for type_, path in sorted(self.relationships.items()):
            args.append(f"--relationships={type_}={path}")
        return args


def _joined(values: tuple[str, ...], what: str) -> str:
    if not values:
        return ""
    text = ARRAY_DELIMITER.join(values)
    if text.count(ARRAY_DELIMITER) != len(values) - 1:
        raise InputError(f"{what}: a value contains U+001F, which the bulk path uses as its list delimiter; "
                         "load this source with the MERGE loader (without --bulk)")
    return text


def _breaks(row: tuple[str, ...]) -> bool:
    text = "".join(row)
    return "\n" in text or "\r" in text


class _Files:
    """One open CSV writer per key, created with its header on first use."""

    def __init__(self, folder: Path, prefix: str, header: tuple[str, ...]) -> None:
        self.folder, self.prefix, self.header = folder, prefix, header
        self.handles: dict[str, tuple[IO[str], object]] = {}
        self.paths: dict[str, Path] = {}
        self.counts: dict[str, int] = {}

    def writer(self, key: str):
        entry = self.handles.get(key)
        if entry is None:
            path = self.folder / f"{self.prefix}-{key}.csv"
            handle = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(self.header)
            entry = self.handles[key] = (handle, writer)
            self.paths[key] = path
            self.counts[key] = 0
        self.counts[key] += 1
        return entry[1]

    def close(self) -> None:
        for handle, _ in self.handles.values():
            handle.close()


def write_csv(
    concepts: Iterable[tuple[str, ConceptRow]],
    relations: Iterable[tuple[RelationKey, RelationRow]],
    folder: Path,
) -> CsvFiles:
    """Write every concept and relation once; returns the files and their row counts."""
    folder.mkdir(parents=True, exist_ok=True)
    out = CsvFiles()
    multiline = False
    nodes = _Files(folder, "nodes", NODE_HEADER)
    try:
        for cid, (name, group, synonyms, types, xrefs, prov) in concepts:
            if group not in SEMANTIC_GROUPS:
                raise InputError(f"concept {cid}: unknown semantic group {group!r}")
            what = f"concept {cid}"
            row = (cid, name, group, _joined(synonyms, what), _joined(types, what), _joined(xrefs, what),
                   _joined(prov, what))
            if not multiline:
                multiline = _breaks(row)
            nodes.writer(group).writerow(row)
    finally:
        nodes.close()
    rels = _Files(folder, "relationships", RELATION_HEADER)
    try:
        for (subject, type_, object_), (labels, evidence, novelty, prov) in relations:
            writer = rels.writer(type_ if type_ in rels.paths else cypher_identifier(type_, RELATION_TYPES))
            what = f"relation {subject} {type_} {object_}"
            row = (subject, object_, _joined(labels, what), _joined(evidence, what), novelty, _joined(prov, what))
            if not multiline:
                multiline = _breaks(row)
            writer.writerow(row)
    finally:
        rels.close()
    out.nodes, out.nodes_by_group = nodes.paths, dict(sorted(nodes.counts.items()))
    out.relationships, out.relations_by_type = rels.paths, dict(sorted(rels.counts.items()))
    out.multiline = multiline
    out.bytes = sum(p.stat().st_size for p in [*nodes.paths.values(), *rels.paths.values()])
    return out
