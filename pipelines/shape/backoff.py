"""Back-off after a failed reconcile: the tick does not re-plan failing inputs every 30 s.

A reconcile of the scheduled tick that fails (plan or apply, any :class:`~infra.errors.
LocxiaError` once the run is recorded) counts one failure against its inputs hash in
``ops.apply_backoff`` (migration 0058). The tick skips those inputs until ``next_try_at``:
1, 2, 4, 8, 16, 32 minutes after the 1st…6th failure, then every 60 minutes — held, with the
reason shown by ``locxia infra status`` and the dashboards (``reporting.apply_backoff``):
``held after 3 failures: terraform apply failed: …; next try at 2026-11-25 11:07:00 UTC``.

What ends it: a reconcile of those inputs that does not fail (``locxia infra apply`` plans at
once, ignoring the back-off), a new inputs hash (a row or a window changed: another plan, a
fresh count), or ``locxia infra retry`` (``ops.clear_backoff()``, idempotent). Times come from
the injected clock, so tests count tries over simulated minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from infra import notify
from infra.errors import ApprovalRefused, DatabaseError

#: Minutes to wait after the n-th consecutive failure (n = 1…7); the last value repeats.
SCHEDULE_MINUTES = (1, 2, 4, 8, 16, 32, 60)

_ERROR_CHARS = 300


def delay(failures: int) -> timedelta:
    """How long the tick waits after ``failures`` consecutive failures (≥ 1)."""
    if failures < 1:
        raise ValueError(f"failures must be at least 1, not {failures}")
    return timedelta(minutes=SCHEDULE_MINUTES[min(failures, len(SCHEDULE_MINUTES)) - 1])


def reason_line(failures: int, error: str, next_try_at: datetime) -> str:
    """The one wording of a back-off, for ``infra status``, the run's result and dashboards."""
    first = (error.strip().splitlines() or ["no error recorded"])[0]
    if len(first) > _ERROR_CHARS:
        first = first[: _ERROR_CHARS - 1] + "…"
    noun = "failure" if failures == 1 else "failures"
    when = next_try_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"held after {failures} {noun}: {first}; next try at {when}"


@dataclass(frozen=True)
class Backoff:
    """Failed reconciles of one inputs hash and when the tick tries them again."""

    inputs_hash: str
    failures: int
    last_run_id: int | None
    last_error: str
    next_try_at: datetime
    reason: str


def current(conn: psycopg.Connection[Any], inputs_hash: str) -> Backoff | None:
    """The back-off of ``inputs_hash``, if its last reconciles failed."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT inputs_hash, failures, last_run_id, last_error, next_try_at, reason"
            " FROM ops.apply_backoff WHERE inputs_hash = %s",
            (inputs_hash,),
        ).fetchone()
    return None if row is None else Backoff(**row)


def waiting(conn: psycopg.Connection[Any]) -> list[Backoff]:
    """Every back-off still recorded, newest failure first (``locxia infra status``)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT inputs_hash, failures, last_run_id, last_error, next_try_at, reason"
            " FROM ops.apply_backoff ORDER BY last_failed_at DESC"
        ).fetchall()
    return [Backoff(**row) for row in rows]


def gate(conn: psycopg.Connection[Any], inputs_hash: str, now: datetime) -> Backoff | None:
    """The back-off that keeps the tick from planning ``inputs_hash`` now, if any.

    Back-offs of other inputs are forgotten first: a change of the inputs starts afresh.
    """
    forget_others(conn, inputs_hash)
    found = current(conn, inputs_hash)
    return found if found is not None and now < found.next_try_at else None


def forget_others(conn: psycopg.Connection[Any], inputs_hash: str) -> None:
    """Forget the back-offs of every other inputs hash (autocommit connection expected)."""
    conn.execute("DELETE FROM ops.apply_backoff WHERE inputs_hash <> %s", (inputs_hash,))


def succeeded(conn: psycopg.Connection[Any], inputs_hash: str) -> None:
    """A reconcile of ``inputs_hash`` did not fail: its back-off, if any, ends."""
    if conn.execute(
        "DELETE FROM ops.apply_backoff WHERE inputs_hash = %s", (inputs_hash,)
    ).rowcount:
        notify.resolve(conn, "job_backoff", f"reconcile:{inputs_hash}")


def failed(
    conn: psycopg.Connection[Any],
    inputs_hash: str,
    run_id: int | None,
    error: str,
    now: datetime,
) -> Backoff:
    """Count one more failure of ``inputs_hash`` at ``now``; returns the new back-off."""
    before = current(conn, inputs_hash)
    failures = 1 if before is None else before.failures + 1
    next_try_at = now + delay(failures)
    reason = reason_line(failures, error, next_try_at)
    conn.execute(
        "INSERT INTO ops.apply_backoff (inputs_hash, failures, last_run_id, last_error,"
        " first_failed_at, last_failed_at, next_try_at, reason)"
        " VALUES (%(h)s, %(n)s, %(run)s, %(err)s, %(now)s, %(now)s, %(next)s, %(reason)s)"
        " ON CONFLICT (inputs_hash) DO UPDATE SET failures = EXCLUDED.failures,"
        " last_run_id = EXCLUDED.last_run_id, last_error = EXCLUDED.last_error,"
        " last_failed_at = EXCLUDED.last_failed_at, next_try_at = EXCLUDED.next_try_at,"
        " reason = EXCLUDED.reason",
        {
            "h": inputs_hash,
            "n": failures,
            "run": run_id,
            "err": error,
            "now": now,
            "next": next_try_at,
            "reason": reason,
        },
    )
    if failures == 1:
        # One event per failing inputs: the back-off starts (later failures only lengthen it).
        notify.emit(
            conn,
            "job_backoff",
            f"reconcile:{inputs_hash}",
            "Reconcile is backing off after a failed apply",
            reason,
            {"inputs_hash": inputs_hash, "run_id": run_id, "next_try_at": next_try_at},
            now,
        )
    return Backoff(inputs_hash, failures, run_id, error, next_try_at, reason)


def clear(conn: psycopg.Connection[Any]) -> int:
    """Forget every back-off now (``locxia infra retry``); returns how many were waiting.

    Idempotent: 0 when nothing was waiting. ``conn`` must not be inside a transaction.

    Raises:
        ApprovalRefused: the login may not (only the owner and ``locxia_approver`` may).
        DatabaseError: the database failed otherwise.
    """
    try:
        with conn.transaction():
            row = conn.execute("SELECT ops.clear_backoff()").fetchone()
    except psycopg.errors.InsufficientPrivilege as exc:  # EXECUTE: owner and approvers only
        raise ApprovalRefused(
            "retrying needs the locxia_approver role or the service's login"
        ) from exc
    except psycopg.Error as exc:
        if exc.sqlstate is None or exc.sqlstate.startswith("42"):
            raise  # not migrated, connection lost...: the CLI's mapping says what to do
        raise DatabaseError(f"back-off not cleared: {exc.diag.message_primary or exc}") from exc
    return int(row[0]) if row else 0
