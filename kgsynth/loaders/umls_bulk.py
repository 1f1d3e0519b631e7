"""MRREL.RRF read natively for the bulk path: Arrow's CSV reader and DuckDB SQL, no Python per row.

MRREL is where a full UMLS has its tens of millions of rows; parsing them one by
one in Python (:meth:`UmlsLoader._relations`) is most of a bulk load's time. This
reader gives the same relations, skip counts and unknown labels for a *clean*
file, in the same input order (sequence numbers), into a table the bulk merger
folds with everything else. Clean means: every row well formed as the Python
reader checks it (UTF-8, no NUL or stray CR, 17 fields with the trailing ``|``,
CUIs ``C`` + 7 digits, a REL). The first sign of anything else drops what it
read and returns ``False``: the caller then runs the Python reader, whose errors
(``file, line N``), ``--skip-bad`` counts and rejects file are the MERGE path's.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from pyarrow import csv as pacsv

from kgsynth import inputs
from kgsynth.graph.schema import GENERIC_RELATION
from kgsynth.loaders.base import LoadContext

if TYPE_CHECKING:
    from kgsynth.loaders.bulk_merge import BulkMerger
    from kgsynth.loaders.umls import UmlsLoader

_TABLE = "umls_mrrel"
_BLOCK = 8 << 20  # bytes per parsed block; a longer line makes Arrow fail and the Python reader decide
_USED = ("CUI1", "REL", "CUI2", "RELA", "SAB", "SUPPRESS", "END")


def _clean_bytes(path: Path) -> bool:
    """A regular, non-empty file with no NUL, no CR, no byte-order mark, ending in a newline."""
    if inputs.check_file(path) != "file" or path.stat().st_size == 0:
        return False
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return (data[-1:] == b"\n" and not data[:4].startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff",
                                                                  b"\x00\x00\xfe\xff"))
                and data.find(b"\0") < 0 and data.find(b"\r") < 0)


def _batches(path: Path, columns: tuple[str, ...]):
    names = [*columns, "END"]
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=names, block_size=_BLOCK, use_threads=True),
        parse_options=pacsv.ParseOptions(delimiter="|", quote_char=False, escape_char=False,
                                         newlines_in_values=False, ignore_empty_lines=True),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                             include_columns=list(_USED), strings_can_be_null=False,
                                             quoted_strings_can_be_null=False),
    )


# Why a well-formed row is left out, in the Python reader's order of checks; NULL: loaded.
_REASON = """
CASE WHEN {sab_filter} THEN 'SAB filtered'
     WHEN {suppress_filter} THEN 'suppressed'
     WHEN rel IN (SELECT rel FROM umls_skip_rel) AND rela = '' THEN 'REL ' || rel || ' not loaded'
     WHEN cui1 = cui2 THEN 'self relation'
     WHEN cui1 NOT IN (SELECT cui FROM umls_kept) OR cui2 NOT IN (SELECT cui FROM umls_kept)
       THEN 'endpoint not loaded'
END"""

_BAD = ("tail <> '' OR rel = '' OR NOT regexp_full_match(cui1, 'C[0-9]{7}') "
        "OR NOT regexp_full_match(cui2, 'C[0-9]{7}')")


def read_mrrel(loader: UmlsLoader, ctx: LoadContext, merger: BulkMerger) -> bool:
    """Load MRREL.RRF into ``merger`` natively; False (nothing changed) when the Python reader must do it."""
    from kgsynth.loaders.umls import MRREL_COLUMNS, _mapping_of

    path = loader.dir / "MRREL.RRF"
    if not _clean_bytes(path):
        return False
    con = merger.con
    con.execute("CREATE TABLE umls_raw (seq BIGINT, cui1 VARCHAR, rel VARCHAR, cui2 VARCHAR, rela VARCHAR, "
                "sab VARCHAR, suppress VARCHAR, tail VARCHAR)")
    try:
        rows = 0
        for batch in _batches(path, MRREL_COLUMNS):
            table = pa.Table.from_batches([batch]).select(list(_USED))
            table = table.add_column(0, "seq", pa.array(np.arange(rows, rows + batch.num_rows, dtype=np.int64)))
            con.register("_raw", table)
            con.execute("INSERT INTO umls_raw SELECT * FROM _raw")
            con.unregister("_raw")
            rows += batch.num_rows
        if not rows or con.execute(f"SELECT 1 FROM umls_raw WHERE {_BAD} LIMIT 1").fetchall():  # noqa: S608
            return _drop(con, False)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return _drop(con, False)
    ctx.opened(path)
    ctx.read(rows)
    con.register("umls_kept", pa.table({"cui": pa.array(sorted(loader._kept), pa.string())}))
    con.register("umls_skip_rel", pa.table({"rel": pa.array(sorted(loader.skip_rel), pa.string())}))
    con.register("umls_sabs", pa.table({"sab": pa.array(sorted(loader.sabs), pa.string())}))
    reason = _REASON.format(
        sab_filter="sab NOT IN (SELECT sab FROM umls_sabs)" if loader.sabs else "false",
        suppress_filter="false" if loader.include_suppressed else "suppress IN ('O', 'E', 'Y')",
    )
    con.execute(f"CREATE TABLE umls_cls AS SELECT seq, cui1, cui2, CASE WHEN rela <> '' THEN 'RELA' ELSE 'REL' "
                f"END AS scheme, CASE WHEN rela <> '' THEN rela ELSE rel END AS label, {reason} AS reason "
                "FROM umls_raw")  # noqa: S608 - fixed SQL, values in registered tables
    con.execute("DROP TABLE umls_raw")
    for why, n in con.execute("SELECT reason, count(*) FROM umls_cls WHERE reason IS NOT NULL GROUP BY reason "
                              "ORDER BY min(seq)").fetchall():
        ctx.skip(why, n)
    labels = con.execute("SELECT scheme, label, count(*) FROM umls_cls WHERE reason IS NULL "
                         "GROUP BY scheme, label ORDER BY min(seq)").fetchall()
    mapping = {"scheme": [], "label": [], "type": [], "flip": [], "source_label": []}
    for scheme, label, n in labels:
        type_, flip, source_label = _mapping_of(scheme, label)
        if type_ is None:
            ctx.unknown_labels[source_label] += n
            type_ = GENERIC_RELATION
        for key, value in zip(mapping, (scheme, label, type_, flip, source_label), strict=True):
            mapping[key].append(value)
    con.register("umls_map", pa.table(mapping))
    first = merger.reserve(rows)
    prov = loader._prov("MRREL.RRF").key()
    # REL/RELA is "the relationship of the second concept to the first": CUI2 <label> CUI1 unless flipped.
    con.execute(f"""CREATE TABLE {_TABLE} AS
        SELECT c.seq + ? AS seq,
               'UMLS:' || CASE WHEN m.flip THEN c.cui1 ELSE c.cui2 END AS subject, m.type AS type,
               'UMLS:' || CASE WHEN m.flip THEN c.cui2 ELSE c.cui1 END AS object,
               [m.source_label] AS source_labels, []::VARCHAR[] AS evidence, '' AS novelty,
               [?]::VARCHAR[] AS provenance
        FROM umls_cls c JOIN umls_map m ON c.scheme = m.scheme AND c.label = m.label
        WHERE c.reason IS NULL""", [first, prov])  # noqa: S608 - fixed names
    loaded = con.execute(f"SELECT count(*) FROM {_TABLE}").fetchall()[0][0]  # noqa: S608
    for name in ("umls_kept", "umls_skip_rel", "umls_sabs", "umls_map"):
        con.unregister(name)
    con.execute("DROP TABLE umls_cls")
    merger.relation_table(_TABLE, loaded)
    return True


def _drop(con, result: bool) -> bool:
    con.execute("DROP TABLE IF EXISTS umls_raw")
    return result
