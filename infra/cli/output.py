r"""How the CLI talks: Rich tables for people, ``--json`` for scripts, one red line for errors.

Every string the CLI prints for people goes through :class:`SafeConsole`, so a control
character held in data (a note with ``ESC [2J``, a ``CR`` that rewrites the line, a ``BEL``)
is shown as ``\x1b``, ``\x0d``... and never acted on by the terminal. ``--json`` output is
escaped by the JSON encoder itself (``\u001b``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

#: C0 controls but tab and newline (layout, not commands), DEL, and the C1 controls
#: (``\x9b`` is a CSI by itself on terminals that honour 8-bit controls) → ``\xNN``.
_VISIBLE = {
    code: f"\\x{code:02x}"
    for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))
    if code not in (0x09, 0x0A)
}


def visible(text: str) -> str:
    r"""``text`` with every terminal control character written out as ``\xNN``."""
    return text.translate(_VISIBLE)


class SafeConsole(Console):
    """A Rich console that never passes a control character from data to the terminal.

    Rich turns every string it prints (``print("...")``, table cells, titles) into a
    :class:`~rich.text.Text` through :meth:`render_str`; escaping there, before the markup is
    parsed, covers all of them (Rich itself drops only BEL, BS, VT, FF and CR, silently, and
    lets ESC through). Rich's own styling is added after, as segments, so it is unaffected.
    """

    def render_str(self, text: str, **kwargs: Any) -> Text:
        """The string, control characters made visible, then rendered as Rich would."""
        return super().render_str(visible(text), **kwargs)


console = SafeConsole()
err_console = SafeConsole(stderr=True)


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


def emit_history(
    name: str, entries: Iterable[Any], show: Callable[[Any], str], as_json: bool
) -> None:
    """The audited changes of one parameter row (``params.history``), for people or scripts.

    ``entries`` have ``id``, ``op``, ``login``, ``changed_by``, ``changed_at`` and ``diff()``
    (column → (old, new)); ``show`` prints one value. One place, so ``params history`` and
    ``datasets history`` read the same: "as" is the --as label only when it differs from the
    login that made the change.
    """
    rows: list[dict[str, Any]] = [
        {
            "id": e.id,
            "op": e.op,
            "login": e.login,
            "by": e.changed_by,
            "at": e.changed_at,
            "changes": {k: list(v) for k, v in e.diff().items()},
        }
        for e in entries
    ]
    if as_json:
        emit_json(rows)
        return
    console.print(
        table(
            f"History of {name}",
            ["id", "op", "login", "as", "at", "changes"],
            [
                (
                    r["id"],
                    r["op"],
                    r["login"] or "(not recorded)",
                    "" if r["by"] == r["login"] else r["by"],
                    r["at"].isoformat(timespec="seconds"),
                    "; ".join(f"{k}: {show(o)} → {show(n)}" for k, (o, n) in r["changes"].items()),
                )
                for r in rows
            ],
        )
    )
