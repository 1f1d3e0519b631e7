"""Pipelined batch writes to Neo4j: batch N+1's statements run while batch N commits.

A load is bound by the server's transaction thread, and about 40% of a batch's
server time is its commit. With two sessions the next batch executes during
that commit, on the other core. The rules that keep this safe:

* a batch starts executing only after the previous one has executed, and commits
  happen on one thread in batch order; so the only lock wait possible is the
  executing batch waiting for the committing one, which waits for nothing (no
  deadlock), and a relation the two batches share is merged in batch order, as
  one-at-a-time writes would;
* a load killed midway has committed a prefix of its batches, which a re-run
  rewrites to the same values;
* a commit that fails with a transient error (cluster leader change, ...) rolls
  back the batches behind it, and all of them are written again, in order, as
  retried managed transactions.

It pays off only when consecutive batches touch different nodes
(:class:`kgsynth.loaders.batching.DisjointBatches`); otherwise the executing batch
waits for the committing one's node locks and the two run in turn.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from neo4j import Session, Transaction
from neo4j import exceptions as neo4j_errors

from kgsynth.graph.store import BatchWriter

if TYPE_CHECKING:
    from kgsynth.graph.neo4j_store import Neo4jStore, PreparedBatch

#: Errors after which the same batch may succeed when written again.
_RETRYABLE = (neo4j_errors.TransientError, neo4j_errors.SessionExpired)


class PipelinedWriter(BatchWriter):
    """Writes prepared batches to a :class:`Neo4jStore`, overlapping each commit with the next batch."""

    def __init__(self, store: Neo4jStore) -> None:
        super().__init__(store)
        self._store: Neo4jStore = store
        self._sessions: list[Session] = [
            store.driver.session(database=store.settings.database) for _ in range(2)
        ]
        self._turn = 0
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kgsynth-commit")
        self._in_flight: deque[tuple[Future[bool], PreparedBatch]] = deque()
        self._failed = False  # set by a failed commit: the commits queued behind it roll back

    def write(self, prepared: PreparedBatch) -> tuple[int, int]:  # type: ignore[override]
        from kgsynth.graph.neo4j_store import _errors, _write_prepared

        self._settle(keep=1)  # the session used two batches ago must be free again
        session = self._sessions[self._turn]
        self._turn ^= 1
        with _errors(self._store.settings):
            tx = session.begin_transaction()
            try:
                _write_prepared(tx, prepared)
            except _RETRYABLE:
                tx.close()
                self._settle(keep=0)
                self._store.write_batch(prepared)  # alone, as a retried managed transaction
                return prepared.concepts, prepared.relations
            except BaseException:
                tx.close()
                raise
        self._in_flight.append((self._committer.submit(self._commit, tx), prepared))
        return prepared.concepts, prepared.relations

    def _commit(self, tx: Transaction) -> bool:
        """Runs on the commit thread; False when the batch was rolled back behind a failed commit."""
        if self._failed:
            tx.close()
            return False
        try:
            tx.commit()
        except BaseException:
            self._failed = True
            raise
        return True

    def _settle(self, keep: int) -> None:
        """Wait for the oldest commits until ``keep`` are in flight; write failed ones again, in order."""
        from kgsynth.graph.neo4j_store import _errors

        redo: list[PreparedBatch] = []
        error: BaseException | None = None
        while self._in_flight and (len(self._in_flight) > keep or redo or error):
            future, prepared = self._in_flight.popleft()
            try:
                if not future.result():
                    redo.append(prepared)
            except _RETRYABLE:
                redo.append(prepared)
            except BaseException as exc:  # noqa: BLE001 - raised below, once nothing is in flight
                error = error or exc
        if not self._in_flight:
            self._failed = False
        if error is not None:
            with _errors(self._store.settings):
                raise error
        for prepared in redo:
            self._store.write_batch(prepared)

    def close(self) -> None:
        """Wait for every commit (raising a failure) and release the sessions."""
        try:
            self._settle(keep=0)
        finally:
            self._release()

    def abort(self) -> None:
        """Let the commits already queued finish (a committed prefix), without raising."""
        try:
            self._settle(keep=0)
        except BaseException:  # noqa: BLE001 - the load is failing already; its own error wins
            pass
        finally:
            self._release()

    def _release(self) -> None:
        self._committer.shutdown(wait=True)
        for session in self._sessions:
            session.close()
