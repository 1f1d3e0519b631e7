"""The one graph-store interface that loaders, samplers and checks are written against.

Two implementations honour it identically (a contract test suite runs against
both): :class:`~kgsynth.graph.neo4j_store.Neo4jStore` for a real server and
:class:`~kgsynth.graph.memory.MemoryStore`, the embedded networkx default.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Literal

from kgsynth.graph.model import Concept, GraphStats, Relation

Direction = Literal["out", "in", "both"]

#: Rows per write transaction: large enough to amortize round trips, small enough
#: that a killed load loses at most one batch (which a re-run rewrites idempotently).
DEFAULT_BATCH_SIZE = 5000


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Split a stream into lists of ``size`` without reading it all."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class GraphStore(ABC):
    """A knowledge graph of :class:`Concept` nodes and :class:`Relation` edges.

    Writes are upserts (see :mod:`kgsynth.graph.model` for the merge rule), so a
    batch written twice leaves the graph unchanged. A relation whose endpoint is
    not yet a concept creates a bare placeholder concept rather than being dropped.
    """

    backend: str = "abstract"

    @property
    @abstractmethod
    def location(self) -> str:
        """A human-readable place: a file path or a Bolt URI."""

    # -- writes ---------------------------------------------------------------
    @abstractmethod
    def upsert_concepts(self, concepts: Iterable[Concept], batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        """Merge concepts by id; returns how many records were written."""

    @abstractmethod
    def upsert_relations(self, relations: Iterable[Relation], batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        """Merge relations by (subject, type, object); returns how many records were written."""

    def prepare_batch(self, concepts: list[Concept], relations: list[Relation]) -> object:
        """Do a batch's client-side work ahead of :meth:`write_batch`, which takes the result.

        The load runner calls this on the parsing thread, so with a server store the
        parameter building of one batch overlaps the server's work on the previous one.
        """
        return concepts, relations

    def write_batch(self, prepared: object) -> tuple[int, int]:
        """Upsert a prepared batch (concepts first); returns (concepts, relations) written."""
        concepts, relations = prepared  # type: ignore[misc]
        return (self.upsert_concepts(concepts, batch_size=max(len(concepts), 1)),
                self.upsert_relations(relations, batch_size=max(len(relations), 1)))

    @abstractmethod
    def clear(self) -> None:
        """Delete every node and edge (used by tests and ``--reset``)."""

    def checkpoint(self) -> None:
        """Make writes so far durable; a no-op where every write already commits."""

    # -- all-or-nothing loads (``kgsynth load --atomic``) -------------------------
    def begin_atomic(self) -> None:
        """Start holding writes back until :meth:`commit_atomic`; :meth:`rollback_atomic` drops them all."""
        from kgsynth.errors import ConfigError

        raise ConfigError(f"the {self.backend} store cannot load atomically (--atomic)")

    def commit_atomic(self) -> None:
        """Make every write since :meth:`begin_atomic` visible and durable at once."""

    def rollback_atomic(self) -> None:
        """Forget every write since :meth:`begin_atomic`: the store is as it was before."""

    # -- reads ----------------------------------------------------------------
    @abstractmethod
    def get_concepts(self, ids: Iterable[str]) -> dict[str, Concept]:
        """The concepts among ``ids`` that exist, keyed by id."""

    def get_concept(self, concept_id: str) -> Concept | None:
        return self.get_concepts([concept_id]).get(concept_id)

    @abstractmethod
    def find_relations(
        self,
        subject: str | None = None,
        type: str | None = None,
        object: str | None = None,
    ) -> list[Relation]:
        """Relations matching every given field, sorted by (subject, type, object).

        At least one field must be given; use :meth:`iter_relations` for all.
        """

    def neighbors(
        self, concept_id: str, direction: Direction = "out", types: Iterable[str] | None = None
    ) -> list[Relation]:
        """Relations touching ``concept_id`` in ``direction``, optionally of ``types``."""
        wanted = set(types) if types is not None else None
        found: dict[tuple[str, str, str], Relation] = {}
        if direction in ("out", "both"):
            found.update((r.key, r) for r in self.find_relations(subject=concept_id))
        if direction in ("in", "both"):
            found.update((r.key, r) for r in self.find_relations(object=concept_id))
        return [r for key, r in sorted(found.items()) if wanted is None or r.type in wanted]

    @abstractmethod
    def iter_concepts(self) -> Iterator[Concept]:
        """Every concept, in id order, streamed."""

    @abstractmethod
    def iter_relations(self) -> Iterator[Relation]:
        """Every relation, in (subject, type, object) order, streamed."""

    @abstractmethod
    def count_concepts_by_group(self) -> dict[str, int]:
        """Concept counts per semantic group (groups with none left out)."""

    @abstractmethod
    def count_relations_by_type(self) -> dict[str, int]:
        """Relation counts per type (types with none left out)."""

    def stats(self) -> GraphStats:
        by_group = self.count_concepts_by_group()
        by_type = self.count_relations_by_type()
        return GraphStats(
            backend=self.backend,
            location=self.location,
            concepts=sum(by_group.values()),
            relations=sum(by_type.values()),
            concepts_by_group=dict(sorted(by_group.items())),
            relations_by_type=dict(sorted(by_type.items())),
        )

    # -- lifecycle ------------------------------------------------------------
    def close(self) -> None:
        """Release connections; the embedded store saves pending writes."""

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
