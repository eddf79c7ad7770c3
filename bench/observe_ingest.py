"""Datapoint ingestion: 1,000,000 GetMetricData-shaped datapoints into metrics.datapoints.

Side by side, into the same partitioned table (primary key included), emptied before each run:

* **Locxia**: the collector's write path (`pipelines.observe.metrics.store.DatapointStore`): per
  batch of 500 series, partitions ensured, pages (~100,000 datapoints, as GetMetricData pages
  them) binary-COPYed as one row per series with two arrays, one `INSERT … SELECT unnest …
  ON CONFLICT DO UPDATE`, watermarks moved, commit. Input: pages shaped like the parsed
  response of `AwsClients(epoch_timestamps=True)` (parallel lists of POSIX seconds and values),
  generated lazily page by page like the API delivers them. Each run is a fresh process, so its
  peak RSS is its own.
* **psql `\\copy`** of the same rows as CSV, file written beforehand: the physical limit.
* **naive `executemany`** INSERT of (resource, metric, stat, period, datetime, value) tuples
  (psycopg 3, which pipelines executemany): on 100,000 rows, reported as rows/s.

Memory: peak RSS of the write-path process for 250,000 and for 1,000,000 datapoints — bounded
if it does not grow with the number of datapoints.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.common import ROOT, bench_database, hwm_kib, median
from infra.db import connect
from infra.db.localcluster import find_bindir

NAME = "observe_ingest"
TITLE = "Observe: ingesting 1,000,000 CloudWatch datapoints (issue 3)"
TOTAL = 1_000_000
SERIES_POINTS = 500  # datapoints per series: 2,000 series for a million
PAGE_POINTS = 100_000  # GetMetricData pages hold up to 100,800 datapoints
NAIVE_ROWS = 100_000
ROW_BY_ROW = 20_000
REPEAT = 3
START = 1_763_856_000.0  # 2025-11-23 00:00 UTC: all runs write the same keys
METRICS = ["CPUUtilization", "NetworkIn", "NetworkOut", "EBSReadOps", "EBSWriteOps"]


def series_keys(total: int) -> list[tuple[int, str, str]]:
    """(resource, metric, stat) of every series, 2 stats x 5 metrics per resource."""
    count = total // SERIES_POINTS
    keys = [
        (resource_id, metric, stat)
        for resource_id in range(1, count + 1)
        for metric in METRICS
        for stat in ("Average", "Maximum")
    ]
    return keys[:count]


def rows(total: int) -> Iterator[tuple[int, str, str, int, float, float]]:
    """The datapoints as flat rows (for the CSV and the naive path), same values each time."""
    rng = random.Random(3)
    for rid, metric, stat in series_keys(total):
        for k in range(SERIES_POINTS):
            yield rid, metric, stat, 60, START + 60 * k, rng.random() * 100


def _setup(url: str, total: int) -> None:
    count = total // SERIES_POINTS // 10 + 1
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO metrics.resources (id, arn, type, resource_id, name, region, tagged,"
            " first_seen, last_seen) SELECT i, 'arn:bench:' || i, 'ec2:instance', 'i-' || i,"
            " 'i-' || i, 'eu-west-3', true, now(), now() FROM generate_series(1, %s) i"
            " ON CONFLICT DO NOTHING",
            (count,),
        )
        conn.execute(
            "SELECT metrics.ensure_datapoint_partitions(to_timestamp(%s), to_timestamp(%s))",
            (START, START + 60 * SERIES_POINTS),
        )
        conn.commit()


def _empty(url: str) -> None:
    with connect(url) as conn:
        conn.execute("TRUNCATE metrics.datapoints, metrics.watermarks")
        conn.commit()
        conn.autocommit = True
        with contextlib.suppress(psycopg.Error):  # superuser only: less noise, not required
            conn.execute("CHECKPOINT")


# --- the write path, run in a child process ----------------------------------------------
def child(url: str, total: int) -> None:
    """Write ``total`` datapoints through the collector's store; print seconds and peak RSS."""
    from pipelines.observe.metrics.batching import Query, batches
    from pipelines.observe.metrics.fetch import Series
    from pipelines.observe.metrics.policies import MetricSpec
    from pipelines.observe.metrics.store import DatapointStore

    queries = [
        Query(rid, "InstanceId", f"i-{rid}", MetricSpec(metric), stat, 60)
        for rid, metric, stat in series_keys(total)
    ]
    rng = random.Random(3)
    stamps = [START + 60 * k for k in range(SERIES_POINTS)]
    start_dt = datetime.fromtimestamp(START, UTC)
    end_dt = datetime.fromtimestamp(START + 60 * SERIES_POINTS, UTC)
    per_page = PAGE_POINTS // SERIES_POINTS

    def pages(batch: list[Query]) -> Iterator[list[Series]]:
        for i in range(0, len(batch), per_page):
            yield [
                Series(q, list(stamps), [rng.random() * 100 for _ in range(SERIES_POINTS)])
                for q in batch[i : i + per_page]
            ]

    began = time.perf_counter()
    with connect(url) as conn:
        store = DatapointStore(conn)
        for batch in batches(queries):
            with conn.transaction():
                store.begin(start_dt, end_dt)
                for page in pages(batch):
                    store.stage(page)
                store.merge()
                store.advance(batch, end_dt, "bench", end_dt)
    seconds = time.perf_counter() - began
    peak = hwm_kib()
    sys.stdout.write(json.dumps({"seconds": seconds, "peak_kib": peak}) + "\n")


def locxia(url: str, total: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.observe_ingest", "--child", url, str(total)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _count(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM metrics.datapoints").fetchone()
    return int(row[0]) if row else 0


# --- anchors ------------------------------------------------------------------------------
def write_csv(path: Path, total: int) -> None:
    with path.open("w") as fh:
        for rid, metric, stat, period, ts, value in rows(total):
            stamp = datetime.fromtimestamp(ts, UTC).isoformat()
            fh.write(f"{rid},{metric},{stat},{period},{stamp},{value!r}\n")


def psql_copy(url: str, csv: Path) -> float:
    psql = str(find_bindir() / "psql")
    command = (
        f"\\copy metrics.datapoints (resource_id, metric, stat, period, ts, value)"
        f" FROM '{csv}' WITH (FORMAT csv)"
    )
    began = time.perf_counter()
    subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", command], check=True)
    return time.perf_counter() - began


def _tuples(total: int) -> list[tuple[int, str, str, int, datetime, float]]:
    """The rows as a driver gets them from application code (datetimes, not epochs)."""
    return [
        (rid, metric, stat, period, datetime.fromtimestamp(ts, UTC), value)
        for rid, metric, stat, period, ts, value in rows(total)
    ]


def naive(url: str, total: int) -> float:
    data = _tuples(total)
    began = time.perf_counter()
    with connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO metrics.datapoints (resource_id, metric, stat, period, ts, value)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            data,
        )
        conn.commit()
    return time.perf_counter() - began


def row_by_row(url: str, total: int) -> float:
    """One INSERT and one round trip per datapoint: what executemany is in most drivers."""
    data = _tuples(total)
    began = time.perf_counter()
    with connect(url) as conn, conn.cursor() as cur:
        for row in data:
            cur.execute(
                "INSERT INTO metrics.datapoints (resource_id, metric, stat, period, ts, value)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                row,
            )
        conn.commit()
    return time.perf_counter() - began


def run() -> str:
    with bench_database(NAME) as url, tempfile.TemporaryDirectory() as tmp:
        _setup(url, TOTAL)
        csv = Path(tmp) / "datapoints.csv"
        write_csv(csv, TOTAL)
        ours, raw, peaks = [], [], {}
        for _ in range(REPEAT):
            _empty(url)
            result = locxia(url, TOTAL)
            assert _count(url) == TOTAL
            ours.append(result["seconds"])
            peaks[TOTAL] = max(peaks.get(TOTAL, 0.0), result["peak_kib"])
            _empty(url)
            raw.append(psql_copy(url, csv))
            assert _count(url) == TOTAL
        _empty(url)
        small = locxia(url, TOTAL // 4)
        peaks[TOTAL // 4] = small["peak_kib"]
        _empty(url)
        again_first = locxia(url, TOTAL)["seconds"]
        rerun = locxia(url, TOTAL)["seconds"]  # every key exists: the lookback re-read case
        assert _count(url) == TOTAL
        slow = []
        for _ in range(2):
            _empty(url)
            slow.append(naive(url, NAIVE_ROWS))
            assert _count(url) == NAIVE_ROWS
        _empty(url)
        slowest = row_by_row(url, ROW_BY_ROW)
    return _report(ours, raw, slow, peaks, again_first, rerun, slowest)


def _report(
    ours: list[float],
    raw: list[float],
    slow: list[float],
    peaks: dict[int, float],
    first: float,
    rerun: float,
    slowest: float,
) -> str:
    r_ours, r_raw, r_naive = TOTAL / median(ours), TOTAL / median(raw), NAIVE_ROWS / median(slow)
    vs_raw, vs_naive = r_ours / r_raw, r_ours / r_naive
    small, big = peaks[TOTAL // 4] / 1024, peaks[TOTAL] / 1024
    ok_raw = "meets" if vs_raw >= 0.5 else "misses"
    ok_naive = "meets" if vs_naive >= 10 else "misses"
    ok_mem = "bounded" if big <= small * 1.25 else "NOT bounded"
    ours_row = (
        "| **Locxia write path** (COPY arrays → insert, upsert on overlap; 4 batches + watermarks)"
        f" | **{median(ours):.2f} s** | **{r_ours:,.0f}** | **{vs_raw:.2f}×** |"
    )
    raw_row = (
        "| `psql \\copy` CSV, same rows, same table (physical limit)"
        f" | {median(raw):.2f} s | {r_raw:,.0f} | 1.00× |"
    )
    naive_row = (
        "| naive `executemany` INSERT (psycopg 3)"
        f" | {median(slow):.2f} s / {NAIVE_ROWS:,} | {r_naive:,.0f} | {r_naive / r_raw:.2f}× |"
    )
    r_row = ROW_BY_ROW / slowest
    row_row = (
        "| row by row: one `execute` and round trip per datapoint"
        f" | {slowest:.2f} s / {ROW_BY_ROW:,} | {r_row:,.0f} | {r_row / r_raw:.2f}× |"
    )
    return f"""
{TOTAL:,} datapoints (2,000 series × 500 one-minute points), empty table with its primary key
before each run, medians of {REPEAT} runs (naive: of 2 runs on {NAIVE_ROWS:,} rows). PostgreSQL
with its default, durable settings.

| path | time | rows/s | vs raw COPY |
|---|---|---|---|
{ours_row}
{raw_row}
{naive_row}
{row_row}

- Locxia / raw COPY: **{vs_raw:.2f}×** — {ok_raw} the ≥ 0.5× target. Locxia / naive
  `executemany`: **{vs_naive:.1f}×** — {ok_naive} the ≥ 10× target; psycopg 3 pipelines
  `executemany` (no round trip per row), so raw COPY itself is only {r_raw / r_naive:.1f}× it
  here: 10× it would mean {10 * r_naive / r_raw:.1f}× the physical limit. Against the row-by-row
  insert (what `executemany` is in psycopg 2 and most drivers): **{r_ours / r_row:.0f}×**.
- Re-reading a window whose {TOTAL:,} keys all exist (the lookback case; nothing changes):
  {rerun:.2f} s ({first:.2f} s for the first load in the same sequence).
- Peak RSS of the write-path process: {small:.0f} MiB for {TOTAL // 4:,} datapoints,
  {big:.0f} MiB for {TOTAL:,} — {ok_mem} (one page of ~100,000 datapoints is held at a time).
- Not in these figures: botocore's own parsing. With its default timestamp parser botocore
  builds a `datetime` with a fresh `tzlocal()` per value (~20 µs: ~20 s of CPU per million
  datapoints); the collector's client parses timestamps to POSIX seconds instead
  (`AwsClients(epoch_timestamps=True)`).
"""


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        sys.stdout.write(run())
