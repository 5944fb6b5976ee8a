"""Human-readable rendering shared by the commands: tables, durations, timestamps, key/value views."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from clara_ray.cli.context import out

STATUS_STYLE = {"COMPLETED": "green", "FAILED": "red", "CANCELLED": "yellow", "RUNNING": "cyan",
                "QUEUED": "blue", "PENDING": "blue", "active": "green", "rejected": "red", "archived": "dim"}
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(max(seconds, 0.0)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def timestamp(value: str | None) -> str:
    """ISO time from the API as `YYYY-MM-DD HH:MM:SS` (as given: the API answers in UTC)."""
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def short_time(value: str | None) -> str:
    """`MM-DD HH:MM` for table cells, where the year would push the identifiers off an 80-column terminal."""
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(value).strftime("%m-%d %H:%M")
    except ValueError:
        return value


def number(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def status(value: str | None) -> Text:
    return Text(value or "-", style=STATUS_STYLE.get(value or "", ""))


# Columns whose values are what a user copies into the next command: never cut with an ellipsis.
IDENTIFIERS = {"id", "job", "version", "name", "adapter", "alias", "key", "prefix", "status", "step", "created"}


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    t = Table(title=title, header_style="bold", title_justify="left")
    for name in columns:
        whole = name.strip().lower() in IDENTIFIERS
        t.add_column(name, no_wrap=whole)
    for row in rows:
        t.add_row(*(cell if isinstance(cell, Text) else Text(str(cell)) for cell in row))
    out.print(t)


def key_values(pairs: Iterable[tuple[str, Any]]) -> None:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    for key, value in pairs:
        t.add_row(key, value if isinstance(value, Text) else Text(str(value)))
    out.print(t)
