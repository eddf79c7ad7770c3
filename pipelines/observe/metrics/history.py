"""State history: what each resource was, and when (``metrics.resource_states``).

Estimates must price last night with last night's state, not with this morning's: AWS bills
each second in the state and configuration in force then. So every observation of a resource —
each discovery, each power action or apply shape takes — goes through :func:`record_state`, which
writes a row only when the state or the priced attributes differ from the row in force at that
time. A row is in force from ``since`` until the next row; :func:`states_between` cuts a time
range into those segments.

This module is the declared interface between observe and shape (shape records the states its
calls cause through :func:`record_transition`); it imports the core only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

#: One segment of a resource's history: [start, end), its state and priced attributes.
Segment = tuple[datetime, datetime, str, dict[str, Any]]


def in_force(
    conn: psycopg.Connection[Any], resource_db_id: int, at: datetime
) -> tuple[datetime, str, dict[str, Any]] | None:
    """The row in force at ``at`` (its ``since``, state, attributes), or None before the first."""
    row = conn.execute(
        "SELECT since, state, attributes FROM metrics.resource_states"
        " WHERE resource_id = %s AND since <= %s ORDER BY since DESC LIMIT 1",
        (resource_db_id, at),
    ).fetchone()
    return None if row is None else (row[0], str(row[1]), dict(row[2]))


def record_state(
    conn: psycopg.Connection[Any],
    resource_db_id: int,
    at: datetime,
    state: str,
    attributes: Mapping[str, Any],
    source: str,
) -> bool:
    """Record that the resource was in ``state`` with ``attributes`` at ``at``.

    Writes only when the state or the attributes differ from the row in force at ``at`` (a row
    already at exactly ``at`` is replaced: the latest observation of an instant wins).

    Args:
        conn: the caller's connection (the write joins its transaction, if any).
        resource_db_id: ``metrics.resources.id``.
        at: when the state was observed or caused (AWS's call time for shape's actions).
        state: the AWS state (``DBInstanceStatus``, EC2 state name...) or ``deleted``.
        attributes: the priced attributes in force (as discovery names them).
        source: ``discovery`` or ``shape:<action>``.

    Returns:
        Whether a row was written.
    """
    current = in_force(conn, resource_db_id, at)
    if current is not None and current[1] == state and current[2] == dict(attributes):
        return False
    conn.execute(
        "INSERT INTO metrics.resource_states (resource_id, since, state, attributes, source)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (resource_id, since) DO UPDATE"
        " SET state = EXCLUDED.state, attributes = EXCLUDED.attributes,"
        " source = EXCLUDED.source, recorded_at = clock_timestamp()",
        (resource_db_id, at, state, Jsonb(dict(attributes)), source),
    )
    return True


def states_between(
    conn: psycopg.Connection[Any], resource_db_id: int, start: datetime, end: datetime
) -> list[Segment]:
    """The segments of [``start``, ``end``) with the state and attributes in force in each.

    Time before the resource's first row is not covered (nothing was known of it then).
    """
    rows = conn.execute(
        "SELECT since, state, attributes FROM metrics.resource_states WHERE resource_id = %s"
        " AND since < %s AND since >= coalesce((SELECT max(since) FROM metrics.resource_states"
        " WHERE resource_id = %s AND since <= %s), %s) ORDER BY since",
        (resource_db_id, end, resource_db_id, start, start),
    ).fetchall()
    return segments([(r[0], str(r[1]), dict(r[2])) for r in rows], start, end)


def segments(
    rows: list[tuple[datetime, str, dict[str, Any]]], start: datetime, end: datetime
) -> list[Segment]:
    """Cut [``start``, ``end``) by ``rows`` (sorted by ``since``); empty segments dropped."""
    out: list[Segment] = []
    for i, (since, state, attrs) in enumerate(rows):
        until = rows[i + 1][0] if i + 1 < len(rows) else end
        seg_start, seg_end = max(since, start), min(until, end)
        if seg_start < seg_end:
            out.append((seg_start, seg_end, state, attrs))
    return out


def record_transition(
    conn: psycopg.Connection[Any],
    resource_type: str,
    name: str,
    at: datetime,
    state: str,
    source: str,
    changes: Mapping[str, Any] | None = None,
) -> bool:
    """Record the state an action caused on the resource named ``name``, if discovery knows it.

    The attributes are those in force at ``at`` updated with ``changes`` (an apply's new class
    or storage); a resource discovery has not seen yet gets its first row from discovery.

    Returns:
        Whether a row was written.
    """
    row = conn.execute(
        "SELECT id, attributes FROM metrics.resources WHERE type = %s AND name = %s"
        " ORDER BY gone_at IS NULL DESC, id DESC LIMIT 1",
        (resource_type, name),
    ).fetchone()
    if row is None:
        return False
    current = in_force(conn, int(row[0]), at)
    attributes = dict(current[2] if current is not None else row[1])
    attributes.update({k: v for k, v in (changes or {}).items() if v is not None})
    return record_state(conn, int(row[0]), at, state, attributes, source)
