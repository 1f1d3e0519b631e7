"""Terminal output shared by every command: rich tables for people, ``--json`` for programs.

Messages and progress go to stderr so that stdout carries only the report (or the
one JSON object with ``--json``) and can be piped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

out = Console()
err = Console(stderr=True)
_said: set[str] = set()


def note_once(message: str) -> None:
    """Print an informational line to stderr once per process."""
    if message not in _said:
        _said.add(message)
        err.print(f"[dim]{message}[/dim]", highlight=False, soft_wrap=True)


def emit(report: BaseModel | dict[str, Any], as_json: bool, render: Callable[[], None] | None = None) -> None:
    """Print a report: one JSON object with ``--json``, else ``render()`` (or a key/value table)."""
    data = report.model_dump(mode="json") if isinstance(report, BaseModel) else report
    if as_json:
        print(json.dumps(data, ensure_ascii=False, default=str))
    elif render is not None:
        render()
    else:
        out.print(kv_table(data))


def kv_table(data: dict[str, Any], title: str | None = None) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in data.items():
        table.add_row(str(key), json.dumps(value) if isinstance(value, dict | list) else str(value))
    return table


def count_table(counts: dict[str, int], key: str, title: str | None = None) -> Table:
    table = Table(title=title)
    table.add_column(key)
    table.add_column("count", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    return table


def progress(unit: str = "rows", disable: bool = False) -> Progress:
    """A progress bar with a rate column (``unit``/s), drawn on stderr."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=disable,
        transient=False,
    )


def track_rate(items: Iterable, total: int | None, description: str, unit: str = "rows", disable: bool = False):
    """Iterate ``items`` with a bar showing ``unit``/s; yields the items unchanged."""
    with progress(unit, disable) as bar:
        task = bar.add_task(description, total=total, rate="")
        for n, item in enumerate(items, 1):
            yield item
            bar.advance(task)
            if n % 512 == 0:
                speed = bar.tasks[0].speed
                bar.update(task, rate=f"{speed:,.0f} {unit}/s" if speed else "")
