"""Drive a loader into a store: batches, in-batch merging, checkpoints, progress, report.

Every batch is written as upserts, so a load killed at any point and run again
gives exactly the graph of one clean run: batches already written are rewritten
to the same values, the lost one is written for the first time. The embedded store
is checkpointed (saved atomically) every ``checkpoint_seconds`` and at the end;
Neo4j commits each batch as its own transaction.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from kgsynth.console import progress
from kgsynth.errors import InputError, KgsynthError
from kgsynth.graph.model import Concept, Relation
from kgsynth.graph.store import DEFAULT_BATCH_SIZE, GraphStore
from kgsynth.loaders.base import LoadContext, Loader, LoadReport, merge_record


class _Batch:
    """Records of one batch keyed by identity, merged in Python before they reach the store."""

    def __init__(self) -> None:
        self.concepts: dict[str, Concept] = {}
        self.relations: dict[tuple[str, str, str], Relation] = {}
        self.merged = 0
        self.prepared: object = None  # the batch as the store will write it (prepare_batch)

    def add(self, record: Concept | Relation) -> None:
        if isinstance(record, Concept):
            store, key = self.concepts, record.id
        else:
            store, key = self.relations, record.key
        old = store.get(key)
        if old is None:
            store[key] = record
        else:
            store[key] = merge_record(old, record)
            self.merged += 1

    def __len__(self) -> int:
        return len(self.concepts) + len(self.relations)


class _Writer:
    """Writes batches on a background thread so parsing the next batch overlaps the store's work.

    The database driver releases the GIL while it waits on the socket, so with a
    server store the Python side (parsing, validation) and the server run at the
    same time. One batch is queued at most: memory stays bounded. An error in the
    writer is raised in the loading thread at the next hand-over.
    """

    def __init__(self, write: Callable[[_Batch], None], threaded: bool) -> None:
        self._write = write
        self._error: BaseException | None = None
        self._queue: queue.Queue[_Batch | None] | None = queue.Queue(maxsize=1) if threaded else None
        self._thread: threading.Thread | None = None
        if self._queue is not None:
            self._thread = threading.Thread(target=self._run, name="kgsynth-load-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        assert self._queue is not None
        while (batch := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._write(batch)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the loading thread
                    self._error = exc

    def put(self, batch: _Batch) -> None:
        self._raise()
        if self._queue is None:
            self._write(batch)
        else:
            self._queue.put(batch)

    def close(self) -> None:
        """Wait for queued batches; re-raise the writer's error, if any."""
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None
        self._raise()

    def abort(self) -> None:
        """Stop after the batches already handed over, keeping the loading thread's own error."""
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None
        self._error = None

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error


@contextmanager
def _rare_gc(gen0: int = 200_000) -> Iterator[None]:
    """Run the cyclic garbage collector less often during a load, then restore its thresholds.

    A load allocates millions of short-lived, acyclic objects (rows, records,
    parameter dicts); with the default threshold (700) the collector ran so often
    over the large live heap that it took about a quarter of a 10^5-row load.
    Reference counting still frees all of them at once, so memory stays flat.
    """
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], gen0), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def run_load(
    loader: Loader,
    store: GraphStore,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    strict: bool = True,
    rejects: Path | None = None,
    show_progress: bool = True,
    checkpoint_seconds: float = 30.0,
    after_batch: Callable[[int], None] | None = None,
    threaded: bool | None = None,
    atomic: bool = False,
) -> LoadReport:
    """Load everything ``loader`` yields into ``store`` and say what happened.

    A load that fails (bad input in strict mode, a store error) re-raises as the same
    error class with what this run had already written added to the message: batches
    are committed as they go, so a re-run after the fix completes the load. With
    ``atomic`` the whole load is one transaction (Neo4j) or one checkpoint (embedded
    store): a failure leaves the store as it was.

    ``after_batch(n)`` is called after batch ``n`` is written (tests use it to
    interrupt a load midway). ``threaded`` overlaps parsing with writing; by
    default it is on for server stores and off for the in-process one (where the
    GIL would serialize the two anyway).
    """
    with _rare_gc():
        return _run_load(loader, store, batch_size, strict, rejects, show_progress, checkpoint_seconds,
                         after_batch, threaded, atomic)


def _run_load(
    loader: Loader,
    store: GraphStore,
    batch_size: int,
    strict: bool,
    rejects: Path | None,
    show_progress: bool,
    checkpoint_seconds: float,
    after_batch: Callable[[int], None] | None,
    threaded: bool | None,
    atomic: bool = False,
) -> LoadReport:
    report = LoadReport(source=loader.source, store=store.location)
    by_group: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    started = time.perf_counter()
    last_checkpoint = started
    with progress("rows", disable=not show_progress) as bar:
        task = bar.add_task(f"load {loader.source}", total=None, rate="")
        rows_seen = 0

        def on_rows(n: int) -> None:
            nonlocal rows_seen
            rows_seen += n
            if rows_seen % 2048 < n:
                bar.update(task, completed=rows_seen)
                speed = bar.tasks[0].speed
                bar.update(task, rate=f"{speed:,.0f} rows/s" if speed else "")

        ctx = LoadContext(strict=strict, rejects=rejects, on_rows=on_rows)
        merged = 0

        def write(batch: _Batch) -> None:
            nonlocal last_checkpoint, merged
            concepts, relations = store.write_batch(batch.prepared)
            report.concepts_loaded += concepts
            report.relations_loaded += relations
            by_group.update(c.group for c in batch.concepts.values())
            by_type.update(r.type for r in batch.relations.values())
            merged += batch.merged
            report.batches += 1
            now = time.perf_counter()
            if not atomic and now - last_checkpoint >= checkpoint_seconds:
                store.checkpoint()
                last_checkpoint = now
            if after_batch is not None:
                after_batch(report.batches)

        if atomic:
            store.begin_atomic()
            threaded = False  # one transaction, used from one thread
        writer = _Writer(write, threaded=threaded if threaded is not None else store.backend != "memory")

        def hand_over(batch: _Batch) -> None:
            batch.prepared = store.prepare_batch(list(batch.concepts.values()), list(batch.relations.values()))
            writer.put(batch)

        batch = _Batch()
        try:
            for record in loader.records(ctx):
                batch.add(record)
                if len(batch) >= batch_size:
                    hand_over(batch)
                    batch = _Batch()
            if len(batch):
                hand_over(batch)
            writer.close()
            if atomic:
                store.commit_atomic()
            store.checkpoint()
        except BaseException as exc:
            writer.abort()
            if atomic:
                store.rollback_atomic()
            if isinstance(exc, ValidationError):  # a record a loader built without checking it first
                first = exc.errors()[0]
                exc = InputError(f"{', '.join(ctx.files) or loader.source}: a record failed validation: "
                                 f"{first['msg']} (input {str(first.get('input'))[:80]!r})")
            if isinstance(exc, KgsynthError):
                exc.args = (f"{exc}; {_written(report, store, atomic)}",)
                raise exc from None
            raise
        finally:
            ctx.close()
        bar.update(task, completed=rows_seen, total=rows_seen)

    report.seconds = round(time.perf_counter() - started, 3)
    report.files = ctx.files
    report.rows_read = ctx.rows_read
    report.merged = ctx.merged + merged
    report.skipped_by_reason = dict(sorted(ctx.skipped.items()))
    report.skipped = sum(ctx.skipped.values())
    report.unknown_labels = dict(ctx.unknown_labels.most_common())
    report.concepts_by_group = dict(sorted(by_group.items()))
    report.relations_by_type = dict(sorted(by_type.items()))
    report.rejects_file = str(rejects) if rejects is not None and ctx.skipped and rejects.exists() else None
    report.rows_per_second = round(report.rows_read / report.seconds, 1) if report.seconds else 0.0
    return report


def _written(report: LoadReport, store: GraphStore, atomic: bool) -> str:
    """What a failed load leaves behind, for its error message."""
    if atomic:
        return f"nothing of this run was written to {store.location} (--atomic)"
    if not report.batches:
        return f"nothing of this run was written to {store.location}"
    return (f"{report.concepts_loaded:,} concepts and {report.relations_loaded:,} relations of this run "
            f"({report.batches} batches) were already written to {store.location}; loads are idempotent, so a "
            "re-run after the fix completes the load (or use --atomic for all-or-nothing)")
