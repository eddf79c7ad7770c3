"""Notifications: record an event people must act on, once per open ``(kind, key)``.

The contract every event source calls (:func:`emit`). Delivery (webhook, e-mail, rules,
quiet hours) is a separate step that reads ``ops.notifications``; it never runs inside the
caller's transaction. Until the ``ops.notifications`` table is migrated, :func:`emit` records
nothing and says so (returns False), so a source never fails for want of a notifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from infra.errors import InputError

#: The kinds of event: the contract between the sources and the rules.
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

    Runs in ``conn``'s current transaction (a savepoint), so the event exists exactly when
    the caller's change is committed.

    Returns:
        Whether a new event was recorded (False: deduplicated, or no notifications table).

    Raises:
        InputError: ``kind`` is not one of :data:`KINDS`, or ``key`` is empty.
    """
    if kind not in KINDS:
        raise InputError(f"unknown notification kind {kind!r} (one of {', '.join(KINDS)})")
    if not key:
        raise InputError("a notification needs a key")
    with conn.transaction():
        table = conn.execute("SELECT to_regclass('ops.notifications')").fetchone()
        if table is None or table[0] is None:
            return False
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('locxia.notify'), hashtext(%s))",
            (f"{kind}/{key}",),
        )
        if conn.execute(
            "SELECT 1 FROM ops.notifications WHERE kind = %s AND key = %s AND resolved_at IS NULL",
            (kind, key),
        ).fetchone():
            return False
        conn.execute(
            "INSERT INTO ops.notifications (kind, key, subject, body, details, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (kind, key, subject, body, Jsonb(dict(details or {})), at or datetime.now(UTC)),
        )
    return True
