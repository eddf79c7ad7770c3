"""Notifications: events people must act on, recorded once in ``ops.notifications``.

:func:`emit` records one event unless the same ``(kind, key)`` is still open (recorded within
:data:`REOPEN_AFTER` and not resolved), so a condition seen on every tick notifies once;
:func:`resolve` closes it when the condition ends. Delivery (webhook, SMTP, quiet hours) is a
separate step, never inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from infra.errors import InputError

#: The kinds of event (the contract between the sources and the rules).
KINDS = (
    "plan_held",
    "budget_forecast",
    "cost_anomaly",
    "drift",
    "job_backoff",
    "job_failing",
    "dataset_stale",
    "monitoring_cap",
)
#: An open event older than this no longer dedupes: a condition still true a day later is
#: worth a reminder.
REOPEN_AFTER = timedelta(hours=24)


def emit(
    conn: psycopg.Connection[Any],
    kind: str,
    key: str,
    subject: str,
    body: str,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> bool:
    """Record one event of ``kind`` about ``key`` unless the same one is still open.

    Runs in ``conn``'s current transaction (a savepoint when one is open).

    Returns:
        Whether a new event was recorded (False: deduplicated).

    Raises:
        InputError: ``kind`` is not one of :data:`KINDS`, or ``key`` is empty.
    """
    if kind not in KINDS:
        raise InputError(f"unknown notification kind {kind!r} (one of {', '.join(KINDS)})")
    if not key:
        raise InputError("a notification needs a key")
    when = at or datetime.now(UTC)
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('locxia.notify'), hashtext(%s))",
            (f"{kind}/{key}",),
        )
        open_ = conn.execute(
            "SELECT 1 FROM ops.notifications WHERE kind = %s AND key = %s"
            " AND resolved_at IS NULL AND created_at > %s",
            (kind, key, when - REOPEN_AFTER),
        ).fetchone()
        if open_ is not None:
            return False
        conn.execute(
            "INSERT INTO ops.notifications (kind, key, subject, body, details, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (kind, key, subject, body, Jsonb(dict(details or {})), when),
        )
    return True


def resolve(conn: psycopg.Connection[Any], kind: str, key: str, at: datetime | None = None) -> int:
    """Close the open events of ``(kind, key)``: the condition ended. Returns how many."""
    return conn.execute(
        "UPDATE ops.notifications SET resolved_at = %s"
        " WHERE kind = %s AND key = %s AND resolved_at IS NULL",
        (at or datetime.now(UTC), kind, key),
    ).rowcount
