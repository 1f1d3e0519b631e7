"""``kgsynth sample`` (balanced motif instances) and ``kgsynth motifs``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kgsynth.atomic import write_lines_atomic
from kgsynth.cli_options import Database, Json, Password, StorePath, Uri, Username, store_from
from kgsynth.console import emit, out, progress


class BalanceBy(StrEnum):
    relation_type = "relation_type"
    none = "none"


def sample_command(
    out_path: Annotated[Path, typer.Option("--out", help="Output JSONL of MotifInstance records.")],
    motif: Annotated[str | None, typer.Option("--motif", help="Builtin motif name (see `kgsynth motifs`) or a "
                                              ".yaml file.")] = None,
    n: Annotated[int, typer.Option("--n", help="Instances wanted.")] = 1000,
    balance: Annotated[BalanceBy, typer.Option("--balance", help="Stratify by anchor relation type, or not.")] = (
        BalanceBy.relation_type
    ),
    balance_entities: Annotated[
        bool, typer.Option("--balance-entities", help="Also stratify by subject and object semantic group.")
    ] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for a reproducible sample; random if unset.")] = None,
    scan_factor: Annotated[
        int, typer.Option("--scan-factor", help="Anchors read per wanted instance before a stratum counts as scarce.")
    ] = 20,
    cover: Annotated[list[str] | None, typer.Option("--cover", help="Coverage mode: every concept of this slice "
                                                    "gets --per-concept instances. group:G, prefix:P, subtree:ID, "
                                                    "comma-joined conditions all hold; repeat for a union.")] = None,
    per_concept: Annotated[int, typer.Option("--per-concept", min=1, help="With --cover: instances per "
                                             "concept (at least).")] = 1,
    relations_only: Annotated[bool, typer.Option("--relations-only", help="With --cover: no single-concept "
                                                 "instances; concepts with too few facts are reported.")] = False,
    every_name: Annotated[bool, typer.Option("--every-name", help="With --cover: also one single-concept "
                                             "instance per name of each concept (every synonym in a context, "
                                             "for linker training).")] = False,
    uri: Uri = None,
    username: Username = None,
    password: Password = None,
    database: Database = None,
    store: StorePath = None,
    json: Json = False,
) -> None:
    """Sample motif instances balanced over relation types (and optionally entity groups), or cover a slice."""
    from kgsynth.cypher.motif import resolve_motif
    from kgsynth.cypher.sampling import sample

    if cover:
        _cover(cover, per_concept, relations_only, out_path, seed, uri, username, password, database, store, json,
               every_name)
        return
    if motif is None:
        raise typer.BadParameter("give --motif (or --cover SLICE for coverage sampling)", param_hint="--motif")
    chosen = resolve_motif(motif)
    with store_from(uri, username, password, database, store) as graph, progress("instances", json) as bar:
        task = bar.add_task(f"sampling {chosen.name}", total=n, rate="")
        instances, report = sample(
            graph,
            chosen,
            n,
            seed=seed,
            balance=balance.value,
            balance_entities=balance_entities,
            scan_factor=scan_factor,
            on_progress=lambda done: bar.update(task, completed=done),
        )
    if n > 0 and not instances:
        from kgsynth.errors import InputError

        empty = [s.stratum for s in report.strata if s.anchors == 0] or [s.stratum for s in report.strata]
        strata = ", ".join(empty or chosen.anchor.types or ["(any relation)"])
        raise InputError(f"motif {chosen.name}: 0 of {n} instances, nothing written: no anchors in the graph for "
                         f"{strata}; `kgsynth graph stats` lists the relation types the graph has, "
                         "`kgsynth motifs` the motifs and the types they need")
    write_lines_atomic(out_path, [i.model_dump_json() for i in instances])
    report.out = str(out_path)

    def render() -> None:
        from rich.table import Table

        table = Table(title=f"{report.motif}: {report.achieved:,} of {report.n:,} instances (seed {report.seed})")
        for col in ("stratum", "anchors", "target", "achieved", "short", "state"):
            table.add_column(col, justify="left" if col in ("stratum", "state") else "right")
        for s in report.strata:
            state = "exhausted" if s.exhausted else "scan budget hit" if s.budget_hit else ""
            table.add_row(s.stratum, f"{s.anchors:,}", str(s.target), str(s.achieved), str(s.short or ""), state)
        out.print(table)
        ratio = "n/a (a stratum got none)" if report.max_min_ratio is None else f"{report.max_min_ratio:.2f}"
        out.print(f"max/min ratio across strata: {ratio}")
        if report.scarce:
            out.print("too scarce to fill: " + ", ".join(f"{k} (short {v})" for k, v in report.scarce.items()))
        out.print(f"{report.instances_per_s:,.0f} instances/s; written to {report.out}")

    emit(report, json, render)


def _cover(
    cover: list[str], per_concept: int, relations_only: bool, out_path: Path, seed: int | None,
    uri: str | None, username: str | None, password: str | None, database: str | None, store: Path | None,
    json: bool, every_name: bool = False,
) -> None:
    """``kgsynth sample --cover``: see :mod:`kgsynth.cypher.cover`."""
    from kgsynth.cypher.cover import cover_sample, parse_slice

    specs = [parse_slice(text) for text in cover]
    with store_from(uri, username, password, database, store) as graph:
        instances, report = cover_sample(graph, specs, per_concept=per_concept, seed=seed,
                                         relations_only=relations_only, every_name=every_name)
    write_lines_atomic(out_path, [i.model_dump_json() for i in instances])
    report.out = str(out_path)

    def render() -> None:
        out.print(f"covered {report.covered:,} of {report.total:,} concepts of {' | '.join(report.slices)} "
                  f"with >= {report.per_concept} instances each{' and every name once' if report.every_name else ''} "
                  f"(seed {report.seed})")
        out.print(f"{report.instances:,} instances: {report.relational_instances:,} relational "
                  f"({report.with_relations:,} concepts with facts), {report.mention_instances:,} single-concept "
                  f"({report.mention_only:,} concepts without facts, {report.topped_up:,} topped up)")
        if report.uncoverable:
            table = Table(title=f"uncoverable concepts ({sum(report.uncoverable_by_reason.values()):,})")
            for col in ("id", "name", "group", "why"):
                table.add_column(col)
            for u in report.uncoverable[:50]:
                table.add_row(u.id, u.name, u.group, u.reason)
            out.print(table)
        out.print(f"written to {report.out} in {report.seconds:.1f} s")

    from rich.table import Table

    emit(report, json, render)


def motifs_command(json: Json = False) -> None:
    """List the builtin motifs."""
    from kgsynth.cypher.motif import builtin_motifs

    motifs = builtin_motifs()
    report = {"motifs": [m.model_dump() for m in motifs.values()]}

    def render() -> None:
        from rich.table import Table

        table = Table(title="builtin motifs (kgsynth/cypher/motifs/*.yaml)")
        for col in ("name", "shape", "slots", "anchor types", "description"):
            table.add_column(col)
        for m in motifs.values():
            slots = ", ".join(f"{k}:{'|'.join(v.groups) or 'any'}" for k, v in m.slots.items())
            table.add_row(m.name, m.shape, slots, ", ".join(m.anchor.types), m.description)
        out.print(table)

    emit(report, json, render)


def register(app: typer.Typer) -> None:
    app.command("sample")(sample_command)
    app.command("motifs")(motifs_command)
