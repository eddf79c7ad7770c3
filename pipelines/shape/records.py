"""``ops.terraform_runs``: one row per plan, updated as the run moves on.

Statuses: ``planning`` → ``planned`` (dry run) | ``no_changes`` | ``rejected`` | ``held``
(waiting for ``locxia infra approve``) | ``applying`` → ``applied`` | ``failed``; a held run
whose inputs changed before anyone approved it becomes ``superseded``.

The approval columns (``approved_login``, ``approved_by``, ``approved_at``) are not written from
here: only ``ops.approve_plan`` records them (see :mod:`pipelines.shape.approval`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

_JSON = frozenset({"inputs", "reasons", "plan_summary", "changes", "plan_json"})
_COLUMNS = frozenset(
    {
        "status",
        "decision",
        "reasons",
        "plan_summary",
        "changes",
        "plan_json",
        "plan_file",
        "monthly_cost_before",
        "monthly_cost_after",
        "apply_log",
        "error",
        "decided_at",
        "ended_at",
        "plan_seconds",
        "apply_seconds",
    }
)
SUMMARY_COLUMNS = (
    "id, purpose, status, decision, requested_by, approved_by, approved_login, inputs_hash,"
    " plan_summary,"
    " monthly_cost_before, monthly_cost_after, reasons, changes, error, started_at,"
    " decided_at, ended_at, plan_seconds, apply_seconds"
)


def create(
    conn: psycopg.Connection[Any],
    *,
    purpose: str,
    requested_by: str,
    inputs_hash: str,
    inputs: Mapping[str, Any],
    job_run_id: int | None,
) -> int:
    """Insert a ``planning`` row; returns its id (autocommit connection expected)."""
    row = conn.execute(
        "INSERT INTO ops.terraform_runs (purpose, requested_by, inputs_hash, inputs, job_run_id)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (purpose, requested_by, inputs_hash, Jsonb(dict(inputs)), job_run_id),
    ).fetchone()
    assert row is not None
    return int(row[0])


def update(conn: psycopg.Connection[Any], run_id: int, **values: Any) -> None:
    """Set some columns of run ``run_id`` (``now`` as a value means the server's clock)."""
    unknown = set(values) - _COLUMNS
    if unknown:
        raise ValueError(f"not a terraform_runs column: {sorted(unknown)}")
    parts = []
    params: dict[str, Any] = {"id": run_id}
    for column, value in values.items():
        if value == "now":
            parts.append(sql.SQL("{} = clock_timestamp()").format(sql.Identifier(column)))
            continue
        parts.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)))
        params[column] = Jsonb(value) if column in _JSON and value is not None else value
    conn.execute(
        sql.SQL("UPDATE ops.terraform_runs SET {} WHERE id = %(id)s").format(
            sql.SQL(", ").join(parts)
        ),
        params,
    )


def get(conn: psycopg.Connection[Any], run_id: int, columns: str = "*") -> dict[str, Any] | None:
    """One run as a dict, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            sql.SQL("SELECT {} FROM ops.terraform_runs WHERE id = %s").format(sql.SQL(columns)),
            (run_id,),
        ).fetchone()


def latest(conn: psycopg.Connection[Any], limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs, newest first (summary columns only)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            sql.SQL("SELECT {} FROM ops.terraform_runs ORDER BY id DESC LIMIT %s").format(
                sql.SQL(SUMMARY_COLUMNS)
            ),
            (limit,),
        ).fetchall()


def last_conclusive(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
    """The newest reconcile that reached a verdict worth remembering for the same inputs."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, inputs_hash, status FROM ops.terraform_runs WHERE purpose = 'reconcile'"
            " AND status IN ('no_changes', 'held', 'rejected', 'applied')"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()


def last_applied_inputs(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
    """The tfvars of the newest applied run: what Terraform last made real."""
    row = conn.execute(
        "SELECT inputs FROM ops.terraform_runs WHERE status IN ('applied', 'no_changes')"
        " AND purpose = 'reconcile' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else dict(row[0])


def approved_held(conn: psycopg.Connection[Any], inputs_hash: str) -> int | None:
    """The oldest held run of these inputs whose approval the database recorded, if any."""
    row = conn.execute(
        "SELECT id FROM ops.terraform_runs WHERE purpose = 'reconcile' AND status = 'held'"
        " AND approved_login IS NOT NULL AND inputs_hash = %s ORDER BY id LIMIT 1",
        (inputs_hash,),
    ).fetchone()
    return None if row is None else int(row[0])


def supersede_held(conn: psycopg.Connection[Any], keep_hash: str) -> int:
    """Mark held runs of other inputs superseded (their plan no longer matches the rows)."""
    return conn.execute(
        "UPDATE ops.terraform_runs SET status = 'superseded', ended_at = clock_timestamp(),"
        " plan_file = NULL WHERE status = 'held' AND inputs_hash <> %s",
        (keep_hash,),
    ).rowcount


def supersede_run(conn: psycopg.Connection[Any], run_id: int) -> None:
    """Mark held run ``run_id`` superseded: a new plan of the same inputs replaces it."""
    conn.execute(
        "UPDATE ops.terraform_runs SET status = 'superseded', ended_at = clock_timestamp(),"
        " plan_file = NULL WHERE id = %s AND status = 'held'",
        (run_id,),
    )
