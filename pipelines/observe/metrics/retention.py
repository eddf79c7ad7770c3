"""Retention: drop whole daily partitions of ``metrics.datapoints`` older than the setting.

Dropping a partition is instant and leaves no bloat, unlike ``DELETE``. A partition is dropped
only when its whole day is older than ``now - LOCXIA_METRICS_RETENTION_DAYS``; ``dry_run``
lists what would go without touching anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NotRequired, TypedDict

import psycopg
from psycopg import sql

_PART = re.compile(r"^datapoints_(\d{4})(\d{2})(\d{2})$")


@dataclass(frozen=True)
class Partition:
    """One daily partition."""

    name: str
    day: date


def partitions(conn: psycopg.Connection[Any]) -> list[Partition]:
    """The daily partitions of ``metrics.datapoints``, oldest first."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'metrics.datapoints'::regclass"
    ).fetchall()
    out = []
    for (name,) in rows:
        match = _PART.match(name)
        if match:
            out.append(Partition(name, date(*(int(g) for g in match.groups()))))
    return sorted(out, key=lambda p: p.day)


class RetentionResult(TypedDict):
    """What ``metrics.retention`` records: ``dropped`` or, on a dry run, ``would_drop``."""

    cutoff: str
    dry_run: bool
    dropped: NotRequired[list[str]]
    would_drop: NotRequired[list[str]]


def prune(
    conn: psycopg.Connection[Any], *, keep_days: int, now: datetime, dry_run: bool = False
) -> RetentionResult:
    """Drop the partitions entirely older than ``keep_days``; return what was (or would be) done."""
    cutoff = (now - timedelta(days=keep_days)).date()
    old = [p for p in partitions(conn) if p.day + timedelta(days=1) <= cutoff]
    if not dry_run:
        with conn.transaction():
            for part in old:
                conn.execute(sql.SQL("DROP TABLE metrics.{}").format(sql.Identifier(part.name)))
    result = RetentionResult(cutoff=cutoff.isoformat(), dry_run=dry_run)
    if dry_run:
        result["would_drop"] = [p.name for p in old]
    else:
        result["dropped"] = [p.name for p in old]
    return result
