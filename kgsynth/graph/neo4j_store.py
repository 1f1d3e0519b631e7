"""The Neo4j store: the same interface as the embedded one, on a real server.

Writes are batched ``UNWIND ... MERGE`` queries run as managed transactions, so the
driver retries transient failures; a batch is one transaction, which makes a
killed load lose at most one uncommitted batch that a re-run rewrites. The
constraints and indexes it needs are created idempotently on connect.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from neo4j import Driver, GraphDatabase, ManagedTransaction, Result
from neo4j import exceptions as neo4j_errors

from kgsynth.cypher import query
from kgsynth.errors import StoreError
from kgsynth.graph.model import Concept, Provenance, Relation, merge_lists
from kgsynth.graph.schema import RELATION_TYPES
from kgsynth.graph.store import DEFAULT_BATCH_SIZE, GraphStore, batched
from kgsynth.settings import Neo4jSettings

_SCHEMA_QUERIES = ("schema_concept_id", "schema_concept_name", "schema_concept_group", "schema_note_id")


class Neo4jStore(GraphStore):
    """A :class:`GraphStore` on a Neo4j 5 server reached over Bolt."""

    backend = "neo4j"

    def __init__(self, settings: Neo4jSettings | None = None, *, create_schema: bool = True) -> None:
        self.settings = settings or Neo4jSettings()
        if not self.settings.uri:
            raise StoreError("Neo4jStore needs a URI: set NEO4J_URI or pass --uri")
        self.driver = _connect(self.settings)
        if create_schema:
            self.ensure_schema()

    @property
    def location(self) -> str:
        return f"{self.settings.uri} (database {self.settings.database})"

    def ensure_schema(self) -> None:
        """Create constraints and indexes; safe to run on every connect."""
        for name in _SCHEMA_QUERIES:
            self.run(query("store", name))

    # -- query helpers --------------------------------------------------------
    def run(self, text: str, **params: Any) -> list[dict[str, Any]]:
        """Run one auto-commit query (needed by schema changes and ``IN TRANSACTIONS``)."""
        with _errors(self.settings), self.driver.session(database=self.settings.database) as session:
            return [r.data() for r in session.run(text, params)]

    def write(self, text: str, **params: Any) -> list[dict[str, Any]]:
        """Run one write query in a managed (retried) transaction; returns its rows."""
        with _errors(self.settings), self.driver.session(database=self.settings.database) as session:
            return session.execute_write(lambda tx: _rows(tx.run(text, params)))

    def read(self, text: str, **params: Any) -> list[dict[str, Any]]:
        """Run one read query in a managed (retried) transaction.

        Rows map keys to the driver's values as they come (nodes stay ``Node``): the
        deep ``Record.data()`` conversion dominated sampling time in profiles.
        """
        with _errors(self.settings), self.driver.session(database=self.settings.database) as session:
            return session.execute_read(lambda tx: _rows(tx.run(text, params)))

    def stream(self, text: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Stream a large result without holding it all in memory."""
        with _errors(self.settings), self.driver.session(database=self.settings.database) as session:
            for record in session.run(text, params):
                yield record.data()

    # -- writes ---------------------------------------------------------------
    def prepare_batch(self, concepts: list[Concept], relations: list[Relation]) -> PreparedBatch:
        """The batch as statements and parameters: concepts by group, then relations by type."""
        by_group: dict[str, list[dict]] = defaultdict(list)
        for c in concepts:  # fields read directly: model_dump was a visible share of load profiles
            by_group[c.group].append({
                "id": c.id, "name": c.name, "group": c.group, "synonyms": c.synonyms,
                "semantic_types": c.semantic_types, "xrefs": c.xrefs,
                "provenance": [p.key() for p in c.provenance],
            })
        concept_statements = [
            (query("store", "upsert_concepts_other") if group == "Other"
             else query("store", "upsert_concepts", LABEL=group), rows)
            for group, rows in sorted(by_group.items())
        ]
        relation_statements = [
            (query("store", "upsert_relations", TYPE=type_), groups)
            for type_, groups in sorted(relation_groups(relations).items())
        ]
        return PreparedBatch(concept_statements, relation_statements, len(concepts), len(relations))

    def write_batch(self, prepared: PreparedBatch) -> tuple[int, int]:
        """One transaction for the whole batch (one commit); endpoints merged only when missing.

        Between :meth:`begin_atomic` and its commit, every batch goes into that one open transaction.
        """
        tx = getattr(self, "_atomic_tx", None)
        if tx is not None:
            with _errors(self.settings):
                _write_prepared(tx, prepared)
            return prepared.concepts, prepared.relations
        with _errors(self.settings), self.driver.session(database=self.settings.database) as session:
            session.execute_write(_write_prepared, prepared)
        return prepared.concepts, prepared.relations

    def begin_atomic(self) -> None:
        """One explicit transaction for the whole load: it must fit in the server's transaction memory."""
        with _errors(self.settings):
            self._atomic_session = self.driver.session(database=self.settings.database)
            self._atomic_tx = self._atomic_session.begin_transaction()

    def commit_atomic(self) -> None:
        try:
            with _errors(self.settings):
                self._atomic_tx.commit()
        finally:
            self._end_atomic()

    def rollback_atomic(self) -> None:
        try:
            with _errors(self.settings):
                self._atomic_tx.rollback()
        finally:
            self._end_atomic()

    def _end_atomic(self) -> None:
        self._atomic_tx = None
        self._atomic_session.close()

    def upsert_concepts(self, concepts: Iterable[Concept], batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        return sum(self.write_batch(self.prepare_batch(chunk, []))[0] for chunk in batched(concepts, batch_size))

    def upsert_relations(self, relations: Iterable[Relation], batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        return sum(self.write_batch(self.prepare_batch([], chunk))[1] for chunk in batched(relations, batch_size))

    def clear(self) -> None:
        self.run(query("store", "clear_relationships"))
        self.run(query("store", "clear_nodes"))

    # -- reads ----------------------------------------------------------------
    def get_concepts(self, ids: Iterable[str]) -> dict[str, Concept]:
        rows = self.read(query("store", "get_concepts"), ids=list(ids))
        return {row["c"]["id"]: _to_concept(row["c"]) for row in rows}

    def find_relations(
        self,
        subject: str | None = None,
        type: str | None = None,
        object: str | None = None,
    ) -> list[Relation]:
        if subject is not None:
            rows = self.read(query("store", "relations_from"), subject=subject, object=object, type=type)
        elif object is not None:
            rows = self.read(query("store", "relations_to"), object=object, type=type)
        elif type is not None:
            if type not in RELATION_TYPES:
                return []
            rows = self.read(query("store", "relations_of_type", TYPE=type))
        else:
            raise ValueError("find_relations needs subject, type or object; use iter_relations for all")
        return sorted((_to_relation(row) for row in rows), key=lambda r: r.key)

    def iter_concepts(self) -> Iterator[Concept]:
        for row in self.stream(query("store", "all_concepts")):
            yield _to_concept(row["c"])

    def iter_relations(self) -> Iterator[Relation]:
        for row in self.stream(query("store", "all_relations")):
            yield _to_relation(row)

    def count_concepts_by_group(self) -> dict[str, int]:
        return {row["key"]: row["n"] for row in self.read(query("store", "count_concepts_by_group"))}

    def count_relations_by_type(self) -> dict[str, int]:
        counts = {}
        for type_ in RELATION_TYPES:
            n = self.read(query("store", "count_relations_of_type", TYPE=type_))[0]["n"]
            if n:
                counts[type_] = n
        return counts

    def close(self) -> None:
        self.driver.close()


@dataclass(frozen=True)
class PreparedBatch:
    """A batch turned into ``(statement, parameter rows)`` pairs ahead of the write (``prepare_batch``)."""

    concept_statements: list[tuple[str, list[dict[str, Any]]]]
    relation_statements: list[tuple[str, list[dict[str, Any]]]]
    concepts: int
    relations: int


def _write_prepared(tx: ManagedTransaction, prepared: PreparedBatch) -> None:
    """Concepts first, so the relations' endpoint seeks find them in the same transaction."""
    for text, rows in prepared.concept_statements:
        tx.run(text, rows=rows).consume()
    for text, groups in prepared.relation_statements:
        pairs = sum(len(g["pairs"]) for g in groups)
        if tx.run(text, groups=groups).single(strict=True)["written"] < pairs:
            ids = {end for g in groups for pair in g["pairs"] for end in pair}
            tx.run(query("store", "merge_endpoints"), ids=sorted(ids)).consume()
            tx.run(text, groups=groups).consume()


def relation_groups(relations: Iterable[Relation]) -> dict[str, list[dict[str, Any]]]:
    """Parameters of ``upsert_relations``: per type, relations grouped by their property values.

    Built straight from the fields (no ``model_dump``, provenance keys computed once
    per object): in profiles of a 10^5-row load the per-row dict building cost as
    much as the server's own work. Repeats of one (subject, type, object) are merged
    first with the upsert rule, so a statement never sees a pair twice and applying
    groups out of input order cannot change list order. Pairs are sorted so
    consecutive index seeks touch neighbouring pages.
    """
    batch = list(relations)
    if len({(r.subject, r.type, r.object) for r in batch}) < len(batch):
        batch = _merge_repeats(batch)
    prov_keys: dict[int, str] = {}  # by id(): one Provenance object is usually shared by a whole file
    by_signature: dict[tuple, list[list[str]]] = {}
    for rel in batch:
        prov = []
        for p in rel.provenance:
            key = prov_keys.get(id(p))
            if key is None:
                key = prov_keys[id(p)] = p.key()
            prov.append(key)
        signature = (rel.type, tuple(rel.source_labels), tuple(rel.evidence), rel.novelty, tuple(prov))
        pairs = by_signature.get(signature)
        if pairs is None:
            pairs = by_signature[signature] = []
        pairs.append([rel.subject, rel.object])
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (type_, labels, evidence, novelty, prov), pairs in by_signature.items():
        lists = {"source_labels": list(labels), "evidence": list(evidence), "provenance": list(prov)}
        props: dict[str, Any] = {k: v for k, v in lists.items() if v}
        if novelty:
            props["novelty"] = novelty
        pairs.sort()
        out[type_].append({"props": props, "novelty": novelty, **lists, "pairs": pairs})
    return dict(out)


def _merge_repeats(relations: list[Relation]) -> list[Relation]:
    """One relation per (subject, type, object), folded in input order with the upsert rule."""
    merged: dict[tuple[str, str, str], Relation] = {}
    for rel in relations:
        old = merged.get(rel.key)
        merged[rel.key] = rel if old is None else old.model_copy(update={
            "novelty": old.novelty or rel.novelty,
            "source_labels": merge_lists(old.source_labels, rel.source_labels),
            "evidence": merge_lists(old.evidence, rel.evidence),
            "provenance": merge_lists(old.provenance, rel.provenance),
        })
    return list(merged.values())


def _rows(result: Result) -> list[dict[str, Any]]:
    keys = result.keys()
    return [dict(zip(keys, record, strict=True)) for record in result]


def _to_concept(node: Any) -> Concept:
    return Concept(
        id=node["id"],
        name=node.get("name") or "",
        synonyms=node.get("synonyms") or [],
        semantic_types=node.get("semantic_types") or [],
        group=node.get("group") or "Other",
        xrefs=node.get("xrefs") or [],
        provenance=[Provenance.from_key(k) for k in node.get("provenance") or []],
    )


def _to_relation(row: dict[str, Any]) -> Relation:
    props = row["props"]
    return Relation(
        subject=row["subject"],
        type=row["type"],
        object=row["object"],
        source_labels=props.get("source_labels") or [],
        evidence=props.get("evidence") or [],
        novelty=props.get("novelty") or "",
        provenance=[Provenance.from_key(k) for k in props.get("provenance") or []],
    )


def _connect(settings: Neo4jSettings) -> Driver:
    """Open a driver and prove the server answers, turning failures into one clear line."""
    _check_uri(settings.uri or "")
    auth = (settings.username, settings.password) if settings.password else None
    try:
        # Queries legitimately name types a graph may not have yet (an empty stratum, no
        # notes); the server's "unknown label/type" notifications would only be noise.
        driver = GraphDatabase.driver(settings.uri, auth=auth, notifications_min_severity="OFF")
    except (neo4j_errors.ConfigurationError, ValueError) as exc:
        raise StoreError(f"invalid Neo4j URI {settings.uri!r}: {exc}") from exc
    try:
        with _errors(settings):
            driver.verify_connectivity()
    except StoreError:
        driver.close()
        raise
    return driver


_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def _check_uri(uri: str) -> None:
    """Reject what the driver would misread (it takes http:// as its preview HTTP API)."""
    parts = urlsplit(uri)
    if parts.scheme not in _SCHEMES or not parts.hostname:
        expected = f"SCHEME://HOST[:PORT] with SCHEME one of {', '.join(_SCHEMES)}"
        raise StoreError(f"invalid Neo4j URI {uri!r}: expected {expected}")


class _errors:
    """Context manager mapping driver exceptions onto :class:`StoreError` messages."""

    def __init__(self, settings: Neo4jSettings) -> None:
        self.settings = settings

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None:
            return False
        uri = self.settings.uri
        if isinstance(exc, neo4j_errors.AuthError):
            raise StoreError(
                f"Neo4j at {uri} refused the credentials of user {self.settings.username!r}: "
                "check NEO4J_USERNAME / NEO4J_PASSWORD"
            ) from exc
        if isinstance(exc, neo4j_errors.ServiceUnavailable | OSError):
            raise StoreError(
                f"cannot reach Neo4j at {uri}: {exc}. Start one with `kgsynth neo4j start`, "
                "or unset NEO4J_URI to use the embedded store"
            ) from exc
        if isinstance(exc, neo4j_errors.ClientError) and "DatabaseNotFound" in (exc.code or ""):
            raise StoreError(f"Neo4j at {uri} has no database {self.settings.database!r}") from exc
        if isinstance(exc, neo4j_errors.ConfigurationError):
            raise StoreError(f"invalid Neo4j settings for {uri}: {exc}") from exc
        return False
