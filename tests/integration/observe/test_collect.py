"""Acceptance: 60 tagged resources + 5 untagged look-alikes in moto, one collect cycle."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from infra.aws import AwsClients
from infra.db import connect
from infra.errors import JobError
from infra.settings import Settings
from pipelines.observe.metrics.collect import Collector
from tests.conftest import ROOT
from tests.integration.observe.conftest import (
    datapoints,
    run_discovery,
    short_windows,
    throttle,
    watch_calls,
)
from tests.integration.observe.fleet import Fleet

pytestmark = pytest.mark.slow

ALL_STATS = ["Average", "Maximum", "Minimum", "Sum", "SampleCount"]
DEFAULT_STATS = ["Average", "Maximum"]


def collect(settings: Settings, now: datetime, policy: str | None = None):  # type: ignore[no-untyped-def]
    clients = AwsClients(settings, epoch_timestamps=True)
    log = watch_calls(clients)
    details: dict[str, object] = {}
    with connect(settings.require_database_url()) as conn:
        Collector(settings, clients, conn, now=now, details=details).run(policy)
    return log, details


def test_discovery_finds_the_tagged_and_warns_about_lookalikes(
    aws_settings: Settings, fleet: Fleet, now: datetime
) -> None:
    report = run_discovery(aws_settings, now)
    assert report.tagged == {"ec2:instance": 20, "ec2:volume": 20, "rds:db": 20, "s3:bucket": 20}
    found = {s.resource_id: s.why for s in report.untagged}
    assert set(found) == set(fleet.untagged)
    for rid, reason in fleet.untagged.items():
        assert reason in found[rid], (rid, found[rid])
    with connect(aws_settings.require_database_url()) as conn:
        rows = conn.execute(
            "SELECT tagged, count(*) FROM metrics.resources GROUP BY tagged ORDER BY tagged"
        ).fetchall()
        again = run_discovery(aws_settings, now)
        # a history discovered after the present (back-filled) widens the sightings
        run_discovery(aws_settings, now - timedelta(days=7))
        seen = conn.execute(
            "SELECT DISTINCT first_seen, last_seen FROM metrics.resources WHERE tagged"
        ).fetchall()
    assert rows == [(False, 5), (True, 80)]
    assert again.new == [] and again.gone == []
    assert seen == [(now - timedelta(days=7), now)]


def test_one_cycle_stores_exactly_the_seeded_datapoints_once(
    aws_settings: Settings, fleet: Fleet, now: datetime, db_url: str
) -> None:
    run_discovery(aws_settings, now)
    short_windows(db_url, rds_stats=ALL_STATS)  # 600 RDS queries: two GetMetricData calls
    log, details = collect(aws_settings, now)

    queries = {
        "rds-default": 20 * 6 * 5,
        # CPU: Average and Maximum; network and EBS counts: Sum (migration 0065)
        "ec2-default": 15 * (2 + 4),
        "ec2-ingestion": 5 * (2 + 4),
        "ebs-default": 20 * 2 * 1,
        "s3-default": 20 * 2 * 1,
    }
    assert log.calls == sum(math.ceil(q / 500) for q in queries.values()) == 6
    assert sorted(log.queries) == sorted([500, 100, 90, 30, 40, 40])
    expected = fleet.expected(ALL_STATS, DEFAULT_STATS)
    assert len(expected) == 20 * 6 * 5 * 3 + 20 * (2 + 4) * 3 + 20 * 2 * 3
    assert datapoints(db_url) == expected
    assert details["api_calls"] == 6
    assert details["metrics_requested"] == sum(queries.values()) == 800
    assert details["datapoints"] == len(expected)
    assert details["estimated_cost_usd"] == pytest.approx(800 * 0.01 / 1000)

    log2, details2 = collect(aws_settings, now)
    assert datapoints(db_url) == expected
    assert details2["rows_changed"] == 0 and log2.calls == 6


def test_a_collector_killed_between_batches_leaves_no_gap_and_no_duplicate(
    aws_settings: Settings, fleet: Fleet, now: datetime, db_url: str, tmp_path: Path
) -> None:
    run_discovery(aws_settings, now)
    short_windows(db_url, rds_stats=ALL_STATS)
    marker = tmp_path / "between-batches"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.observe.hang_collector",
            db_url,
            str(aws_settings.aws_endpoint_url),
            now.isoformat(),
            str(marker),
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "collector exited before its second batch"
            assert time.monotonic() < deadline, "collector never reached its second batch"
            time.sleep(0.05)
        first_batch = datapoints(db_url)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    expected = {k: v for k, v in fleet.expected(ALL_STATS, []).items() if k[0] in fleet.rds}
    assert len(expected) == 1800
    assert len(first_batch) == 500 * 3  # the first batch (500 queries) was committed, alone
    assert first_batch.items() <= expected.items()

    log, _ = collect(aws_settings, now, "rds-default")
    assert log.calls == 2
    assert datapoints(db_url) == expected


def test_throttling_is_retried_with_backoff_and_loses_nothing(
    aws_settings: Settings, fleet: Fleet, now: datetime, db_url: str
) -> None:
    run_discovery(aws_settings, now)
    short_windows(db_url)
    clients = AwsClients(aws_settings, epoch_timestamps=True)
    injected = throttle(clients, times=3)
    log = watch_calls(clients)
    details: dict[str, object] = {}
    with connect(db_url) as conn:
        Collector(aws_settings, clients, conn, now=now, details=details).run("rds-default")
    assert injected() == 3
    assert log.calls == 1 and log.sends == 4  # one API call, three throttled attempts retried
    expected = {k: v for k, v in fleet.expected(DEFAULT_STATS, []).items() if k[0] in fleet.rds}
    assert datapoints(db_url) == expected
    assert details["api_calls"] == 1


def test_invalid_credentials_give_one_clear_error(
    aws_settings: Settings, now: datetime, db_url: str, iam_enforced: str
) -> None:
    details: dict[str, object] = {}
    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO metrics.resources (arn, type, resource_id, name, region, tagged,"
            " first_seen, last_seen) VALUES ('arn:aws:rds:eu-west-3:1:db:db-00', 'rds:db',"
            " 'db-00', 'db-00', 'eu-west-3', true, now(), now())"
        )
        conn.commit()
        clients = AwsClients(aws_settings, epoch_timestamps=True)
        with pytest.raises(JobError) as caught:
            Collector(aws_settings, clients, conn, now=now, details=details).run("rds-default")
    message = str(caught.value)
    assert "AWS rejected the credentials for cloudwatch:GetMetricData (InvalidClientTokenId)" in (
        message
    )
    assert "\n" not in message and "<?xml" not in message
    assert details["api_calls"] == 0 and details["errors"]


def test_a_grafana_login_holding_the_old_keys_cannot_stop_a_collection(
    aws_settings: Settings,
    fleet: Fleet,
    now: datetime,
    db_url: str,
    admin_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 12: the per-policy and partition advisory keys were free for any login to hold."""
    from tests.support.squatter import squatting

    run_discovery(aws_settings, now)
    short_windows(db_url, rds_stats=ALL_STATS)
    with connect(db_url) as conn:
        policies = [r[0] for r in conn.execute("SELECT name FROM params.collection_policies")]
    days = [(now - timedelta(days=d)).date() for d in range(-1, 3)]
    with squatting(admin_url, db_url, monkeypatch, policies=policies, days=days) as foreign:
        assert len(foreign.held) == 3 + len(policies) + len(days)
        _, details = collect(aws_settings, now)
    assert details["errors"] == []
    assert datapoints(db_url) == fleet.expected(ALL_STATS, DEFAULT_STATS)
