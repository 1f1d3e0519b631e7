"""The store's upsert rule applied across a whole input, in DuckDB (bounded memory, spills to disk).

``neo4j-admin database import`` needs every node once and every relationship once,
so the bulk path must fold all records of one id (or one subject/type/object
triple) before it writes a CSV row, exactly as a sequence of MERGE batches would:
lists gain new items in first-seen order, the first non-empty name and novelty
stay, a specific group replaces ``Other``, an endpoint that is no concept becomes
a bare placeholder. Every record gets a sequence number in input order and lands
in a DuckDB table (in memory, capped at :data:`MEMORY_LIMIT`, spilling to files under ``workdir``
beyond it); :meth:`BulkMerger.finish` folds each key's rows in sequence order with SQL
(:data:`_MERGE_SQL`), on all cores. Records arrive from the loaders' Python
streams (:meth:`BulkMerger.add`) or, for inputs read natively, straight into a
table of the same shape (:meth:`BulkMerger.relation_table`, the UMLS MRREL reader
of :mod:`kgsynth.loaders.umls_bulk`): one merge rule for both.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgsynth.errors import ConfigError
from kgsynth.graph.model import Concept, Relation

try:
    import duckdb
    import pyarrow as pa
except ImportError as exc:  # the optional `bulk` extra
    raise ConfigError(f"--bulk needs DuckDB and pyarrow ({exc.name} is not installed): "
                      "pip install 'kgsynth[bulk]'") from exc

#: (name, group, synonyms, semantic_types, xrefs, provenance keys)
ConceptRow = tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]
#: (source_labels, evidence, novelty, provenance keys)
RelationRow = tuple[tuple[str, ...], tuple[str, ...], str, tuple[str, ...]]
RelationKey = tuple[str, str, str]

#: Records buffered in Python before they go to DuckDB as one Arrow batch.
DEFAULT_CHUNK_RECORDS = 50_000
#: DuckDB's memory cap; above it, it spills to ``workdir``. 300 MB keeps the loader's peak RSS at 10^7
#: relations within 1.5x of its 10^6 figure (886 vs 604 MB measured; 700 MB gave 1,219 vs 652), ~5% slower.
MEMORY_LIMIT = "300MB"

_STRINGS = pa.list_(pa.string())
CONCEPT_SCHEMA = pa.schema([("seq", pa.int64()), ("id", pa.string()), ("name", pa.string()), ("grp", pa.string()),
                            ("synonyms", _STRINGS), ("semantic_types", _STRINGS), ("xrefs", _STRINGS),
                            ("provenance", _STRINGS)])
RELATION_SCHEMA = pa.schema([("seq", pa.int64()), ("subject", pa.string()), ("type", pa.string()),
                             ("object", pa.string()), ("source_labels", _STRINGS), ("evidence", _STRINGS),
                             ("novelty", pa.string()), ("provenance", _STRINGS)])

# Ordered distinct of a list: an item stays where it first occurs (``merge_lists``).
_MACROS = "CREATE MACRO odistinct(l) AS list_filter(l, lambda x, i: list_position(l, x) = i);"

# The upsert rule over all rows of a key, in input (``seq``) order. Most keys occur once:
# their rows are kept as they came (no list work); only the keys seen more than once
# (found by a GROUP BY over the key columns alone) are folded, their rows sorted by seq.
_MERGE_SQL = """
CREATE TABLE dup_concepts AS SELECT id FROM ({concepts}) GROUP BY id HAVING count(*) > 1;
CREATE TABLE merged_concepts AS
SELECT id, name, grp, synonyms, semantic_types, xrefs, provenance
FROM ({concepts}) c ANTI JOIN dup_concepts d USING (id)
UNION ALL
SELECT id,
       coalesce(arg_min(name, seq) FILTER (WHERE name <> ''), '') AS name,
       coalesce(arg_min(grp, seq) FILTER (WHERE grp <> 'Other'), 'Other') AS grp,
       odistinct(flatten(list(synonyms ORDER BY seq))) AS synonyms,
       odistinct(flatten(list(semantic_types ORDER BY seq))) AS semantic_types,
       odistinct(flatten(list(xrefs ORDER BY seq))) AS xrefs,
       odistinct(flatten(list(provenance ORDER BY seq))) AS provenance
FROM ({concepts}) c SEMI JOIN dup_concepts d USING (id) GROUP BY id;

CREATE TABLE dup_relations AS
SELECT subject, type, object FROM ({relations}) GROUP BY subject, type, object HAVING count(*) > 1;
CREATE TABLE merged_relations AS
SELECT subject, type, object, source_labels, evidence, novelty, provenance
FROM ({relations}) r ANTI JOIN dup_relations d USING (subject, type, object)
UNION ALL
SELECT subject, type, object,
       odistinct(flatten(list(source_labels ORDER BY seq))) AS source_labels,
       odistinct(flatten(list(evidence ORDER BY seq))) AS evidence,
       coalesce(arg_min(novelty, seq) FILTER (WHERE novelty <> ''), '') AS novelty,
       odistinct(flatten(list(provenance ORDER BY seq))) AS provenance
FROM ({relations}) r SEMI JOIN dup_relations d USING (subject, type, object) GROUP BY subject, type, object;

CREATE TABLE placeholders AS
SELECT e.id FROM (SELECT subject AS id FROM merged_relations UNION SELECT object FROM merged_relations) e
ANTI JOIN merged_concepts c ON c.id = e.id;
"""


@dataclass
class MergeStats:
    """What the merge saw: records in, folds, and what came out."""

    concept_records: int = 0
    relation_records: int = 0
    merged: int = 0
    spill_bytes: int = 0
    concepts: int = 0
    placeholders: int = 0
    relations: int = 0


def connect(workdir: Path, memory_limit: str = MEMORY_LIMIT):
    """An in-memory DuckDB, memory capped, spilling under ``workdir``, on all cores."""
    workdir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:")
    tmp = workdir / "spill"
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{tmp}'")
    con.execute(f"SET threads = {max(os.cpu_count() or 1, 1)}")
    con.execute("SET preserve_insertion_order = false")
    con.execute(_MACROS)
    return con


@dataclass
class BulkMerger:
    """Collect records (with their input order) in DuckDB; fold them with the upsert rule on :meth:`finish`."""

    workdir: Path
    chunk_records: int = DEFAULT_CHUNK_RECORDS
    memory_limit: str = MEMORY_LIMIT
    stats: MergeStats = field(default_factory=MergeStats)

    def __post_init__(self) -> None:
        self.con = connect(self.workdir, self.memory_limit)
        self.con.execute("CREATE TABLE concepts (seq BIGINT, id VARCHAR, name VARCHAR, grp VARCHAR, "
                         "synonyms VARCHAR[], semantic_types VARCHAR[], xrefs VARCHAR[], provenance VARCHAR[])")
        self.con.execute("CREATE TABLE relations (seq BIGINT, subject VARCHAR, type VARCHAR, object VARCHAR, "
                         "source_labels VARCHAR[], evidence VARCHAR[], novelty VARCHAR, provenance VARCHAR[])")
        self._seq = 0
        self._concepts: list[tuple] = []
        self._relations: list[tuple] = []
        self._concept_tables = ["concepts"]
        self._relation_tables = ["relations"]
        self._prov: dict[int, tuple[Any, str]] = {}  # id(Provenance) -> (object kept alive, key)
        self._finished = False

    # -- input --------------------------------------------------------------------
    def _prov_keys(self, provenance: list) -> list[str]:
        keys = []
        for p in provenance:
            hit = self._prov.get(id(p))
            if hit is None:
                if len(self._prov) > 10_000:  # loaders share a few objects; a stream of fresh ones must not grow
                    self._prov.clear()
                hit = self._prov[id(p)] = (p, p.key())
            keys.append(hit[1])
        return keys

    def reserve(self, n: int) -> int:
        """``n`` consecutive sequence numbers for records added in bulk; returns the first."""
        self._flush()
        first, self._seq = self._seq + 1, self._seq + n
        return first

    def add(self, record: Concept | Relation) -> None:
        self._seq += 1
        if isinstance(record, Relation):
            self.stats.relation_records += 1
            self._relations.append((self._seq, record.subject, record.type, record.object, record.source_labels,
                                    record.evidence, record.novelty, self._prov_keys(record.provenance)))
        else:
            self.stats.concept_records += 1
            self._concepts.append((self._seq, record.id, record.name, record.group, record.synonyms,
                                   record.semantic_types, record.xrefs, self._prov_keys(record.provenance)))
        if len(self._concepts) + len(self._relations) >= self.chunk_records:
            self._flush()

    def add_all(self, records: Iterable[Concept | Relation]) -> None:
        for record in records:
            self.add(record)

    def concept_table(self, name: str, rows: int) -> None:
        """A table ``name`` of :data:`CONCEPT_SCHEMA` rows (seq from :meth:`reserve`) joins the merge."""
        self.stats.concept_records += rows
        self._concept_tables.append(name)

    def relation_table(self, name: str, rows: int) -> None:
        """A table ``name`` of :data:`RELATION_SCHEMA` rows (seq from :meth:`reserve`) joins the merge."""
        self.stats.relation_records += rows
        self._relation_tables.append(name)

    def _flush(self) -> None:
        for rows, schema, table in ((self._concepts, CONCEPT_SCHEMA, "concepts"),
                                    (self._relations, RELATION_SCHEMA, "relations")):
            if rows:
                columns = zip(*rows, strict=True)
                batch = pa.Table.from_arrays([pa.array(col, type=f.type) for col, f in zip(columns, schema,
                                                                                          strict=True)],
                                             schema=schema)
                self.con.register("_batch", batch)
                self.con.execute(f"INSERT INTO {table} SELECT * FROM _batch")  # noqa: S608 - fixed names
                self.con.unregister("_batch")
                rows.clear()

    # -- output -------------------------------------------------------------------
    def finish(self) -> MergedGraph:
        """Close the input and fold every key's rows; the merged tables stay in the database."""
        self._flush()
        concepts, relations = (" UNION ALL ".join(f"SELECT * FROM {t}" for t in tables)  # noqa: S608
                               for tables in (self._concept_tables, self._relation_tables))
        self.con.execute(_MERGE_SQL.format(concepts=concepts, relations=relations))
        concepts, relations_out, placeholders = (
            self.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]  # noqa: S608 - fixed names
            for t in ("merged_concepts", "merged_relations", "placeholders"))
        self.stats.concepts, self.stats.relations, self.stats.placeholders = concepts, relations_out, placeholders
        self.stats.merged = (self.stats.concept_records - concepts) + (self.stats.relation_records - relations_out)
        for table in (*self._concept_tables, *self._relation_tables):
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
        self._finished = True
        return MergedGraph(self.con)

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.workdir.rglob("*") if p.is_file()) if self.workdir.exists() else 0

    def cleanup(self) -> None:
        """Close the database and remove its files (safe to call twice)."""
        if self.con is not None:
            self.con.close()
            self.con = None
        shutil.rmtree(self.workdir, ignore_errors=True)


class MergedGraph:
    """The merged records in DuckDB: ``merged_concepts``, ``placeholders``, ``merged_relations``."""

    def __init__(self, con) -> None:
        self.con = con

    def concepts(self) -> Iterator[tuple[str, ConceptRow]]:
        """Every concept id with its folded row, then relation endpoints that are no concept as placeholders."""
        for cid, name, grp, syn, types, xrefs, prov in self.con.execute(
                "SELECT * FROM merged_concepts ORDER BY id").fetchall():
            yield cid, (name, grp, tuple(syn), tuple(types), tuple(xrefs), tuple(prov))
        for (cid,) in self.con.execute("SELECT id FROM placeholders ORDER BY id").fetchall():
            yield cid, ("", "Other", (), (), (), ())

    def relations(self) -> Iterator[tuple[RelationKey, RelationRow]]:
        for s, t, o, labels, ev, novelty, prov in self.con.execute(
                "SELECT * FROM merged_relations ORDER BY subject, type, object").fetchall():
            yield (s, t, o), (tuple(labels), tuple(ev), novelty, tuple(prov))
