"""Rendering command results for the terminal: aligned tables and JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import click


def format_millis(millis: int | None) -> str:
    """An epoch-milliseconds timestamp as ``YYYY-MM-DD HH:MM:SS UTC`` (blank when unknown)."""
    if millis is None:
        return ""
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows under headers, columns padded to their widest cell."""
    cells = [
        [str(c) for c in headers],
        *([("" if c is None else str(c)) for c in row] for row in rows),
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()

    click.echo(line(cells[0]))
    click.echo(line(["-" * w for w in widths]))
    for row in cells[1:]:
        click.echo(line(row))


def echo_json(value: Any) -> None:
    """Print a JSON document, indented for reading."""
    click.echo(json.dumps(value, indent=4))
