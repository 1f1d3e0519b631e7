"""Choose the store a command works on: Neo4j when a URI is set, else the embedded one."""

from __future__ import annotations

from pathlib import Path

from kgsynth.console import note_once
from kgsynth.graph.store import GraphStore
from kgsynth.settings import Neo4jSettings, StoreSettings


def open_store(
    uri: str | None = None,
    username: str | None = None,
    password: str | None = None,
    database: str | None = None,
    store_path: Path | None = None,
) -> GraphStore:
    """Flags override ``NEO4J_*`` variables; with no URI at all, use ``MemoryStore``."""
    settings = neo4j_settings(uri, username, password, database)
    if settings.uri:
        from kgsynth.graph.neo4j_store import Neo4jStore

        return Neo4jStore(settings)
    from kgsynth.graph.memory import MemoryStore

    path = store_path or StoreSettings().store
    note_once(f"Using the embedded graph store at {path} (set NEO4J_URI to use a Neo4j server).")
    return MemoryStore(path)


def neo4j_settings(
    uri: str | None = None, username: str | None = None, password: str | None = None, database: str | None = None
) -> Neo4jSettings:
    """``NEO4J_*`` variables with the given flags on top."""
    overrides = {"uri": uri, "username": username, "password": password, "database": database}
    return Neo4jSettings().model_copy(update={k: v for k, v in overrides.items() if v is not None})
