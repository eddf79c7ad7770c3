"""The demo estate in a moto server, reached like real AWS: created once, found by tag,
its datapoints and costs read back through the APIs a collector uses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from infra.aws import AwsClients
from infra.db import connect
from infra.demo.scenario import (
    cloudwatch,
    create_estate,
    datapoints,
    default_estate,
    explorer,
    resource_ids,
)
from infra.demo.tasks import plugin
from infra.jobs import Registry
from infra.jobs.runner import Runner
from infra.prices import PriceCatalog
from infra.settings import Settings

pytestmark = pytest.mark.slow

END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _tagged_names(clients: AwsClients, settings: Settings) -> set[str]:
    tagging = clients.client("resourcegroupstaggingapi")
    pages = tagging.get_paginator("get_resources").paginate(
        TagFilters=[{"Key": settings.tag_key, "Values": [settings.tag_value]}],
        ResourceTypeFilters=["ec2:instance", "rds:db", "s3"],
    )
    names = set()
    for page in pages:
        for item in page["ResourceTagMappingList"]:
            tags = {t["Key"]: t["Value"] for t in item["Tags"]}
            names.add(tags["Name"])
    return names


def test_the_estate_is_created_once_and_found_by_its_tag(aws_settings: Settings) -> None:
    clients = AwsClients(aws_settings)
    estate = default_estate(aws_settings)
    first = create_estate(clients, estate, aws_settings.aws_region)
    second = create_estate(clients, estate, aws_settings.aws_region)
    assert first.created == {"rds": 4, "ec2": 3, "s3": 4} and first.existing == {}
    assert second.created == {} and second.existing == first.created
    assert second.ids == first.ids
    assert _tagged_names(clients, aws_settings) == {r.name for r in estate.tagged}
    rds = clients.client("rds").describe_db_instances()["DBInstances"]
    assert sorted(d["DBInstanceIdentifier"] for d in rds) == sorted(
        r.name for r in estate.of("rds")
    )
    work = next(d for d in rds if d["DBInstanceIdentifier"] == "work-db")
    assert (work["DBInstanceClass"], work["AllocatedStorage"]) == ("db.r6g.large", 500)
    ec2 = clients.client("ec2").describe_instances()["Reservations"]
    assert sum(len(r["Instances"]) for r in ec2) == 3


def test_a_week_of_datapoints_reads_back_as_seeded(aws_settings: Settings) -> None:
    clients = AwsClients(aws_settings)
    estate = default_estate(aws_settings)
    create_estate(clients, estate, aws_settings.aws_region)
    ids = resource_ids(clients, estate)
    series = datapoints.week_of_series(estate, ids, END)
    first = cloudwatch.put_series(clients, series)
    second = cloudwatch.put_series(clients, series)
    assert (first.series_put, first.datapoints) == (47, 39 * 168 + 8 * 7)
    assert (second.series_put, second.series_present, second.calls) == (0, 47, 0)

    wanted = [
        next(s for s in series if s.resource == "ingest-worker" and s.metric == "CPUUtilization"),
        next(s for s in series if s.resource == "scratch-db" and s.metric == "DatabaseConnections"),
        next(s for s in series if s.resource == "locxia-demo-working"
             and s.metric == "BucketSizeBytes"),
    ]  # fmt: skip
    cw = clients.client("cloudwatch")
    for s in wanted:
        # moto's buckets start at StartTime + k·Period: start where the series starts.
        period = 86400 if s.namespace == "AWS/S3" else 3600
        metric = {
            "Namespace": s.namespace,
            "MetricName": s.metric,
            "Dimensions": [{"Name": n, "Value": v} for n, v in s.dimensions],
        }
        reply = cw.get_metric_data(
            MetricDataQueries=[
                {"Id": "q", "MetricStat": {"Metric": metric, "Period": period, "Stat": "Average"}}
            ],
            StartTime=s.points[0][0],
            EndTime=s.points[-1][0] + timedelta(seconds=period),
        )
        result = reply["MetricDataResults"][0]
        stamps = (t.astimezone(UTC) for t in result["Timestamps"])
        got = sorted(zip(stamps, result["Values"], strict=True))
        assert got == [(t, pytest.approx(v)) for t, v in s.points], s.key


def test_cost_explorer_answers_with_the_queued_month(aws_settings: Settings, db_url: str) -> None:
    clients = AwsClients(aws_settings)
    estate = default_estate(aws_settings)
    today = END.date()
    with connect(db_url) as conn:
        catalog = PriceCatalog.load(conn, aws_settings.aws_region)
    lines = explorer.cost_lines(
        estate, catalog, explorer.billing_days(today), datapoints.growth_origin(END)
    )
    payload = explorer.seed_body(lines, today)
    endpoint = aws_settings.aws_endpoint_url
    assert endpoint is not None
    assert explorer.queue_results(clients, endpoint, payload) is True
    assert explorer.queue_results(clients, endpoint, payload) is False  # queued once only

    # The collector reads it as it reads AWS: costs.explorer, grouped by service and tag.
    runner = Runner(aws_settings, Registry.from_entry_points())
    try:
        result = runner.run("costs.explorer", {"days": 14})
    finally:
        runner.close()
    assert result.status == "success", result.error
    # the cost allocation tag check, then one request per grouping
    assert result.details["ce_requests"] == 1 + len(explorer.REQUEST_ORDER)
    assert result.details["tag_warnings"] == []
    first = max(today - timedelta(days=14), explorer.billing_days(today)[0])
    expected: dict[tuple[date, str], Decimal] = {}
    for line in lines:
        if line.day >= first:
            key = (line.day, line.service)
            expected[key] = expected.get(key, Decimal(0)) + line.usd
    with connect(db_url) as conn:
        stored = conn.execute(
            "SELECT day, service, tag_value, usd FROM costs.daily WHERE tag_key = %s",
            (aws_settings.tag_key,),
        ).fetchall()
    assert {t for *_, t, _ in stored} == {aws_settings.tag_value}
    assert {(d, s): u for d, s, _, u in stored} == {
        k: v.quantize(Decimal("1e-6")) for k, v in expected.items()
    }


def test_demo_tasks_run_as_recorded_jobs(aws_settings: Settings, db_url: str) -> None:
    runner = Runner(aws_settings, Registry.from_entry_points(extra=[plugin]))
    try:
        results = [runner.run(t) for t in ("demo.estate", "demo.metrics", "demo.costs")]
        again = runner.run("demo.metrics")
    finally:
        runner.close()
    assert [r.status for r in results] == ["success"] * 3, [r.error for r in results]
    assert results[0].details["created"] == {"rds": 4, "ec2": 3, "s3": 4}
    assert results[1].details["datapoints"] == 39 * 168 + 8 * 7
    assert again.details["series_put"] == 0
    assert results[2].details["queued"] is True and results[2].details["total_usd"] > 0
    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT task, status FROM ops.runs WHERE task LIKE 'demo.%' ORDER BY id"
        ).fetchall()
    assert rows == [
        ("demo.estate", "success"),
        ("demo.metrics", "success"),
        ("demo.costs", "success"),
        ("demo.metrics", "success"),
    ]


def test_demo_tasks_refuse_real_aws(settings: Settings, db_url: str) -> None:
    runner = Runner(settings, Registry.from_entry_points(extra=[plugin]))
    try:
        result = runner.run("demo.estate")
    finally:
        runner.close()
    assert result.status == "failed"
    assert result.error is not None and "refusing to build the demo estate" in result.error
