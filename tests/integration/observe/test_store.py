"""The write path and the adaptive cadence against a real PostgreSQL (no AWS involved)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from infra.aws import AwsClients
from infra.db import connect
from infra.settings import Settings
from pipelines.observe.metrics.batching import Query
from pipelines.observe.metrics.collect import Collector
from pipelines.observe.metrics.fetch import Series
from pipelines.observe.metrics.policies import MetricSpec, load_policies, load_resources
from pipelines.observe.metrics.store import DatapointStore

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
QUERY = Query(1, "InstanceId", "i-1", MetricSpec("CPUUtilization"), "Average", 60)


def _resource(url: str, rid: str = "i-1", **tags: str) -> int:
    import json

    with connect(url) as conn:
        row = conn.execute(
            "INSERT INTO metrics.resources (arn, type, resource_id, name, region, tags, tagged,"
            " state, first_seen, last_seen) VALUES (%s, 'ec2:instance', %s, %s, 'eu-west-3',"
            " %s, true, 'running', %s, %s) RETURNING id",
            (f"arn:aws:ec2:eu-west-3:1:instance/{rid}", rid, rid, json.dumps(tags), T0, T0),
        ).fetchone()
        conn.commit()
    assert row is not None
    return int(row[0])


def _write(url: str, minutes: range, value: float) -> int:
    stamps = [(T0 + timedelta(minutes=m)).timestamp() for m in minutes]
    with connect(url) as conn, conn.transaction():
        store = DatapointStore(conn)
        store.begin(T0, T0 + timedelta(hours=1))
        store.stage([Series(QUERY, stamps, [value + m for m in minutes])])
        return store.merge()


def _values(url: str) -> dict[int, float]:
    with connect(url) as conn:
        rows = conn.execute("SELECT ts, value FROM metrics.datapoints ORDER BY ts").fetchall()
    return {int((ts - T0).total_seconds() // 60): v for ts, v in rows}


def test_overlap_is_upserted_new_points_inserted_and_a_rerun_changes_nothing(db_url: str) -> None:
    assert _write(db_url, range(0, 10), 0.0) == 10
    assert _write(db_url, range(5, 15), 100.0) == 10  # 5 changed + 5 new
    assert _values(db_url) == {m: (m if m < 5 else 100.0 + m) for m in range(15)}
    assert _write(db_url, range(5, 15), 100.0) == 0


def test_a_concurrent_writer_falls_back_to_the_upsert(db_url: str) -> None:
    """Another session inserts a key after our look-up: the plain insert would collide."""
    other = connect(db_url)
    other.execute(
        "SELECT metrics.ensure_datapoint_partitions(%s, %s)", (T0, T0 + timedelta(hours=1))
    )
    other.commit()
    other.execute(
        "INSERT INTO metrics.datapoints VALUES (1, 'CPUUtilization', 'Average', 60, %s, -1)",
        (T0 + timedelta(minutes=3),),
    )  # not committed yet: invisible to our look-up, but it holds the key
    committer = threading.Timer(1.0, other.commit)
    committer.start()
    try:
        changed = _write(db_url, range(0, 5), 0.0)
    finally:
        committer.join()
        other.close()
    assert changed == 5  # 4 inserted + the concurrent row updated to our value
    assert _values(db_url) == {m: float(m) for m in range(5)}


def test_adaptive_cadence_skips_idle_resources_until_due(settings: Settings, db_url: str) -> None:
    busy, idle = _resource(db_url, "i-busy"), _resource(db_url, "i-idle")
    now = T0 + timedelta(hours=1)
    with connect(db_url) as conn:
        for rid, cpu in ((busy, 55.0), (idle, 3.0)):
            conn.execute(
                "SELECT metrics.ensure_datapoint_partitions(%s, %s)",
                (now - timedelta(hours=1), now),
            )
            conn.execute(
                "INSERT INTO metrics.datapoints VALUES (%s, 'CPUUtilization', 'Average', 300, %s,"
                " %s)",
                (rid, now - timedelta(minutes=10), cpu),
            )
            conn.execute(  # every series of ec2-default was fetched 400 s ago
                "INSERT INTO metrics.watermarks (resource_id, metric, stat, period, watermark,"
                " policy, fetched_at) SELECT %s, m, s, 300, %s, 'ec2-default', %s"
                " FROM unnest(%s::text[], %s::text[]) AS q(m, s)",
                (
                    rid,
                    now - timedelta(minutes=5),
                    now - timedelta(seconds=400),
                    # CPU as Average and Maximum, the counts as Sum (migration 0065)
                    ["CPUUtilization", "CPUUtilization", "NetworkIn", "NetworkOut"]
                    + ["EBSReadOps", "EBSWriteOps"],
                    ["Average", "Maximum", "Sum", "Sum", "Sum", "Sum"],
                ),
            )
        conn.commit()
        policy = next(p for p in load_policies(conn) if p.name == "ec2-default")
        resources = load_resources(conn)
        collector = Collector(settings, AwsClients(settings), conn, now=now, details={})
        scheduled = collector.plan(policy, resources, None, scheduled=True)
        manual = collector.plan(policy, resources, None, scheduled=False)
        later = Collector(
            settings, AwsClients(settings), conn, now=now + timedelta(minutes=10), details={}
        ).plan(policy, resources, None, scheduled=True)
    # busy (55 % > 20 %): due after 300 s; idle: after 900 s (minus half a tick of slack)
    assert [r.id for r in scheduled.resources] == [busy] and scheduled.skipped_not_due == 1
    assert [r.id for r in manual.resources] == [busy, idle] and manual.skipped_not_due == 0
    assert [r.id for r in later.resources] == [busy, idle]
