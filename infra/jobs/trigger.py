"""Asking the running service to run a job now (``locxia jobs trigger``), and waiting for it.

The request is a row in ``ops.run_requests`` (only roles allowed to insert there can ask),
followed by a NOTIFY on ``locxia_control`` that merely wakes the leader up: the payload is
never trusted, because any connected role can NOTIFY. The leader takes pending requests with
``FOR UPDATE SKIP LOCKED``, so a request is handled once, even across a fail-over; requests
older than :data:`REQUEST_TTL_S` are expired rather than run late.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from infra.errors import JobError
from infra.names import required_name

LEADER_FRESH_S = 30
REQUEST_TTL_S = 600
CONTROL_CHANNEL = "locxia_control"


def request_run(conn: psycopg.Connection[Any], job_id: str) -> int:
    """Record the request and wake the leader; return the highest run id before it.

    Raises:
        InputError: ``job_id`` is empty or blank (nothing is recorded).
        JobError: no live leader.
    """
    required_name(job_id, "job name")
    leader = conn.execute(
        "SELECT id FROM ops.services WHERE role = 'leader'"
        " AND heartbeat_at > now() - make_interval(secs => %s)",
        (LEADER_FRESH_S,),
    ).fetchone()
    if leader is None:
        raise JobError(
            f"no `locxia serve` is leading (no heartbeat in {LEADER_FRESH_S}s);"
            " start one, or run the task here with `locxia jobs run`"
        )
    row = conn.execute("SELECT coalesce(max(id), 0) FROM ops.runs").fetchone()
    with conn.transaction():
        conn.execute("INSERT INTO ops.run_requests (job_id) VALUES (%s)", (job_id,))
        conn.execute(f"NOTIFY {CONTROL_CHANNEL}")
    return int(row[0]) if row else 0


def take_pending(conn: psycopg.Connection[Any]) -> list[tuple[int, str]]:
    """Claim pending requests (leader side); expire the stale ones. Returns (id, job_id)."""
    with conn.transaction():
        conn.execute(
            "UPDATE ops.run_requests SET handled_at = clock_timestamp(), outcome = 'expired'"
            " WHERE handled_at IS NULL AND requested_at < now() - make_interval(secs => %s)",
            (REQUEST_TTL_S,),
        )
        rows = conn.execute(
            "SELECT id, job_id FROM ops.run_requests WHERE handled_at IS NULL"
            " ORDER BY id FOR UPDATE SKIP LOCKED"
        ).fetchall()
        for request_id, _ in rows:
            conn.execute(
                "UPDATE ops.run_requests SET handled_at = clock_timestamp(), outcome = 'started'"
                " WHERE id = %s",
                (request_id,),
            )
    return [(int(r[0]), str(r[1])) for r in rows]


def mark_unknown(conn: psycopg.Connection[Any], request_id: int) -> None:
    """Record that a request named a job that is not scheduled."""
    conn.execute("UPDATE ops.run_requests SET outcome = 'unknown job' WHERE id = %s", (request_id,))


def wait_for_run(
    conn: psycopg.Connection[Any], job_id: str, after: int, timeout: float
) -> dict[str, Any]:
    """Poll ``ops.runs`` until the requested run of ``job_id`` ends.

    Raises:
        JobError: the service does not know the job, or no run ended within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cur = conn.execute(
            "SELECT id, status, error, details, started_at, ended_at FROM ops.runs"
            " WHERE job_id = %s AND trigger = 'manual' AND id > %s AND status <> 'running'"
            " ORDER BY id LIMIT 1",
            (job_id, after),
        )
        row = cur.fetchone()
        if row is not None:
            names = [c.name for c in cur.description or []]
            return dict(zip(names, row, strict=True))
        unknown = conn.execute(
            "SELECT 1 FROM ops.run_requests WHERE job_id = %s AND outcome = 'unknown job'"
            " AND requested_at > now() - make_interval(secs => %s)",
            (job_id, timeout + 5),
        ).fetchone()
        if unknown:
            raise JobError(f"the service has no scheduled job {job_id!r} (see `locxia jobs list`)")
        time.sleep(0.05)
    raise JobError(
        f"job {job_id}: no finished run within {timeout:.0f}s (see the service log and"
        " `locxia runs list`)"
    )
