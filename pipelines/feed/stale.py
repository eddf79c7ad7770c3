"""Stale datasets, notified: the feed's own staleness judgement, sent to people once.

A dataset is stale as ``reporting.datasets`` (migration 0044) judges it: nothing of it is
live, or its newest landed version is not the one live (rejected by quality, waiting for
refine or publish, rolled back), or the last run of its scheduled feed failed. Age alone is
not staleness: a scheduled source that did not change lands nothing new. Only declared,
enabled datasets are watched (an undeclared one is a leftover, not a promise).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

import psycopg

from infra import notify

if TYPE_CHECKING:
    from infra.jobs.model import TaskContext


class StaleResult(TypedDict):
    """What ``layers.stale-check`` records: stale datasets, newly notified, back to fresh."""

    stale: int
    notified: int
    resolved: int


def check(conn: psycopg.Connection[Any], now: datetime) -> StaleResult:
    """Emit ``dataset_stale`` per stale dataset, resolve the fresh ones (one transaction)."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT dataset, stale, stale_reason, published_at, last_feed_at"
            " FROM reporting.datasets WHERE declared AND enabled ORDER BY dataset"
        ).fetchall()
        result: StaleResult = {"stale": 0, "notified": 0, "resolved": 0}
        for dataset, stale, reason, published_at, last_feed_at in rows:
            if not stale:
                result["resolved"] += notify.resolve(conn, "dataset_stale", dataset, now)
                continue
            result["stale"] += 1
            result["notified"] += notify.emit(
                conn,
                "dataset_stale",
                dataset,
                f"Dataset {dataset} is stale: {reason}",
                f"{dataset}: {reason}. Live version published {published_at or 'never'};"
                f" last feed run {last_feed_at or 'never'}.",
                {
                    "dataset": dataset,
                    "reason": reason,
                    "published_at": published_at.isoformat() if published_at else None,
                },
                now,
            )
    return result


def check_task(ctx: TaskContext) -> StaleResult:
    """The ``layers.stale-check`` job."""
    with ctx.connect() as conn:
        return check(conn, ctx.now())
