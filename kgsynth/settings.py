"""Connection and path settings, following Neo4j's own environment variables.

``NEO4J_URI``, ``NEO4J_USERNAME``, ``NEO4J_PASSWORD`` and ``NEO4J_DATABASE`` pick the
server; with no ``NEO4J_URI`` the embedded :class:`~kgsynth.graph.memory.MemoryStore`
is used at ``KGSYNTH_STORE`` (default: ``~/.local/share/kgsynth/graph.json.gz``).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def user_cache_dir() -> Path:
    """Where downloaded artifacts (Neo4j jars, converted models) are cached."""
    base = os.environ.get("KGSYNTH_CACHE") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root if os.environ.get("KGSYNTH_CACHE") else root / "kgsynth"


def user_data_dir() -> Path:
    """Where the embedded graph and the local Neo4j server's data live by default."""
    base = os.environ.get("XDG_DATA_HOME")
    return (Path(base) if base else Path.home() / ".local" / "share") / "kgsynth"


class Neo4jSettings(BaseSettings):
    """Neo4j connection settings; ``uri=None`` means "use the embedded store"."""

    model_config = SettingsConfigDict(env_prefix="NEO4J_", extra="ignore")

    uri: str | None = None
    username: str = "neo4j"
    password: str | None = None
    database: str = "neo4j"


class StoreSettings(BaseSettings):
    """Where the embedded store is saved."""

    model_config = SettingsConfigDict(env_prefix="KGSYNTH_", extra="ignore")

    store: Path = Field(default_factory=lambda: user_data_dir() / "graph.json.gz")
