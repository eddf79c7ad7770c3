"""Store: COPY series into a staging table, upsert into ``metrics.datapoints``, move watermarks.

The write path, in the caller's transaction (one per GetMetricData batch):

1. ``metrics.ensure_datapoint_partitions`` creates the daily partitions the window touches;
2. each page is streamed with binary ``COPY`` into a temporary table, **one row per series
   with two arrays** (timestamps, values) — so Python does per-series work, not per-datapoint
   work, and memory holds one page;
3. the merge: for each staged series, the newest datapoint already stored in the window is
   looked up (one index probe); datapoints after it cannot conflict and go in with a plain
   ``INSERT … SELECT … unnest`` (speculative insertion costs ~1.8× per row), the others — the
   lookback overlap — through ``INSERT … ON CONFLICT DO UPDATE``. A re-read window lands on
   the same keys: idempotent. Should a concurrent writer (Metric Streams) slip a key in
   between, the plain insert is rolled back to a savepoint and everything goes through the
   upsert;
4. the watermarks of the batch's series move forward (never back) in the same transaction,
   so a crash leaves either the batch and its watermarks, or neither: no gap, no duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg

from pipelines.observe.metrics.batching import Query
from pipelines.observe.metrics.fetch import Series

#: (resource, metric, stat, period, timestamps, values) of one series.
StageRow = tuple[int, str, str, int, list[float], list[float]]

_STAGE_DDL = (
    'CREATE TEMP TABLE IF NOT EXISTS metrics_stage (resource_id bigint, metric text COLLATE "C",'
    ' stat text COLLATE "C", period integer, ts double precision[], vals double precision[],'
    " known double precision) ON COMMIT DELETE ROWS"
)
_COPY = (
    "COPY pg_temp.metrics_stage (resource_id, metric, stat, period, ts, vals)"
    " FROM STDIN (FORMAT BINARY)"
)
_TYPES = ["int8", "text", "text", "int4", "float8[]", "float8[]"]
# Newest stored datapoint of each staged series within the staged range (an index probe).
_KNOWN = (
    "UPDATE pg_temp.metrics_stage s SET known = (SELECT extract(epoch FROM max(d.ts))"
    " FROM metrics.datapoints d WHERE d.resource_id = s.resource_id AND d.metric = s.metric"
    " AND d.stat = s.stat AND d.period = s.period AND d.ts >= %(start)s AND d.ts <= %(end)s)"
)
_SELECT = (
    "SELECT s.resource_id, s.metric, s.stat, s.period, to_timestamp(u.t), u.v"
    " FROM pg_temp.metrics_stage s CROSS JOIN LATERAL unnest(s.ts, s.vals) AS u(t, v)"
)
# Metric Streams may deliver a record twice (Firehose is at-least-once): keep the last one,
# since one INSERT ... ON CONFLICT may not touch the same key twice.
_SELECT_DEDUPED = (
    "SELECT resource_id, metric, stat, period, ts, value FROM (SELECT DISTINCT ON"
    " (s.resource_id, s.metric, s.stat, s.period, u.t) s.resource_id, s.metric, s.stat,"
    " s.period, to_timestamp(u.t) AS ts, u.v AS value"
    " FROM pg_temp.metrics_stage s CROSS JOIN LATERAL unnest(s.ts, s.vals)"
    " WITH ORDINALITY AS u(t, v, n)"
    " ORDER BY s.resource_id, s.metric, s.stat, s.period, u.t, u.n DESC) d"
)
_INSERT = "INSERT INTO metrics.datapoints (resource_id, metric, stat, period, ts, value) "
_ON_CONFLICT = (
    " ON CONFLICT (resource_id, metric, stat, period, ts) DO UPDATE SET value = EXCLUDED.value"
    " WHERE datapoints.value IS DISTINCT FROM EXCLUDED.value"
)
_NEW = " WHERE s.known IS NULL OR u.t > s.known"
_OVERLAP = " WHERE u.t <= s.known"


class DatapointStore:
    """Writes series within the transactions of ``conn`` (the caller commits)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._range: tuple[datetime, datetime] | None = None

    def begin(self, start: datetime, end: datetime) -> None:
        """Prepare a batch whose datapoints lie in ``[start, end]``: staging, partitions."""
        self.conn.execute(_STAGE_DDL)
        self.conn.execute("SELECT metrics.ensure_datapoint_partitions(%s, %s)", (start, end))
        self._range = (start, end)

    def stage(self, series: Iterable[Series]) -> int:
        """COPY series into the staging table; return the datapoints staged."""
        count = 0
        with self.conn.cursor() as cur, cur.copy(_COPY) as copy:
            copy.set_types(_TYPES)
            for s in series:
                q = s.query
                copy.write_row(
                    (q.resource, q.metric.name, q.stat, q.period, s.timestamps, s.values)
                )
                count += len(s.values)
        return count

    def stage_rows(self, rows: Iterable[StageRow]) -> None:
        """COPY pre-grouped rows ``(resource, metric, stat, period, ts[], values[])``."""
        with self.conn.cursor() as cur, cur.copy(_COPY) as copy:
            copy.set_types(_TYPES)
            for row in rows:
                copy.write_row(row)

    def merge(self, *, dedupe: bool = False) -> int:
        """Move the staged datapoints into the table; return the rows inserted or changed.

        Args:
            dedupe: the staged data may repeat a key (Metric Streams): collapse, then upsert.
        """
        if dedupe or self._range is None:
            return self._execute(_INSERT + (_SELECT_DEDUPED if dedupe else _SELECT) + _ON_CONFLICT)
        start, end = self._range
        self.conn.execute(_KNOWN, {"start": start, "end": end})
        changed = self._execute(_INSERT + _SELECT + _OVERLAP + _ON_CONFLICT)
        try:
            with self.conn.transaction():  # a savepoint: undo only the plain insert
                return changed + self._execute(_INSERT + _SELECT + _NEW)
        except psycopg.errors.UniqueViolation:  # a concurrent writer got there first
            return changed + self._execute(_INSERT + _SELECT + _NEW + _ON_CONFLICT)

    def _execute(self, statement: str) -> int:
        cur = self.conn.execute(statement.encode())
        return max(cur.rowcount, 0)

    def advance(
        self, queries: Sequence[Query], watermark: datetime, policy: str, now: datetime
    ) -> None:
        """Move the watermarks of ``queries`` to ``watermark`` (never backwards)."""
        if not queries:
            return
        self.conn.execute(
            "INSERT INTO metrics.watermarks AS w (resource_id, metric, stat, period, watermark,"
            " policy, fetched_at)"
            " SELECT r, m, s, p, %s, %s, %s FROM unnest(%s::bigint[], %s::text[], %s::text[],"
            " %s::integer[]) AS u(r, m, s, p)"
            " ON CONFLICT (resource_id, metric, stat, period) DO UPDATE SET"
            " watermark = greatest(w.watermark, EXCLUDED.watermark), policy = EXCLUDED.policy,"
            " fetched_at = EXCLUDED.fetched_at",
            (
                watermark,
                policy,
                now,
                [q.resource for q in queries],
                [q.metric.name for q in queries],
                [q.stat for q in queries],
                [q.period for q in queries],
            ),
        )


def watermarks_of(
    conn: psycopg.Connection[Any], queries: Sequence[Query]
) -> dict[tuple[int, str, str, int], tuple[datetime, datetime]]:
    """``(watermark, fetched_at)`` per series key, for the series that have one."""
    if not queries:
        return {}
    rows = conn.execute(
        "SELECT resource_id, metric, stat, period, watermark, fetched_at FROM metrics.watermarks"
        " WHERE resource_id = ANY(%s)",
        (sorted({q.resource for q in queries}),),
    ).fetchall()
    return {(r[0], r[1], r[2], r[3]): (r[4], r[5]) for r in rows}
