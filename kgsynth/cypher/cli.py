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
    motif: Annotated[str, typer.Option("--motif", help="Builtin motif name (see `kgsynth motifs`) or a .yaml file.")],
    out_path: Annotated[Path, typer.Option("--out", help="Output JSONL of MotifInstance records.")],
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
    uri: Uri = None,
    username: Username = None,
    password: Password = None,
    database: Database = None,
    store: StorePath = None,
    json: Json = False,
) -> None:
    """Sample motif instances balanced over relation types (and optionally entity groups)."""
    from kgsynth.cypher.motif import resolve_motif
    from kgsynth.cypher.sampling import sample

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
