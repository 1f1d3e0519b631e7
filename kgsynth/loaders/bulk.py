"""The bulk load: loader streams -> whole-input merge -> neo4j-admin CSV -> offline import -> schema.

A first load of a large vocabulary into an empty database of the managed server.
The loaders and their :class:`LoadContext` are the MERGE path's own (same rows
read, same bad-row handling, same rejects file); only the write side differs: the
records are folded across the whole input by :class:`BulkMerger`, written once as
CSV and imported with the server stopped. Several sources in one load merge as
sequential MERGE loads of them in the same order would.
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import Field

from kgsynth.console import progress
from kgsynth.graph.bulk_csv import write_csv
from kgsynth.graph.bulk_import import (
    STAGING,
    ManagedTarget,
    bulk_lock,
    check_disk,
    check_empty,
    clear_staging,
    create_schema,
    ensure_running,
    run_import,
)
from kgsynth.loaders.base import LoadContext, Loader, LoadReport
from kgsynth.loaders.bulk_merge import BulkMerger
from kgsynth.loaders.runner import _rare_gc

#: Disk per input byte, with margin, checked before anything is read. Measured on synthetic RRF
#: (10^7 MRREL rows, ~0.85 GB): CSV ~0.84 GB (1.0x; DuckDB spill files come and go before it), then
#: the new store 3.5 GB (4.2x the CSV: two string arrays per relationship) while the CSV still exists.
DISK_PER_INPUT_BYTE = 6.0
#: The new store per CSV byte (checked again before the import).
STORE_PER_CSV_BYTE = 6.0


class BulkLoadReport(LoadReport):
    """The MERGE path's report plus where the time and the disk went.

    ``*_loaded`` count what was imported: each concept and relation once, after
    merging across the whole input (placeholders counted apart); ``merged`` every
    record folded into another. ``sources`` has one report per source of a
    multi-source load (its rows, skips and records before the cross-source merge).
    """

    mode: str = "bulk"
    placeholders: int = 0
    phases: dict[str, float] = Field(default_factory=dict)
    temp_disk_mb: float = 0.0
    peak_rss_mb: float = 0.0
    sources: list[LoadReport] = Field(default_factory=list)


def input_bytes(paths: Sequence[Path]) -> int:
    """Size of the input files or folders (what the disk check scales with)."""
    total = 0
    for path in paths:
        if path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            total += path.stat().st_size
    return total


def _dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def run_bulk_load(
    loaders: Sequence[Loader],
    target: ManagedTarget,
    *,
    inputs: Sequence[Path],
    strict: bool = True,
    rejects: Sequence[Path | None] | None = None,
    tmp_dir: Path | None = None,
    show_progress: bool = True,
    say: Callable[[str], None] = lambda _: None,
) -> BulkLoadReport:
    """Bulk-load ``loaders`` (in order) into the empty database of the managed server ``target``."""
    rejects = list(rejects or [None] * len(loaders))
    started = time.perf_counter()
    phases: dict[str, float] = {}
    with bulk_lock(target.home), _rare_gc():
        clear_staging(target.home)
        ensure_running(target, progress=say)
        check_empty(target)
        work = (tmp_dir or target.home / STAGING) / f"work-{os.getpid()}"
        check_disk(work, int(input_bytes(inputs) * DISK_PER_INPUT_BYTE), "the bulk load's temporary files")
        peak_disk = 0
        merger = None
        try:
            merger = BulkMerger(work / "merge")
            sources = _parse(loaders, merger, strict, rejects, show_progress)
            phases["parse"] = time.perf_counter() - started

            t = time.perf_counter()
            say("merging records across the whole input ...")
            graph = merger.finish()
            phases["merge"] = time.perf_counter() - t

            t = time.perf_counter()
            say("writing import CSV files ...")
            files = write_csv(graph.con, work / "csv")
            phases["csv_write"] = time.perf_counter() - t
            peak_disk = merger.disk_bytes() + files.bytes
            merger.cleanup()
            check_disk(target.home / STAGING, int(files.bytes * STORE_PER_CSV_BYTE), "the imported store")

            timings = run_import(target, files, progress=say)
            phases["server_stop"] = timings.get("stop", 0.0)
            phases["import"] = timings.get("import", 0.0)
            phases["server_start"] = timings.get("start", 0.0)
            peak_disk = max(peak_disk, int(timings.get("store_bytes", 0.0)) + files.bytes)
            say("creating constraints and indexes ...")
            phases["index_build"] = create_schema(target)
        finally:
            if merger is not None:
                merger.cleanup()
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(target.home / STAGING, ignore_errors=True)
    stats = merger.stats
    report = BulkLoadReport(
        source="+".join(dict.fromkeys(s.source for s in sources)),
        files=[f for s in sources for f in s.files],
        store=f"{target.settings.uri} (database {target.settings.database}, bulk import)",
        rows_read=sum(s.rows_read for s in sources),
        concepts_loaded=stats.concepts,
        relations_loaded=stats.relations,
        placeholders=stats.placeholders,
        merged=sum(s.merged for s in sources) + stats.merged,
        skipped_by_reason=_summed(s.skipped_by_reason for s in sources),
        unknown_labels=dict(Counter(_summed(s.unknown_labels for s in sources)).most_common()),
        concepts_by_group={g: n for g, n in files.nodes_by_group.items()},
        relations_by_type=files.relations_by_type,
        rejects_file=next((s.rejects_file for s in sources if s.rejects_file), None),
        batches=1,
        phases={k: round(v, 3) for k, v in phases.items()},
        temp_disk_mb=round(peak_disk / 1e6, 1),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        sources=sources if len(sources) > 1 else [],
    )
    report.concepts_by_group["Other"] = report.concepts_by_group.get("Other", 0) - stats.placeholders
    if not report.concepts_by_group["Other"]:
        del report.concepts_by_group["Other"]
    report.skipped = sum(report.skipped_by_reason.values())
    report.seconds = round(time.perf_counter() - started, 3)
    report.rows_per_second = round(report.rows_read / report.seconds, 1) if report.seconds else 0.0
    return report


def _summed(counts) -> dict[str, int]:
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    return dict(sorted(total.items()))


def _parse(
    loaders: Sequence[Loader], merger: BulkMerger, strict: bool, rejects: list[Path | None], show_progress: bool
) -> list[LoadReport]:
    """Feed every loader's stream into the merger; one report per source (rows, skips, records)."""
    reports = []
    with progress("rows", disable=not show_progress) as bar:
        for loader, reject in zip(loaders, rejects, strict=True):
            task = bar.add_task(f"read {loader.source}", total=None, rate="")
            seen = 0

            def on_rows(n: int, task=task) -> None:
                nonlocal seen
                seen += n
                if seen % 2048 < n:
                    bar.update(task, completed=seen)
                    speed = bar.tasks[task].speed
                    bar.update(task, rate=f"{speed:,.0f} rows/s" if speed else "")

            ctx = LoadContext(strict=strict, rejects=reject, on_rows=on_rows)
            before = (merger.stats.concept_records, merger.stats.relation_records)
            started = time.perf_counter()
            try:
                loader.feed_bulk(ctx, merger)
            finally:
                ctx.close()
            bar.update(task, completed=seen, total=seen)
            report = LoadReport(
                source=loader.source, files=ctx.files, store="bulk", rows_read=ctx.rows_read,
                concepts_loaded=merger.stats.concept_records - before[0],
                relations_loaded=merger.stats.relation_records - before[1],
                merged=ctx.merged, skipped=sum(ctx.skipped.values()),
                skipped_by_reason=dict(sorted(ctx.skipped.items())),
                unknown_labels=dict(ctx.unknown_labels.most_common()),
                rejects_file=str(reject) if reject is not None and ctx.skipped and reject.exists() else None,
                seconds=round(time.perf_counter() - started, 3),
            )
            reports.append(report)
    return reports
