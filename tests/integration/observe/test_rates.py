"""Rates as AWS counts them, each resource read in its own region, periods AWS never serves.

Network rates: CloudWatch's ``NetworkIn`` is the bytes received during one sample, 1 minute in
detailed monitoring and 5 minutes in basic ("List the available CloudWatch metrics for your
instances", EC2 User Guide). Four instances — detailed and basic, under ``ec2-default`` (300 s)
and ``ec2-ingestion`` (60 s) — get known bytes per sample; the truth (bytes per second per
period) is computed here from what was put, and ``reporting.instance_metrics`` must show it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from infra.aws import AwsClients
from infra.db import connect
from infra.prices import PriceCatalog
from infra.settings import Settings
from pipelines.observe.costs.estimates import estimate
from pipelines.observe.metrics.collect import Collector
from tests.integration.observe.conftest import run_discovery, short_windows, watch_calls
from tests.integration.observe.fleet import REGION, TAG, align, client

pytestmark = pytest.mark.slow

OTHER_REGION = "us-west-2"
DEMO_AMI = "ami-12c6146b"  # any id: moto runs it without default AMIs loaded


def _instance(endpoint: str, name: str, detailed: bool, **tags: str) -> str:
    ec2 = client(endpoint, "ec2")
    all_tags = [TAG, {"Key": "Name", "Value": name}] + [
        {"Key": k, "Value": v} for k, v in tags.items()
    ]
    reply = ec2.run_instances(
        ImageId=DEMO_AMI,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        Monitoring={"Enabled": detailed},
        TagSpecifications=[{"ResourceType": "instance", "Tags": all_tags}],
    )
    return str(reply["Instances"][0]["InstanceId"])


def _put(endpoint: str, region: str, namespace: str, data: list[dict[str, Any]]) -> None:
    import boto3

    cw = boto3.client("cloudwatch", endpoint_url=endpoint, region_name=region)
    for start in range(0, len(data), 20):
        cw.put_metric_data(Namespace=namespace, MetricData=data[start : start + 20])


def _samples(
    endpoint: str, instance: str, start: datetime, end: datetime, step: int, seed: int
) -> list[tuple[datetime, float]]:
    """Put one NetworkIn sample (bytes during ``step`` s) every ``step`` s; return them."""
    out: list[tuple[datetime, float]] = []
    t, i = start, 0
    while t < end:
        out.append((t, float(1_000_000 * seed + 7_919 * i * i + 13 * step)))
        t += timedelta(seconds=step)
        i += 1
    _put(
        endpoint,
        REGION,
        "AWS/EC2",
        [
            {
                "MetricName": "NetworkIn",
                "Dimensions": [{"Name": "InstanceId", "Value": instance}],
                "Timestamp": ts,
                "Value": v,
                "Unit": "Bytes",
            }
            for ts, v in out
        ],
    )
    return out


def _truth(samples: list[tuple[datetime, float]], period: int) -> dict[datetime, float]:
    """Bytes per second over each period: the bytes sampled in it over its length."""
    total: dict[datetime, float] = defaultdict(float)
    for ts, v in samples:
        total[align(ts, period)] += v
    return {t: v / period for t, v in total.items()}


def _collect(settings: Settings, now: datetime) -> dict[str, Any]:
    clients = AwsClients(settings, epoch_timestamps=True)
    details: dict[str, Any] = {}
    with connect(settings.require_database_url()) as conn:
        Collector(settings, clients, conn, now=now, details=details).run()
    return details


def test_network_rates_equal_the_truth_in_basic_and_detailed_monitoring(
    aws_settings: Settings, moto_endpoint: str, db_url: str, now: datetime
) -> None:
    ids = {
        "detailed": _instance(moto_endpoint, "detailed", True),
        "basic": _instance(moto_endpoint, "basic", False),
        "detailed-heavy": _instance(moto_endpoint, "detailed-heavy", True, task="ingestion"),
        "basic-heavy": _instance(moto_endpoint, "basic-heavy", False, task="ingestion"),
    }
    end = align(now, 300)
    start = end - timedelta(minutes=30)
    detailed = {n: n.startswith("detailed") for n in ids}
    seeded = {
        n: _samples(moto_endpoint, i, start, end, 60 if detailed[n] else 300, seed)
        for seed, (n, i) in enumerate(ids.items(), start=1)
    }
    run_discovery(aws_settings, now)
    short_windows(db_url)
    with connect(db_url) as conn:
        # the samples start at align(now, 300) - 30 min: a first read 40 minutes back covers
        # them whatever minute of the 5 `now` falls on (30 would cut 1-4 one-minute samples)
        conn.execute(
            "UPDATE params.collection_policies SET backfill_seconds = 2400"
            " WHERE period_seconds < 86400"
        )
        conn.commit()
        monitoring = dict(
            conn.execute(
                "SELECT name, attributes->>'monitoring' FROM metrics.resources"
                " WHERE type = 'ec2:instance'"
            ).fetchall()
        )
    assert monitoring == {n: "enabled" if d else "disabled" for n, d in detailed.items()}

    _collect(aws_settings, now)

    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT resource, time, period_seconds, stat, value FROM reporting.instance_metrics"
            " WHERE measure = 'network_in'"
        ).fetchall()
    shown: dict[str, dict[datetime, float]] = defaultdict(dict)
    periods: dict[str, set[int]] = defaultdict(set)
    for resource, time, period, stat, value in rows:
        assert stat == "Average"  # the mean rate over the period, what the panels plot
        shown[resource][time] = value
        periods[resource].add(period)
    # ec2-ingestion reads 60 s, except from a basic instance: its samples are 5 minutes
    assert dict(periods) == {
        "detailed": {300},
        "basic": {300},
        "detailed-heavy": {60},
        "basic-heavy": {300},
    }
    for name, samples in seeded.items():
        (period,) = periods[name]
        truth = _truth(samples, period)
        assert len(truth) == (30 * 60) // period
        assert shown[name] == pytest.approx(truth, rel=1e-12), name


def test_a_bucket_in_a_second_region_is_read_there(
    aws_settings: Settings, moto_endpoint: str, db_url: str, now: datetime
) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=OTHER_REGION)
    s3.create_bucket(
        Bucket="far-bucket", CreateBucketConfiguration={"LocationConstraint": OTHER_REGION}
    )
    s3.put_bucket_tagging(Bucket="far-bucket", Tagging={"TagSet": [TAG]})
    day = align(now, 86400)
    sizes = {day - timedelta(days=d): float(40 * 2**30 + d * 2**30) for d in (1, 2)}
    _put(
        moto_endpoint,
        OTHER_REGION,
        "AWS/S3",
        [
            {
                "MetricName": "BucketSizeBytes",
                "Dimensions": [
                    {"Name": "BucketName", "Value": "far-bucket"},
                    {"Name": "StorageType", "Value": "StandardStorage"},
                ],
                "Timestamp": ts,
                "Value": v,
                "Unit": "Bytes",
            }
            for ts, v in sizes.items()
        ],
    )
    run_discovery(aws_settings, now - timedelta(hours=3))  # seen for a few priced hours
    run_discovery(aws_settings, now)
    clients = AwsClients(aws_settings, epoch_timestamps=True)
    log = watch_calls(clients)
    details: dict[str, Any] = {}
    with connect(db_url) as conn:
        region = conn.execute(
            "SELECT region FROM metrics.resources WHERE resource_id = 'far-bucket'"
        ).fetchone()
        Collector(aws_settings, clients, conn, now=now, details=details).run("s3-default")
        stored = dict(
            conn.execute(
                "SELECT d.ts, d.value FROM metrics.datapoints d JOIN metrics.resources r"
                " ON r.id = d.resource_id WHERE r.resource_id = 'far-bucket'"
                " AND d.metric = 'BucketSizeBytes'"
            ).fetchall()
        )
        usd = _bucket_estimate(conn, now)
    assert region == (OTHER_REGION,)
    assert log.calls == 1 and details["errors"] == []
    assert stored == sizes
    # the same query in the platform's region answers an empty series, not an error
    here = client(moto_endpoint, "cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q0",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/S3",
                        "MetricName": "BucketSizeBytes",
                        "Dimensions": [
                            {"Name": "BucketName", "Value": "far-bucket"},
                            {"Name": "StorageType", "Value": "StandardStorage"},
                        ],
                    },
                    "Period": 86400,
                    "Stat": "Average",
                },
            }
        ],
        StartTime=day - timedelta(days=3),
        EndTime=day,
    )
    assert [r["Values"] for r in here["MetricDataResults"]] == [[]]
    assert usd > 0  # priced with the platform's catalog: a zero was the symptom


def _bucket_estimate(conn: psycopg.Connection[Any], now: datetime) -> float:
    estimate(conn, PriceCatalog.load(conn, REGION), now)
    row = conn.execute(
        "SELECT coalesce(sum(e.usd), 0) FROM costs.estimates e JOIN metrics.resources r"
        " ON r.id = e.resource_id WHERE r.resource_id = 'far-bucket'"
    ).fetchone()
    assert row is not None
    return float(row[0])


def test_a_period_aws_never_serves_is_refused_at_edit_time(db_url: str) -> None:
    with connect(db_url) as conn:
        with pytest.raises(psycopg.errors.CheckViolation) as caught:
            conn.execute(
                "UPDATE params.collection_policies SET period_seconds = 3600"
                " WHERE name = 's3-default'"
            )
        conn.rollback()
        with pytest.raises(psycopg.errors.CheckViolation, match="metric_stats: 'Nope'"):
            conn.execute(
                'UPDATE params.collection_policies SET metric_stats = \'{"Nope": ["Sum"]}\''
                " WHERE name = 'ec2-default'"
            )
        conn.rollback()
        stats = conn.execute(
            "SELECT metric_stats FROM params.collection_policies WHERE name = 'ec2-default'"
        ).fetchone()
    message = caught.value.diag.message_primary or ""
    assert message == (
        "params.collection_policies[s3-default].period_seconds: 3600 s: AWS publishes AWS/S3"
        " BucketSizeBytes once a day; use a multiple of 86400 s (CloudWatch concepts - periods)"
    )
    assert stats == (
        {k: ["Sum"] for k in ("NetworkIn", "NetworkOut", "EBSReadOps", "EBSWriteOps")},
    )
