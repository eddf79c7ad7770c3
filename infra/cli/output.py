"""How the CLI talks: Rich tables for people, ``--json`` for scripts, one red line for errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def emit_json(obj: Any) -> None:
    """Write ``obj`` as JSON on stdout (dates as ISO strings), nothing else."""
    sys.stdout.write(json.dumps(obj, default=str, indent=2, sort_keys=True) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A plain Rich table; ``None`` cells show as a dim dash."""
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("[dim]-[/dim]" if cell is None else str(cell) for cell in row))
    return out


def error_line(message: str) -> None:
    """The one red line every domain error becomes.

    The message is printed as text, not Rich markup: ``params.instances[work-db]`` must not
    lose its ``[work-db]`` to the markup parser.
    """
    err_console.print(
        f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True
    )


def warn_line(message: str) -> None:
    """A yellow warning line on stderr."""
    err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)
