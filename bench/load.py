"""Load speed: synthetic UMLS RRF -> Neo4j and the embedded store, against a naive baseline.

Generates MRCONSO/MRSTY/MRREL with ``--relations`` MRREL rows (default 10^6) over
``relations / 10`` concepts, then, each in a fresh process (so peak memory is that
load's own):

* ``neo4j``: the real loader (``UmlsLoader`` + ``run_load``, batched UNWIND upserts);
* ``embedded``: the same into ``MemoryStore``;
* ``naive``: one auto-commit Cypher query per relation row (the same upsert query with
  a one-row list), timed on ``--naive-rows`` relations after 500 untimed warm-up rows.

Peak memory (``ru_maxrss`` of the loading process) is printed per size: pass
several ``--relations`` values to see that it stays flat as the file grows.

    python bench/load.py --uri bolt://127.0.0.1:7701 --relations 100000 --relations 1000000

With ``--bolt-port/--http-port`` every Neo4j row gets a *fresh* managed server
(``kgsynth neo4j start`` under a temp home, ``--heap``/``--pagecache``), and
``--bulk`` adds the bulk path (``run_bulk_load``: whole-input merge, neo4j-admin
CSV, offline import, restart, indexes) beside the MERGE rows, with its time split
by phase, the loader's peak RSS, the importer JVM's peak RSS and the temporary
disk. ``--merge-max N`` skips the (slow) MERGE loader above N relations; the bulk
speed-up is always against the MERGE row at 10^6 (or the largest one measured).

    python bench/load.py --bolt-port 7712 --http-port 7412 --bulk --merge-max 1000000 \
        --relations 1000000 --relations 10000000 --skip-embedded --naive-rows 0
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

LABELS = ("may_treat", "may_be_treated_by", "isa", "inverse_isa", "has_finding_site", "manifestation_of",
          "has_causative_agent", "associated_with", "part_of", "may_prevent", "unmapped_label_x", "")


def generate(folder: Path, relations: int, seed: int = 7) -> dict[str, int]:
    """Write a synthetic RRF set (invented CUIs) streaming, in NLM's column layout."""
    rng = random.Random(seed)
    concepts = max(relations // 10, 1000)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "MRCONSO.RRF", "w", encoding="utf-8") as conso, \
            open(folder / "MRSTY.RRF", "w", encoding="utf-8") as sty:
        for i in range(concepts):
            cui = f"C{i:07d}"
            conso.write(f"{cui}|ENG|P|L{i:07d}|PF|S{i:07d}|Y|A{i:08d}||||SYNTH|PT|X{i}|Synthetic concept {i}|0|N||\n")
            tui = ("T047", "T121", "T184", "T023", "T028")[i % 5]
            sty.write(f"{cui}|{tui}|A1|Synthetic type|AT{i:08d}|256|\n")
    with open(folder / "MRREL.RRF", "w", encoding="utf-8") as rel:
        for j in range(relations):
            a, b = rng.randrange(concepts), rng.randrange(concepts)
            if a == b:
                b = (b + 1) % concepts
            rela = LABELS[j % len(LABELS)]
            rel_code = "RO" if rela else "CHD"
            rel.write(f"C{a:07d}||CUI|{rel_code}|C{b:07d}||CUI|{rela}|R{j:09d}||SYNTH|SYNTH|||N||\n")
    return {"concepts": concepts, "relations": relations}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def clear(store) -> None:
    """Empty the server in small transactions (a 10^6-edge graph is too big for one DETACH DELETE)."""
    from kgsynth.cypher import query

    store.run(query("loaders", "clear_relationships"))
    store.run(query("loaders", "clear_nodes"))


def load_once(folder: str, uri: str | None, batch_size: int) -> dict[str, float]:
    """One load in this (fresh) process; returns rate, time and this process's peak memory."""
    from kgsynth.graph.memory import MemoryStore
    from kgsynth.loaders.runner import run_load
    from kgsynth.loaders.umls import UmlsLoader

    if uri:
        from kgsynth.graph.neo4j_store import Neo4jStore
        from kgsynth.settings import Neo4jSettings

        store = Neo4jStore(Neo4jSettings(uri=uri))
        clear(store)
    else:
        store = MemoryStore(None)
    report = run_load(UmlsLoader(Path(folder)), store, batch_size=batch_size, show_progress=False)
    store.close()
    return _figures(report, folder)


def _figures(report, folder: str) -> dict[str, object]:  # noqa: ANN001 - a LoadReport or BulkLoadReport
    """The figures every load row has: time, counts, MRREL rows per second, this process's peak RSS."""
    with open(Path(folder) / "MRREL.RRF", "rb") as handle:
        mrrel_rows = sum(1 for _ in handle)
    return {
        "seconds": report.seconds,
        "relations_loaded": report.relations_loaded,
        "concepts_loaded": report.concepts_loaded,
        "relations_per_s": mrrel_rows / report.seconds,
        "peak_mb": _peak_mb(),
    }


def bulk_once(folder: str, uri: str, home: str) -> dict[str, object]:
    """One bulk load into the empty fresh server at ``home``, in this (fresh) process."""
    from kgsynth.graph.bulk_import import managed_target
    from kgsynth.loaders.bulk import run_bulk_load
    from kgsynth.loaders.umls import UmlsLoader
    from kgsynth.settings import Neo4jSettings

    target = managed_target(Neo4jSettings(uri=uri, password=None), Path(home))
    report = run_bulk_load([UmlsLoader(Path(folder))], target, inputs=[Path(folder)], show_progress=False)
    return {
        **_figures(report, folder),
        "importer_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "temp_disk_mb": report.temp_disk_mb,
        "phases": report.phases,
    }


def bulk_merge_only(folder: str) -> dict[str, object]:
    """The bulk path's loader side alone (parse, whole-input merge, CSV), no server: its RSS and disk."""
    import shutil

    from kgsynth.graph.bulk_csv import write_csv
    from kgsynth.loaders.base import LoadContext
    from kgsynth.loaders.bulk_merge import BulkMerger
    from kgsynth.loaders.runner import _rare_gc
    from kgsynth.loaders.umls import UmlsLoader

    work = Path(folder).with_name(Path(folder).name + "-bulkwork")
    phases: dict[str, float] = {}
    started = time.perf_counter()
    with _rare_gc():
        merger = BulkMerger(work / "merge")
        UmlsLoader(Path(folder)).feed_bulk(LoadContext(), merger)
        phases["parse"] = time.perf_counter() - started
        t = time.perf_counter()
        graph = merger.finish()
        phases["merge"] = time.perf_counter() - t
        t = time.perf_counter()
        files = write_csv(graph.con, work / "csv")
        phases["csv_write"] = time.perf_counter() - t
    disk = merger.disk_bytes() + files.bytes
    merger.cleanup()
    shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "relations_loaded": merger.stats.relations, "concepts_loaded": merger.stats.concepts,
            "relations_per_s": sum(files.relations_by_type.values()) / seconds, "peak_mb": _peak_mb(),
            "importer_peak_mb": 0.0, "temp_disk_mb": round(disk / 1e6, 1), "phases": phases}


class FreshServers:
    """A new managed server (own temp home) for each measured load, on one pair of ports."""

    def __init__(self, root: Path, bolt_port: int, http_port: int, heap: str, pagecache: str) -> None:
        self.root, self.bolt_port, self.http_port = root, bolt_port, http_port
        self.heap, self.pagecache = heap, pagecache
        self.count = 0

    def start(self):
        from kgsynth.graph import server
        from kgsynth.graph.server_config import ServerOptions

        self.count += 1
        opts = ServerOptions(home=self.root / f"neo4j-{self.count}", bolt_port=self.bolt_port,
                             http_port=self.http_port, heap=self.heap, pagecache=self.pagecache, password=None)
        server.start(opts, progress=lambda line: print(line, file=sys.stderr))
        return opts

    def stop(self, opts) -> None:
        import shutil

        from kgsynth.graph import server

        server.stop(opts.home)
        shutil.rmtree(opts.home, ignore_errors=True)


def naive(folder: str, uri: str, rows: int, warmup: int = 500) -> dict[str, float]:
    """One auto-commit query per MRREL row: the rate a row-at-a-time loader gets (after ``warmup`` rows)."""
    from itertools import islice

    from kgsynth.cypher import query
    from kgsynth.graph.neo4j_store import Neo4jStore, relation_groups
    from kgsynth.loaders.base import LoadContext
    from kgsynth.loaders.umls import UmlsLoader
    from kgsynth.settings import Neo4jSettings

    store = Neo4jStore(Neo4jSettings(uri=uri))
    clear(store)
    loader = UmlsLoader(Path(folder))
    ctx = LoadContext()
    stream = loader.records(ctx)
    from kgsynth.graph.model import Relation

    relations = (r for r in stream if isinstance(r, Relation))

    def one_by_one(limit: int) -> int:
        n = 0
        for rel in islice(relations, limit):
            (type_, groups), = relation_groups([rel]).items()
            store.run(query("store", "upsert_relations", TYPE=type_), groups=groups)
            n += 1
        return n

    # Warm-up, untimed: query plans for every type compiled and the JIT warm, as they are
    # for the batched loader after its first batches (a cold baseline swung 2x between runs).
    one_by_one(warmup)
    started = time.perf_counter()
    n = one_by_one(rows)
    seconds = time.perf_counter() - started
    store.close()
    return {"rows": n, "seconds": seconds, "relations_per_s": n / seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relations", type=int, action="append", help="MRREL rows (repeat for several sizes)")
    parser.add_argument("--uri", default=None, help="Neo4j Bolt URI (default: NEO4J_URI); unset = embedded only")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--naive-rows", type=int, default=2000, help="0 = no naive baseline")
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--bolt-port", type=int, default=None, help="fresh managed servers on this Bolt port")
    parser.add_argument("--http-port", type=int, default=None)
    parser.add_argument("--heap", default="2g", help="fresh servers' heap")
    parser.add_argument("--pagecache", default="1g", help="fresh servers' page cache")
    parser.add_argument("--bulk", action="store_true", help="add the bulk path (needs --bolt-port/--http-port)")
    parser.add_argument("--bulk-no-import", action="store_true",
                        help="the bulk path's loader side only (merge + CSV, no server): loader RSS and disk")
    parser.add_argument("--merge-max", type=int, default=None, help="no MERGE row above this many relations")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import os

    if args.bulk_no_import:
        args.skip_embedded = True
    if (args.bulk or args.http_port) and not (args.bolt_port and args.http_port):
        parser.error("--bulk and fresh servers need --bolt-port and --http-port")
    uri = args.uri or os.environ.get("NEO4J_URI")
    sizes = args.relations or [1_000_000]
    results: list[dict] = []
    naive_result: dict | None = None
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp, \
            ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        fresh = (FreshServers(Path(tmp) / "servers", args.bolt_port, args.http_port, args.heap, args.pagecache)
                 if args.bolt_port else None)
        for size in sizes:
            folder = Path(tmp) / f"rrf-{size}"
            shape = generate(folder, size)
            row: dict = {"relations": size, "concepts": shape["concepts"]}
            merge_here = args.merge_max is None or size <= args.merge_max
            if fresh is not None and merge_here:
                opts = fresh.start()
                try:
                    row["neo4j"] = pool.submit(load_once, str(folder), opts.bolt_uri, args.batch_size).result()
                    if naive_result is None and args.naive_rows:
                        naive_result = pool.submit(naive, str(folder), opts.bolt_uri, args.naive_rows).result()
                finally:
                    fresh.stop(opts)
            elif uri and merge_here:
                row["neo4j"] = pool.submit(load_once, str(folder), uri, args.batch_size).result()
                if naive_result is None and args.naive_rows:
                    naive_result = pool.submit(naive, str(folder), uri, args.naive_rows).result()
            if args.bulk and fresh is not None:
                opts = fresh.start()
                try:
                    row["bulk"] = pool.submit(bulk_once, str(folder), opts.bolt_uri, str(opts.home)).result()
                finally:
                    fresh.stop(opts)
            if args.bulk_no_import:
                row["bulk_no_import"] = pool.submit(bulk_merge_only, str(folder)).result()
            if not args.skip_embedded:
                row["embedded"] = pool.submit(load_once, str(folder), None, args.batch_size).result()
            results.append(row)
            _progress(row)
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    report = {"sizes": results, "naive": naive_result}
    if naive_result and any("neo4j" in r for r in results):
        best = [r for r in results if "neo4j" in r][-1]["neo4j"]["relations_per_s"]
        report["speedup_vs_naive"] = best / naive_result["relations_per_s"]
    merge_rows = [r for r in results if "neo4j" in r]
    if merge_rows and any("bulk" in r for r in results):
        base = next((r for r in merge_rows if r["relations"] == 1_000_000), merge_rows[-1])
        report["bulk_vs_merge_base"] = base["relations"]
        report["bulk_speedup_vs_merge"] = {
            r["relations"]: r["bulk"]["relations_per_s"] / base["neo4j"]["relations_per_s"]
            for r in results if "bulk" in r
        }
    if args.json:
        print(json.dumps(report))
    else:
        _table(report)
    return 0


def _progress(row: dict) -> None:
    print(f"done {row['relations']:,} relations", file=sys.stderr)


def _table(report: dict) -> None:
    print("| relations | store | seconds | relations/s | peak RSS (MB) |")
    print("|---:|---|---:|---:|---:|")
    for row in report["sizes"]:
        for store in ("neo4j", "bulk", "bulk_no_import", "embedded"):
            if store in row:
                r = row[store]
                name = {"neo4j": "neo4j MERGE loader", "bulk": "neo4j bulk import",
                        "bulk_no_import": "bulk, merge + CSV only (no import)"}.get(store, store)
                print(f"| {row['relations']:,} | {name} | {r['seconds']:.1f} | {r['relations_per_s']:,.0f} "
                      f"| {r['peak_mb']:,.0f} |")
    if report.get("naive"):
        n = report["naive"]
        print(f"| {n['rows']:,} (slice) | neo4j naive, 1 query/row | {n['seconds']:.1f} | "
              f"{n['relations_per_s']:,.0f} | - |")
        print(f"\nspeed-up of the batched loader over naive: {report['speedup_vs_naive']:.1f}x")
    bulk_rows = [(row, key) for row in report["sizes"] for key in ("bulk", "bulk_no_import") if key in row]
    if bulk_rows:
        phases = list(dict.fromkeys(p for row, key in bulk_rows for p in row[key]["phases"]))
        print("\nbulk path, seconds by phase:\n")
        print("| relations | " + " | ".join(phases) + " | total | importer RSS (MB) | temp disk (MB) |")
        print("|---:|" + "---:|" * (len(phases) + 3))
        for row, key in bulk_rows:
            b = row[key]
            cells = " | ".join(f"{b['phases'].get(p, 0):.1f}" for p in phases)
            size = f"{row['relations']:,}" + ("" if key == "bulk" else " (no import)")
            print(f"| {size} | {cells} | {b['seconds']:.1f} | {b['importer_peak_mb']:,.0f} | "
                  f"{b['temp_disk_mb']:,.0f} |")
    for size, ratio in (report.get("bulk_speedup_vs_merge") or {}).items():
        print(f"\nbulk at {size:,} relations vs the MERGE loader at {report['bulk_vs_merge_base']:,}: {ratio:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
