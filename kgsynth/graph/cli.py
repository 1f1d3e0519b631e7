"""``kgsynth graph ...`` (store inspection) and ``kgsynth neo4j ...`` (local server)."""

from __future__ import annotations

import typer

from kgsynth.cli_options import Database, Json, Password, StorePath, Uri, Username, store_from
from kgsynth.console import count_table, emit, out

graph_app = typer.Typer(help="Inspect and fill the knowledge graph.", no_args_is_help=True)


@graph_app.command("stats")
def stats(
    uri: Uri = None,
    username: Username = None,
    password: Password = None,
    database: Database = None,
    store: StorePath = None,
    json: Json = False,
) -> None:
    """Count concepts by semantic group and relations by type."""
    with store_from(uri, username, password, database, store) as graph:
        report = graph.stats()

    def render() -> None:
        out.print(f"[bold]{report.backend}[/bold] store at {report.location}")
        out.print(f"{report.concepts:,} concepts, {report.relations:,} relations")
        out.print(count_table(report.concepts_by_group, "semantic group"))
        out.print(count_table(report.relations_by_type, "relation type"))

    emit(report, json, render)


@graph_app.command("load-sample")
def load_sample(
    uri: Uri = None,
    username: Username = None,
    password: Password = None,
    database: Database = None,
    store: StorePath = None,
    json: Json = False,
) -> None:
    """Load the small sample graph bundled with the package (idempotent)."""
    from kgsynth.graph.sample import sample_graph

    concepts, relations = sample_graph()
    with store_from(uri, username, password, database, store) as graph:
        n_concepts = graph.upsert_concepts(concepts)
        n_relations = graph.upsert_relations(relations)
        location = graph.location
    emit({"concepts": n_concepts, "relations": n_relations, "location": location}, json)


def register(app: typer.Typer) -> None:
    app.add_typer(graph_app, name="graph")
    try:
        from kgsynth.graph.neo4j_cli import app as neo4j_app
    except ModuleNotFoundError as exc:
        if exc.name != "kgsynth.graph.neo4j_cli":
            raise
    else:
        app.add_typer(neo4j_app, name="neo4j", help="Run a local Neo4j 5.26 server (fetched with Maven).")
