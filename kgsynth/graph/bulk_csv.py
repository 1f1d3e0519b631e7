"""Merged concepts and relations as ``neo4j-admin database import`` CSV files, written by DuckDB.

Two files: every node in ``nodes.csv`` with its labels in a ``:LABEL`` column
(``Concept`` plus the semantic group; ``Other`` gets ``Concept`` alone, as the
MERGE writer labels it), every relationship in ``relationships.csv`` with a
``:TYPE`` column, so each is one scan of its merged table (a file per label and
type was a scan each). Nodes are numbered 0..N-1 here and the files carry those
numbers as the importer's *actual* node ids (``--id-type=actual``), relationship
ends by number: the importer then keeps no id map of its own, which at 10^7
relationships was most of its time (relationship stage 35 s with string ids,
13 s with actual ones). The concept id is the ``id`` property. List properties
are ``string[]`` columns joined with U+001F, a control character no vocabulary
uses (a value that holds one is refused rather than silently split). Empty
values are left empty, which the importer stores as absent: readers treat an
absent list, name or novelty as empty, as the MERGE writer's relations already
rely on. The rows come from the merged tables of :mod:`kgsynth.loaders.bulk_merge`
and are written by DuckDB's ``COPY`` (all cores, no Python per row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kgsynth.errors import InputError
from kgsynth.graph.schema import CONCEPT_LABEL, RELATION_TYPES, SEMANTIC_GROUPS, cypher_identifier

ARRAY_DELIMITER = "\x1f"
ARRAY_DELIMITER_ARG = "U+001F"
NODE_HEADER = (":ID", ":LABEL", "id", "name", "group", "synonyms:string[]", "semantic_types:string[]",
               "xrefs:string[]", "provenance:string[]")
RELATION_HEADER = (":START_ID", ":END_ID", ":TYPE", "source_labels:string[]", "evidence:string[]", "novelty",
                   "provenance:string[]")
#: How the importer is told what the ``:ID`` columns hold.
ID_TYPE = "actual"


@dataclass
class CsvFiles:
    """The files written, as the importer's ``--nodes`` / ``--relationships`` arguments want them."""

    nodes: Path | None = None
    relationships: Path | None = None
    nodes_by_group: dict[str, int] = field(default_factory=dict)
    relations_by_type: dict[str, int] = field(default_factory=dict)
    multiline: bool = False  # some value holds a line break: the importer must be told
    bytes: int = 0

    def import_args(self) -> list[str]:
        args = [f"--id-type={ID_TYPE}"]
        if self.nodes is not None:
            args.append(f"--nodes={self.nodes}")
        if self.relationships is not None:
            args.append(f"--relationships={self.relationships}")
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


def _copy(con, select: str, path: Path, params: list | None = None) -> None:
    con.execute(f"COPY ({select}) TO '{path}' (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', "
                "ESCAPE '\"', NULL '')", params)


def _labels(group: str) -> str:
    return CONCEPT_LABEL if group == "Other" else f"{CONCEPT_LABEL}{ARRAY_DELIMITER}{group}"


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
    # Every node (concepts, then placeholders) gets its number; relationships join it for both ends.
    con.execute("CREATE OR REPLACE TABLE node_ids AS SELECT id, row_number() OVER () - 1 AS nid FROM "
                "(SELECT id FROM merged_concepts UNION ALL SELECT id FROM placeholders)")
    con.register("node_labels", _labels_table(groups))
    lists = ", ".join(f'{_joined("c." + c)} AS "{h}"' for c, h in zip(_LISTS["concept"], NODE_HEADER[5:],
                                                                       strict=True))
    if groups:
        out.nodes = folder / "nodes.csv"
        _copy(con, f"""SELECT n.nid AS "{NODE_HEADER[0]}", l.labels AS "{NODE_HEADER[1]}", c.id AS id,
                   nullif(c.name, '') AS name, c.grp AS "group", {lists}
            FROM merged_concepts c JOIN node_ids n USING (id) JOIN node_labels l USING (grp)
            UNION ALL SELECT n.nid, ?, p.id, NULL, 'Other', NULL, NULL, NULL, NULL
            FROM placeholders p JOIN node_ids n USING (id)""", out.nodes, [_labels("Other")])  # noqa: S608
    if types:
        out.relationships = folder / "relationships.csv"
        _copy(con, f"""SELECT s.nid AS "{RELATION_HEADER[0]}", o.nid AS "{RELATION_HEADER[1]}",
                   r.type AS "{RELATION_HEADER[2]}", {_joined("r.source_labels")} AS "{RELATION_HEADER[3]}",
                   {_joined("r.evidence")} AS "{RELATION_HEADER[4]}", nullif(r.novelty, '') AS novelty,
                   {_joined("r.provenance")} AS "{RELATION_HEADER[6]}"
            FROM merged_relations r JOIN node_ids s ON s.id = r.subject JOIN node_ids o ON o.id = r.object""",
              out.relationships)  # noqa: S608 - fixed SQL
    con.unregister("node_labels")
    con.execute("DROP TABLE node_ids")
    out.nodes_by_group = dict(sorted(groups.items()))
    out.relations_by_type = dict(sorted(types.items()))
    out.bytes = sum(p.stat().st_size for p in (out.nodes, out.relationships) if p is not None)
    return out


def _labels_table(groups: dict[str, int]):  # noqa: ANN202 - a pyarrow Table
    """Group -> its ``:LABEL`` value, joined in SQL (the group names are allowlisted above)."""
    import pyarrow as pa

    names = sorted(groups)
    return pa.table({"grp": pa.array(names, pa.string()), "labels": pa.array([_labels(g) for g in names],
                                                                              pa.string())})
