"""``ops.capacity_windows``: the ledger of every window, read and written here only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

_COLUMNS = (
    "id, run_id, job_id, declared_by, declared, state, added, previous, raise_runs,"
    " restore_runs, plan, opened_at, available_at, restoring_at, restored_at, reason, error,"
    " cost_usd, cost_basis"
)


def get(conn: psycopg.Connection[Any], window_id: int) -> dict[str, Any] | None:
    """One window as a dict, or None."""
    cur = conn.execute(f"SELECT {_COLUMNS} FROM ops.capacity_windows WHERE id = %s", (window_id,))
    row = cur.fetchone()
    names = [c.name for c in cur.description or []]
    return None if row is None else dict(zip(names, row, strict=True))


def listing(conn: psycopg.Connection[Any], limit: int = 50) -> list[dict[str, Any]]:
    """The newest windows, newest first."""
    cur = conn.execute(
        f"SELECT {_COLUMNS} FROM ops.capacity_windows ORDER BY id DESC LIMIT %s", (limit,)
    )
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def update(conn: psycopg.Connection[Any], window_id: int, **values: Any) -> None:
    """Set columns of window ``window_id`` (``"now"`` is the clock; dicts and lists JSON)."""
    from psycopg import sql

    cols = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(
            sql.Identifier(k),
            sql.SQL("clock_timestamp()") if v == "now" else sql.Placeholder(k),
        )
        for k, v in values.items()
    )
    params = {k: Jsonb(v) if isinstance(v, dict | list) else v for k, v in values.items()}
    conn.execute(
        sql.SQL("UPDATE ops.capacity_windows SET {} WHERE id = {}").format(
            cols, sql.Literal(window_id)
        ),
        params,
    )


def append_run(conn: psycopg.Connection[Any], window_id: int, column: str, run: Any) -> None:
    """Add Terraform run ``run`` to ``column`` (raise_runs, restore_runs) once; None: nothing."""
    if not isinstance(run, int):
        return
    from psycopg import sql

    conn.execute(
        sql.SQL(
            "UPDATE ops.capacity_windows SET {col} = array_append({col}, %s)"
            " WHERE id = %s AND NOT (%s = ANY({col}))"
        ).format(col=sql.Identifier(column)),
        (run, window_id, run),
    )


def plan_of(conn: psycopg.Connection[Any], names: list[str], since: datetime) -> dict[str, Any]:
    """The newest reconcile since ``since`` that changes one of ``names``: what it showed."""
    row = conn.execute(
        "SELECT id, status, changes, monthly_cost_before, monthly_cost_after, reasons,"
        " approved_login IS NOT NULL"
        " FROM ops.terraform_runs WHERE purpose = 'reconcile' AND started_at >= %s"
        " AND EXISTS (SELECT FROM jsonb_array_elements(changes) c"
        "             WHERE c ->> 'instance' = ANY(%s) AND c ->> 'action' <> 'no-op')"
        " ORDER BY id DESC LIMIT 1",
        (since, names),
    ).fetchone()
    if row is None:
        return {}
    before, after = row[3], row[4]
    return {
        "terraform_run": int(row[0]),
        "status": row[1],
        "changes": [c for c in row[2] or [] if c.get("instance") in names],
        "monthly_before": None if before is None else str(before),
        "monthly_after": None if after is None else str(after),
        "monthly_delta": None if before is None or after is None else str(after - before),
        "reasons": [r.get("message") for r in row[5] or []],
        "approved": bool(row[6]),
    }


def as_json(window: Mapping[str, Any]) -> dict[str, Any]:
    """A ledger row as JSON-ready values (decimals and times as strings)."""
    out: dict[str, Any] = json.loads(json.dumps(dict(window), default=_default))
    return out


def _default(obj: object) -> object:
    if isinstance(obj, Decimal | datetime):
        return str(obj)
    raise TypeError(type(obj).__name__)
