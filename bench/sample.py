"""Benchmark: balanced motif sampling on synthetic KGs of 10^5 and 10^6 edges.

For each graph size it loads the same synthetic graph into the embedded store and
(with ``--uri``) into Neo4j through the normal upsert API, then times
``sample(n, balance=relation_type)`` for every builtin motif. The baseline measured
in the same run is the smallest graph: the ratio column is time(size)/time(smallest)
and must stay below 2 if sampling cost does not grow with the graph. On Neo4j it
also times the naive ``ORDER BY rand()`` draw of single edges, for comparison.

    .venv/bin/python bench/sample.py --uri bolt://127.0.0.1:7702 --sizes 100000,1000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kgsynth.console import err, out  # noqa: E402
from kgsynth.cypher.match_memory import MemoryMatcher  # noqa: E402
from kgsynth.cypher.motif import builtin_motifs  # noqa: E402
from kgsynth.cypher.sampling import sample  # noqa: E402
from kgsynth.cypher.synthetic import MIX, synthetic_graph  # noqa: E402
from kgsynth.graph.memory import MemoryStore  # noqa: E402
from kgsynth.graph.model import Concept, Relation  # noqa: E402
from kgsynth.graph.store import GraphStore  # noqa: E402


def load(store: GraphStore, concepts: list[Concept], relations: list[Relation]) -> float:
    began = time.perf_counter()
    store.clear()
    store.upsert_concepts(concepts, batch_size=20_000)
    store.upsert_relations(relations, batch_size=20_000)
    return time.perf_counter() - began


def time_motifs(store: GraphStore, n: int, seed: int, repeats: int, matcher=None) -> dict[str, dict]:
    """Prepare once (keys, indexes: not part of a draw), then the median of ``repeats`` draws."""
    rows = {}
    for name, motif in builtin_motifs().items():
        sample(store, motif, 1, seed=seed + 1, matcher=matcher)  # warm-up: keys, indexes, query plans
        times = []
        for attempt in range(repeats):
            began = time.perf_counter()
            instances, report = sample(store, motif, n, seed=seed + 100 * attempt, matcher=matcher)
            times.append(time.perf_counter() - began)
        seconds = statistics.median(times)
        rows[name] = {
            "seconds": round(seconds, 4),
            "instances": len(instances),
            "per_s": round(len(instances) / seconds, 1),
            "max_min_ratio": report.max_min_ratio,
            "scarce": len(report.scarce),
        }
    return rows


def naive_rand(store, n: int) -> dict:
    """The approach the sampler avoids: ORDER BY rand() over each type, n/18 per type."""
    from kgsynth.cypher import query

    types = [t for t, *_ in MIX if t not in ("SAME_AS", "IS_A")]
    began = time.perf_counter()
    got = 0
    for type_ in types:
        got += len(store.read(query("bench", "naive_rand", TYPE=type_), k=n // len(types)))
    seconds = time.perf_counter() - began
    return {"seconds": round(seconds, 4), "instances": got, "per_s": round(got / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="Edge counts, smallest first (the baseline).")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--uri", default=None, help="Neo4j Bolt URI (its database is CLEARED); none = embedded only.")
    parser.add_argument("--repeats", type=int, default=3, help="Draws per motif; the median is reported.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: list[dict] = []
    neo = None
    if args.uri:
        from kgsynth.graph.neo4j_store import Neo4jStore
        from kgsynth.settings import Neo4jSettings

        neo = Neo4jStore(Neo4jSettings(uri=args.uri))
    for size in sizes:
        concepts, relations = synthetic_graph(size)
        err.print(f"graph of {len(relations):,} edges, {len(concepts):,} concepts")
        mem = MemoryStore(None)
        load_s = load(mem, concepts, relations)
        began = time.perf_counter()
        matcher = MemoryMatcher(mem.graph)
        matcher.count("TREATS")
        index_s = time.perf_counter() - began
        for motif, row in time_motifs(mem, args.n, args.seed, args.repeats, matcher).items():
            results.append({"store": "memory", "edges": size, "motif": motif, "load_s": load_s, "index_s": index_s})
            results[-1].update(row)
        del mem, matcher
        if neo is not None:
            load_s = load(neo, concepts, relations)
            from kgsynth.cypher.match_neo4j import ensure_sample_keys

            began = time.perf_counter()
            ensure_sample_keys(neo, sorted({t for t, *_ in MIX}))
            index_s = time.perf_counter() - began
            for motif, row in time_motifs(neo, args.n, args.seed, args.repeats).items():
                results.append({"store": "neo4j", "edges": size, "motif": motif, "load_s": load_s, "index_s": index_s})
                results[-1].update(row)
            results.append({"store": "neo4j", "edges": size, "motif": "naive ORDER BY rand() (edge)"})
            results[-1].update(naive_rand(neo, args.n))
    base = {(r["store"], r["motif"]): r["seconds"] for r in results if r["edges"] == sizes[0]}
    for r in results:
        r["ratio_vs_smallest"] = round(r["seconds"] / base[(r["store"], r["motif"])], 2)
    if args.json:
        print(json.dumps({"n": args.n, "sizes": sizes, "load_average": os.getloadavg(), "results": results}))
        return
    from rich.table import Table

    table = Table(title=f"balanced sampling, n={args.n} (ratio = time / time at {sizes[0]:,} edges)")
    for col in ("store", "edges", "motif", "instances", "seconds", "inst/s", "max/min", "ratio"):
        table.add_column(col)
    for r in results:
        table.add_row(
            r["store"],
            f"{r['edges']:,}",
            r["motif"],
            str(r["instances"]),
            f"{r['seconds']:.3f}",
            f"{r['per_s']:,.0f}",
            str(r.get("max_min_ratio", "")),
            f"{r['ratio_vs_smallest']:.2f}",
        )
    out.print(table)
    out.print(f"load average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
