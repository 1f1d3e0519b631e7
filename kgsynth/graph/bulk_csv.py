"""Merged concepts and relations as ``neo4j-admin database import`` CSV files, written by DuckDB.

One node file per label (``Concept`` plus the semantic group; ``Other`` gets
``Concept`` alone, as the MERGE writer labels it) and one relationship file per
type, each with its own header line. List properties are ``string[]`` columns
joined with U+001F, a control character no vocabulary uses (a value that holds
one is refused rather than silently split). Empty values are left empty, which
the importer stores as absent: readers treat an absent list, name or novelty as
empty, as the MERGE writer's relations already rely on. The rows come from the
merged tables of :mod:`kgsynth.loaders.bulk_merge` and are written by DuckDB's
``COPY`` (all cores, no Python per row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kgsynth.errors import InputError
from kgsynth.graph.schema import CONCEPT_LABEL, RELATION_TYPES, SEMANTIC_GROUPS, cypher_identifier

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


_LISTS = {"concept": ("synonyms", "semantic_types", "xrefs", "provenance"),
          "relation": ("source_labels", "evidence", "provenance")}


def _check(con) -> bool:
    """Refuse a list item holding the delimiter; True when some value holds a line break (one scan a table)."""
    tables = (("merged_concepts", "id", "concept", "id || name || grp"),
              ("merged_relations", "subject || ' ' || type || ' ' || object", "relation",
               "subject || object || novelty"))
    multiline = False
    for table, key, what, scalars in tables:
        # Items joined with U+001E: the joined text holds U+001F only if an item does.
        lists = " || chr(30) || ".join(f"array_to_string({c}, chr(30))" for c in _LISTS[what])
        text = f"{scalars} || {lists}"
        (delimiter, breaks), = con.execute(
            f"SELECT bool_or(contains({lists}, chr(31))), bool_or(contains({text}, chr(10)) "  # noqa: S608
            f"OR contains({text}, chr(13))) FROM {table}").fetchall()
        if delimiter:
            hit = con.execute(f"SELECT {key} FROM {table} WHERE contains({lists}, chr(31)) LIMIT 1").fetchall()  # noqa: S608
            raise InputError(f"{what} {hit[0][0]}: a value contains U+001F, which the bulk path uses as its list "
                             "delimiter; load this source with the MERGE loader (without --bulk)")
        multiline = multiline or bool(breaks)
    return multiline


def _joined(column: str) -> str:
    return f"nullif(array_to_string({column}, chr(31)), '')"


def _copy(con, select: str, path: Path) -> None:
    con.execute(f"COPY ({select}) TO '{path}' (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', "
                "ESCAPE '\"', NULL '')")


def write_csv(con, folder: Path) -> CsvFiles:
    """Write every merged concept, placeholder and relation once; returns the files and their row counts."""
    folder.mkdir(parents=True, exist_ok=True)
    out = CsvFiles()
    groups = dict(con.execute("SELECT grp, count(*) FROM merged_concepts GROUP BY grp").fetchall())
    placeholders = con.execute("SELECT count(*) FROM placeholders").fetchall()[0][0]
    for group in groups:
        if group not in SEMANTIC_GROUPS:
            bad = con.execute("SELECT id FROM merged_concepts WHERE grp = ? LIMIT 1", [group]).fetchall()[0][0]
            raise InputError(f"concept {bad}: unknown semantic group {group!r}")
    if placeholders:
        groups["Other"] = groups.get("Other", 0) + placeholders
    types = dict(con.execute("SELECT type, count(*) FROM merged_relations GROUP BY type").fetchall())
    for type_ in types:
        cypher_identifier(type_, RELATION_TYPES)
    out.multiline = _check(con)
    node_cols = (f'id AS "{NODE_HEADER[0]}", nullif(name, \'\') AS name, grp AS "group", '
                 + ", ".join(f'{_joined(c)} AS "{h}"' for c, h in zip(_LISTS["concept"], NODE_HEADER[3:],
                                                                       strict=True)))
    for group in sorted(groups):
        path = out.nodes[group] = folder / f"nodes-{group}.csv"
        select = f"SELECT {node_cols} FROM merged_concepts WHERE grp = '{group}'"  # noqa: S608 - allowlisted
        if group == "Other":
            select += " UNION ALL SELECT id, NULL, 'Other', NULL, NULL, NULL, NULL FROM placeholders"
        _copy(con, select, path)
    rel_cols = (f'subject AS "{RELATION_HEADER[0]}", object AS "{RELATION_HEADER[1]}", '
                f'{_joined("source_labels")} AS "{RELATION_HEADER[2]}", {_joined("evidence")} AS '
                f'"{RELATION_HEADER[3]}", nullif(novelty, \'\') AS novelty, {_joined("provenance")} AS '
                f'"{RELATION_HEADER[5]}"')
    for type_ in sorted(types):
        path = out.relationships[type_] = folder / f"relationships-{type_}.csv"
        _copy(con, f"SELECT {rel_cols} FROM merged_relations WHERE type = '{type_}'", path)  # noqa: S608
    out.nodes_by_group = dict(sorted(groups.items()))
    out.relations_by_type = dict(sorted(types.items()))
    out.bytes = sum(p.stat().st_size for p in [*out.nodes.values(), *out.relationships.values()])
    return out
