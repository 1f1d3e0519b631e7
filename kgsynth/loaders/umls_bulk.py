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
_SCAN_CHUNK = 1 << 20  # bytes per read of the clean-file scan
#: Bytes per parsed block: 8 MB cost ~330 MB more RSS at 10^7 MRREL rows (batches in flight in the stream).
#: A longer line makes Arrow fail and the Python reader decide.
_BLOCK = 2 << 20


def _clean_bytes(path: Path) -> bool:
    """A regular, non-empty file with no NUL, no CR, no byte-order mark, ending in a newline.

    Read in chunks, not mapped: a mapped 700 MB MRREL counts in full in the loader's RSS.
    """
    if inputs.check_file(path) != "file" or path.stat().st_size == 0:
        return False
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
            return False
        chunk, last = head, head
        while chunk:
            if b"\0" in chunk or b"\r" in chunk:
                return False
            last = chunk
            chunk = handle.read(_SCAN_CHUNK)
        return last.endswith(b"\n")


def _read_raw(con, path: Path, columns: tuple[str, ...], used: tuple[str, ...], table: str,
              select: str = "*") -> int | None:
    """``select`` over the ``used`` columns of an RRF file (plus ``seq``, the row's input order) into ``table``.

    One ``CREATE TABLE ... AS`` scanning Arrow's batches as a stream: the raw rows are
    never a table of their own (building one cost most of the read at 10^7 rows).
    The trailing ``|`` makes an extra, empty column, read as ``tail``. None if unparseable.
    """
    names = [*columns, "tail"]
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=names, block_size=_BLOCK, use_threads=True),
        parse_options=pacsv.ParseOptions(delimiter="|", quote_char=False, escape_char=False,
                                         newlines_in_values=False, ignore_empty_lines=True),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                             include_columns=[*used, "tail"], strings_can_be_null=False,
                                             quoted_strings_can_be_null=False),
    )
    schema = pa.schema([("seq", pa.int64()), *((c, pa.string()) for c in (*used, "tail"))])
    state = {"rows": 0, "failed": False}

    def batches():
        try:
            for batch in reader:
                rows = state["rows"]
                yield pa.RecordBatch.from_arrays(
                    [pa.array(np.arange(rows, rows + batch.num_rows, dtype=np.int64)),
                     *(batch.column(c) for c in (*used, "tail"))], schema=schema)
                state["rows"] = rows + batch.num_rows
        except (pa.ArrowInvalid, UnicodeDecodeError):
            state["failed"] = True  # ends the stream; the table is dropped below

    con.register("_raw", pa.RecordBatchReader.from_batches(schema, batches()))
    try:
        con.execute(f"CREATE TABLE {table} AS SELECT {select} FROM _raw")  # noqa: S608 - fixed SQL
    finally:
        con.unregister("_raw")
    if state["failed"]:
        con.execute(f"DROP TABLE {table}")
        return None
    return state["rows"]


# Why a well-formed row is left out, in the Python reader's order of checks; NULL: loaded.
_REASON = """
CASE WHEN {sab_filter} THEN 'SAB filtered'
     WHEN {suppress_filter} THEN 'suppressed'
     WHEN rel IN (SELECT rel FROM umls_skip_rel) AND rela = '' THEN 'REL ' || rel || ' not loaded'
     WHEN cui1 = cui2 THEN 'self relation'
     WHEN cui1 NOT IN (SELECT cui FROM umls_kept) OR cui2 NOT IN (SELECT cui FROM umls_kept)
       THEN 'endpoint not loaded'
END"""

_BAD = ("tail <> '' OR REL = '' OR NOT regexp_full_match(CUI1, 'C[0-9]{7}') "
        "OR NOT regexp_full_match(CUI2, 'C[0-9]{7}')")
_BAD_ROW = "malformed row"  # a sentinel no reason of _REASON can be


def read_mrrel(loader: UmlsLoader, ctx: LoadContext, merger: BulkMerger) -> bool:
    """Load MRREL.RRF into ``merger`` natively; False (nothing changed) when the Python reader must do it."""
    from kgsynth.loaders.umls import MRREL_COLUMNS, _mapping_of

    path = loader.dir / "MRREL.RRF"
    if not _clean_bytes(path):
        return False
    con = merger.con
    kept_table = _has_table(con, "umls_kept")
    if not kept_table:
        con.register("umls_kept", pa.table({"cui": pa.array(sorted(loader._kept), pa.string())}))
    con.register("umls_skip_rel", pa.table({"rel": pa.array(sorted(loader.skip_rel), pa.string())}))
    con.register("umls_sabs", pa.table({"sab": pa.array(sorted(loader.sabs), pa.string())}))
    registered = ["umls_skip_rel", "umls_sabs", *(() if kept_table else ("umls_kept",))]
    reason = _REASON.format(
        sab_filter="sab NOT IN (SELECT sab FROM umls_sabs)" if loader.sabs else "false",
        suppress_filter="false" if loader.include_suppressed else "suppress IN ('O', 'E', 'Y')",
    )
    # Classified as it is read; a malformed row gets the reason _BAD_ROW and sends the file to Python.
    select = (f"seq, cui1, cui2, CASE WHEN rela <> '' THEN 'RELA' ELSE 'REL' END AS scheme, "
              f"CASE WHEN rela <> '' THEN rela ELSE rel END AS label, "
              f"CASE WHEN {_BAD} THEN '{_BAD_ROW}' ELSE {reason} END AS reason")
    try:
        rows = _read_raw(con, path, MRREL_COLUMNS, ("CUI1", "REL", "CUI2", "RELA", "SAB", "SUPPRESS"), "umls_cls",
                         select)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        rows = None
    if not rows or con.execute("SELECT 1 FROM umls_cls WHERE reason = ? LIMIT 1", [_BAD_ROW]).fetchall():
        for name in registered:
            con.unregister(name)
        return _drop(con, False, "umls_cls")
    ctx.opened(path)
    ctx.read(rows)
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
    for name in (*registered, "umls_map"):
        con.unregister(name)
    con.execute("DROP TABLE IF EXISTS umls_kept")
    con.execute("DROP TABLE umls_cls")
    merger.relation_table(_TABLE, loaded)
    return True


def _has_table(con, name: str) -> bool:
    return bool(con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall())


def kept_cuis(loader: UmlsLoader, merger: BulkMerger) -> set[str]:
    """The CUIs :func:`read_concepts` kept, as the Python MRREL reader wants them (``loader._kept``)."""
    if not _has_table(merger.con, "umls_kept"):
        return loader._kept
    kept = set(merger.con.execute("SELECT cui FROM umls_kept").fetchnumpy()["cui"].tolist())
    merger.con.execute("DROP TABLE umls_kept")
    return kept


def _drop(con, result: bool, *tables: str) -> bool:
    for table in tables:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return result


_BAD_CONSO = "tail <> '' OR NOT regexp_full_match(CUI, 'C[0-9]{7}')"
_BAD_STY = "tail <> '' OR NOT regexp_full_match(CUI, 'C[0-9]{7}') OR NOT regexp_full_match(TUI, 'T[0-9]{3}')"
_CONCEPTS = "umls_concepts"
_SAME_AS = "umls_same_as"

# One concept per CUI, as ``UmlsLoader._concept`` folds its MRCONSO rows (the kept ones, in file
# order), with its MRSTY types as ``_typed`` and ``merge_record`` add them.
_CONCEPT_SQL = """
CREATE TABLE umls_names AS
SELECT CUI AS cui, min(k.seq) AS first, count(*) AS n,
       coalesce(arg_min(STR, k.seq) FILTER (WHERE TS = 'P' AND STT = 'PF' AND ISPREF = 'Y'),
                arg_min(STR, k.seq)) AS name,
       odistinct(coalesce(list(STR ORDER BY k.seq) FILTER (WHERE STR <> ''), [])) AS names,
       odistinct(coalesce(list(x.xref ORDER BY k.seq) FILTER (WHERE x.xref IS NOT NULL), [])) AS xrefs
FROM umls_conso k LEFT JOIN umls_xref x ON x.sab = k.SAB AND x.code = k.CODE
WHERE k.reason IS NULL GROUP BY CUI;

CREATE TABLE umls_types AS
SELECT CUI AS cui, count(*) AS n,
       odistinct(list(CASE WHEN STY <> '' THEN STY ELSE TUI END ORDER BY seq)) AS semantic_types,
       coalesce(arg_min(g.grp, g.rank), 'Other') AS grp
FROM umls_sty s LEFT JOIN umls_tui_groups g USING (TUI)
WHERE CUI IN (SELECT cui FROM umls_names) GROUP BY CUI;
"""


def _flag_list(values) -> pa.Table:
    return pa.table({"v": pa.array(sorted(values), pa.string())})


def read_concepts(loader: UmlsLoader, ctx: LoadContext, merger: BulkMerger) -> bool:
    """MRCONSO (+ MRSTY) into ``merger`` natively, setting ``loader._kept``; False when Python must do it.

    Only for clean files read side by side (both in CUI order, as NLM ships them): the
    other layouts and any bad row go to :meth:`UmlsLoader._concept_records`.
    """
    from kgsynth.loaders.identity import IDENTITY_PREFIXES, normalize_prefix, normalize_xref
    from kgsynth.loaders.umls import (
        _GROUP_ORDER,
        _NOT_LOADED,
        _SAB_PREFIX,
        MRCONSO_COLUMNS,
        MRSTY_COLUMNS,
        TUI_GROUPS,
        _in_cui_order,
        _present,
    )

    conso, sty = loader.dir / "MRCONSO.RRF", loader.dir / "MRSTY.RRF"
    has_sty = _present(sty)
    if not _clean_bytes(conso) or (has_sty and not (_clean_bytes(sty) and _in_cui_order(conso)
                                                    and _in_cui_order(sty))):
        return False
    con = merger.con
    tables = ("umls_conso", "umls_sty", "umls_names", "umls_types", _CONCEPTS, _SAME_AS)
    try:
        rows = _read_raw(con, conso, MRCONSO_COLUMNS, ("CUI", "LAT", "TS", "STT", "ISPREF", "SAB", "CODE", "STR",
                                                       "SUPPRESS"), "umls_conso")
        sty_rows = (_read_raw(con, sty, MRSTY_COLUMNS, ("CUI", "TUI", "STY"), "umls_sty") if has_sty
                    else 0)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        rows = sty_rows = None
    if (not rows or sty_rows is None or (has_sty and not sty_rows)
            or con.execute(f"SELECT 1 FROM umls_conso WHERE {_BAD_CONSO} LIMIT 1").fetchall()  # noqa: S608
            or (has_sty and con.execute(f"SELECT 1 FROM umls_sty WHERE {_BAD_STY} LIMIT 1").fetchall())):  # noqa: S608
        return _drop(con, False, *tables)
    if not has_sty:
        con.execute("CREATE TABLE umls_sty (seq BIGINT, CUI VARCHAR, TUI VARCHAR, STY VARCHAR)")
    else:
        ctx.opened(sty)  # the Python reader opens MRSTY first (to have its first group at hand)
    ctx.opened(conso)
    ctx.read(rows + sty_rows)

    # Filters, in the Python reader's order.
    for name, values in (("umls_langs", loader.languages), ("umls_sabs", loader.sabs)):
        con.register(name, _flag_list(values))
    con.execute(f"""ALTER TABLE umls_conso ADD COLUMN reason VARCHAR;
        UPDATE umls_conso SET reason = CASE
          WHEN {'LAT NOT IN (SELECT v FROM umls_langs)' if loader.languages else 'false'} THEN 'language filtered'
          WHEN {'SAB NOT IN (SELECT v FROM umls_sabs)' if loader.sabs else 'false'} THEN 'SAB filtered'
          WHEN {'false' if loader.include_suppressed else "SUPPRESS IN ('O', 'E', 'Y')"} THEN 'suppressed'
        END""")  # noqa: S608 - fixed SQL, values in registered tables
    for why, n in con.execute("SELECT reason, count(*) FROM umls_conso WHERE reason IS NOT NULL "
                              "GROUP BY reason").fetchall():
        ctx.skip(why, n)

    # xrefs: normalize_xref on each distinct (SAB, CODE) pair whose SAB names a known prefix.
    sabs = [sab for (sab,) in con.execute("SELECT DISTINCT SAB FROM umls_conso WHERE reason IS NULL").fetchall()
            if normalize_prefix(_SAB_PREFIX.get(sab, sab)) is not None]
    con.register("umls_xref_sabs", _flag_list(sabs))
    pairs = con.execute("SELECT DISTINCT SAB, CODE FROM umls_conso WHERE reason IS NULL AND CODE <> '' "
                        "AND CODE <> 'NOCODE' AND SAB IN (SELECT v FROM umls_xref_sabs)").fetchall()
    xref = {"sab": [], "code": [], "xref": []}
    for sab, code in pairs:
        for key, value in zip(xref, (sab, code, normalize_xref(_SAB_PREFIX.get(sab, sab), code)), strict=True):
            xref[key].append(value)
    con.register("umls_xref", pa.table({k: pa.array(v, pa.string()) for k, v in xref.items()}))
    rank = {g: i for i, g in enumerate(_GROUP_ORDER)}
    con.register("umls_tui_groups", pa.table({
        "TUI": pa.array(list(TUI_GROUPS), pa.string()), "grp": pa.array(list(TUI_GROUPS.values()), pa.string()),
        "rank": pa.array([rank[g] for g in TUI_GROUPS.values()], pa.int32())}))
    con.execute(_CONCEPT_SQL)
    (concepts, folded), = con.execute("SELECT count(*), coalesce(sum(n - 1), 0) FROM umls_names").fetchall()
    (typed, sty_folded), = con.execute("SELECT count(*), coalesce(sum(n - 1), 0) FROM umls_types").fetchall()
    ctx.merged += int(folded) + int(sty_folded)
    ctx.skip(_NOT_LOADED, sty_rows - con.execute("SELECT coalesce(sum(n), 0) FROM umls_types").fetchall()[0][0])

    conso_prov, sty_prov = loader._prov("MRCONSO.RRF").key(), loader._prov("MRSTY.RRF").key()
    first = merger.reserve(concepts)
    con.execute(f"""CREATE TABLE {_CONCEPTS} AS
        SELECT ? + row_number() OVER (ORDER BY c.first) - 1 AS seq, 'UMLS:' || c.cui AS id, c.name,
               coalesce(t.grp, 'Other') AS grp, list_filter(c.names, lambda x: x <> c.name) AS synonyms,
               coalesce(t.semantic_types, []::VARCHAR[]) AS semantic_types, c.xrefs,
               CASE WHEN t.cui IS NULL THEN [?] ELSE [?, ?] END::VARCHAR[] AS provenance
        FROM umls_names c LEFT JOIN umls_types t USING (cui)""", [first, conso_prov, conso_prov, sty_prov])
    con.register("umls_identity", _flag_list(IDENTITY_PREFIXES))
    edges = con.execute("""SELECT count(*) FROM (SELECT 'UMLS:' || cui AS id, unnest(xrefs) AS xref
        FROM umls_names) WHERE xref <> id AND split_part(xref, ':', 1) IN (SELECT v FROM umls_identity)""").fetchall()
    first_edge = merger.reserve(edges[0][0])
    con.execute(f"""CREATE TABLE {_SAME_AS} AS
        SELECT ? + row_number() OVER (ORDER BY first, pos) - 1 AS seq, id AS subject, 'SAME_AS' AS type,
               xref AS object, ['XREF:xref'] AS source_labels, []::VARCHAR[] AS evidence, '' AS novelty,
               [?]::VARCHAR[] AS provenance
        FROM (SELECT first, 'UMLS:' || cui AS id, unnest(xrefs) AS xref, generate_subscripts(xrefs, 1) AS pos
              FROM umls_names)
        WHERE xref <> id AND split_part(xref, ':', 1) IN (SELECT v FROM umls_identity)""",
                [first_edge, conso_prov])
    # The kept CUIs stay in DuckDB for the MRREL reader; a Python set only if the Python one needs it.
    con.execute("CREATE TABLE umls_kept AS SELECT cui FROM umls_names")
    loader._kept = set()
    for name in ("umls_langs", "umls_sabs", "umls_xref_sabs", "umls_xref", "umls_tui_groups", "umls_identity"):
        con.unregister(name)
    for table in ("umls_conso", "umls_sty", "umls_names", "umls_types"):
        con.execute(f"DROP TABLE {table}")
    merger.concept_table(_CONCEPTS, concepts)
    merger.relation_table(_SAME_AS, edges[0][0])
    return True
