"""Options every store-using command shares, named as Neo4j names them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kgsynth.graph.open import open_store
from kgsynth.graph.store import GraphStore

Uri = Annotated[
    str | None,
    typer.Option("--uri", envvar="NEO4J_URI", help="Bolt URI of a Neo4j server; unset = embedded store."),
]
Username = Annotated[str | None, typer.Option("--username", envvar="NEO4J_USERNAME", help="Neo4j user.")]
Password = Annotated[
    str | None, typer.Option("--password", envvar="NEO4J_PASSWORD", help="Neo4j password.", show_default=False)
]
Database = Annotated[str | None, typer.Option("--database", envvar="NEO4J_DATABASE", help="Neo4j database.")]
StorePath = Annotated[
    Path | None,
    typer.Option("--store", envvar="KGSYNTH_STORE", help="Embedded store file (used when no URI is set)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object.")]


def store_from(
    uri: str | None, username: str | None, password: str | None, database: str | None, store: Path | None
) -> GraphStore:
    """Open the store the shared options point at."""
    return open_store(uri=uri, username=username, password=password, database=database, store_path=store)
