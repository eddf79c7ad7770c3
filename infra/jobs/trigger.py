"""Asking the running service to run a job now (``locxia jobs trigger``), and waiting for it.

The request is a NOTIFY on ``locxia_control``, which the leader LISTENs to: no port to open,
no API to secure beyond the database itself. It is refused up front when no leader has
sent a heartbeat recently, instead of waiting for a run that will never come.
"""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg

from infra.errors import JobError

LEADER_FRESH_S = 30
CONTROL_CHANNEL = "locxia_control"


def request_run(conn: psycopg.Connection[Any], job_id: str) -> int:
    """Send the request; return the highest run id before it (to find the run afterwards).

    Raises:
        JobError: no live leader.
    """
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
    conn.execute(
        "SELECT pg_notify(%s, %s)",
        (CONTROL_CHANNEL, json.dumps({"action": "run", "job": job_id})),
    )
    return int(row[0]) if row else 0


def wait_for_run(
    conn: psycopg.Connection[Any], job_id: str, after: int, timeout: float
) -> dict[str, Any]:
    """Poll ``ops.runs`` until the requested run of ``job_id`` ends.

    Raises:
        JobError: it did not start or end within ``timeout`` seconds.
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
        time.sleep(0.05)
    raise JobError(
        f"job {job_id}: no finished run within {timeout:.0f}s (is it planned? see the"
        " service log and `locxia runs list`)"
    )
