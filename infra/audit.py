"""Reading ``params.history``: the database's own record of every change to a parameter row.

The trigger of migration 0020 (login since 0053) writes it for ``params.instances`` and
``params.datasets`` alike; this is the one reader, so ``params history`` and ``datasets
history`` (and both ``revert`` commands) see the same entries the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg


@dataclass(frozen=True)
class HistoryEntry:
    """One audited change of a row.

    ``login`` is the authenticated login that made it (None for changes recorded before
    migration 0053); ``changed_by`` is only the label it gave (``--as``, ``locxia.actor``).
    Subclasses say which keys :meth:`diff` compares.
    """

    id: int
    op: str
    changed_by: str
    login: str | None
    changed_at: datetime
    old_row: dict[str, Any] | None
    new_row: dict[str, Any] | None

    def diff(self) -> dict[str, tuple[Any, Any]]:
        """Keys that changed: key → (old, new)."""
        old, new = self.old_row or {}, self.new_row or {}
        return {k: (old.get(k), new.get(k)) for k in {*old, *new} if old.get(k) != new.get(k)}


E = TypeVar("E", bound=HistoryEntry)


def read(
    conn: psycopg.Connection[Any], table: str, key: str, limit: int, entry: type[E]
) -> list[E]:
    """Changes of row ``key`` of ``params.<table>``, newest first, at most ``limit``."""
    rows = conn.execute(
        "SELECT id, op, changed_by, login, changed_at, old_row, new_row FROM params.history"
        " WHERE table_name = %s AND row_key = %s ORDER BY id DESC LIMIT %s",
        (table, key, limit),
    ).fetchall()
    return [entry(*row) for row in rows]
