"""Costs acceptance: Cost Explorer rows, estimates, budgets with forecast, recommendations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from infra.aws import AwsClients
from infra.db import connect
from infra.demo.scenario import DemoResource, Estate, explorer
from infra.jobs import Registry
from infra.jobs.runner import Runner
from infra.settings import Settings
from pipelines.observe.metrics.collect import Collector
from tests.integration.observe.conftest import run_discovery, watch_calls
from tests.integration.observe.fleet import build, client

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # an injected clock: no test depends on today
CE_DAYS = [date(2026, 11, 6) + timedelta(days=i) for i in range(14)]  # what a 14-day read asks
PER_DAY = {
    ("Amazon Relational Database Service", "locxia"): Decimal("1.00"),
    ("Amazon Elastic Compute Cloud - Compute", "locxia"): Decimal("2.00"),
    ("Amazon Simple Storage Service", ""): Decimal("0.50"),
}
TEAM_PER_DAY = {("Amazon Relational Database Service", "data"): Decimal("0.75")}
WATCHED = (("usage", "watched"), ("team", "data"))
#: Two tagged RDS (one idle: no connection all week), one tagged EC2 (stopped by the test).
ESTATE = Estate(
    (
        DemoResource("rds", "idle-db", "db.t4g.micro", 20, "idle", tags=WATCHED),
        DemoResource("rds", "busy-db", "db.t4g.micro", 20, "office", tags=WATCHED),
        DemoResource("ec2", "stopped-vm", "t3.micro", 8, "idle"),
    )
)
RDS_HOURLY = Decimal("0.019") + Decimal("0.133") * 20 / 730  # db.t4g.micro + 20 GB gp3
EBS_GB_MONTH = {"gp2": Decimal("0.116"), "gp3": Decimal("0.0928")}  # the shipped catalog


def _ce_page(days: list[date], per_day: dict[tuple[str, str], Decimal], key: str) -> list[Any]:
    return [
        {
            "TimePeriod": {"Start": d.isoformat(), "End": (d + timedelta(days=1)).isoformat()},
            "Groups": [
                {
                    "Keys": [service, f"{key}${value}"],
                    "Metrics": {"UnblendedCost": {"Amount": str(usd), "Unit": "USD"}},
                }
                for (service, value), usd in per_day.items()
            ],
            "Estimated": d == CE_DAYS[-1],  # the latest day is still being revised
        }
        for d in days
    ]


def _fleet(endpoint: str) -> dict[str, Any]:
    """The estate with the scenario's week of datapoints before NOW; its server stopped."""
    made = build(endpoint, NOW, ESTATE, days=7, step=timedelta(hours=1))
    assert {v for _, v in made.points("idle-db", "DatabaseConnections")} == {0.0}
    assert min(v for _, v in made.points("busy-db", "DatabaseConnections")) > 0
    ec2 = client(endpoint, "ec2")
    iid = made.ids["stopped-vm"]
    ec2.stop_instances(InstanceIds=[iid])
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])
    (volume,) = volumes["Volumes"]
    return {"instance": iid, "volume_gb": volume["Size"], "volume_type": volume["VolumeType"]}


def _policies_and_budgets(url: str) -> None:
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO params.collection_policies (name, resource_type, namespace, metrics,"
            " stats, period_seconds, lookback_seconds, backfill_seconds, every_seconds,"
            " match_tags) VALUES ('rds-watched', 'rds:db', 'AWS/RDS', '{DatabaseConnections}',"
            " '{Maximum}', 3600, 0, 691200, 3600, '{\"usage\": \"watched\"}')"
        )
        conn.execute(
            "INSERT INTO params.budgets (name, scope, service, tag_key, tag_value, monthly_usd)"
            " VALUES ('all', 'total', NULL, NULL, NULL, 100),"
            " ('rds', 'service', 'Amazon Relational Database Service', NULL, NULL, 20),"
            " ('team-data', 'tag', NULL, 'team', 'data', 500)"
        )
        conn.commit()


@pytest.mark.slow
def test_costs_budgets_forecast_and_idle_recommendations(
    aws_settings: Settings, moto_endpoint: str, db_url: str
) -> None:
    made = _fleet(moto_endpoint)
    run_discovery(aws_settings, NOW - timedelta(days=2))
    _policies_and_budgets(db_url)
    clients = AwsClients(aws_settings, epoch_timestamps=True)
    log = watch_calls(clients)
    with connect(db_url) as conn:
        Collector(aws_settings, clients, conn, now=NOW, details={}).run("rds-watched")
    assert log.calls == 1

    # page 1 of the project grouping (with a day outside the window, ignored), page 2, then
    # the team grouping asked because of the tag budget: three distinct requests, in order
    stale = _ce_page([date(2026, 11, 1)], PER_DAY, "project")
    first = {"ResultsByTime": stale + _ce_page(CE_DAYS[:7], PER_DAY, "project")}
    first["NextPageToken"] = "page-2"
    second = {"ResultsByTime": _ce_page(CE_DAYS[7:], PER_DAY, "project")}
    team = {"ResultsByTime": _ce_page(CE_DAYS, TEAM_PER_DAY, "team")}
    explorer.queue(moto_endpoint, [first, second, team])

    runner = Runner(aws_settings, Registry.from_entry_points(), now=lambda: NOW)
    try:
        costs = runner.run("costs.explorer")
        recs = runner.run("costs.recommend")
    finally:
        runner.close()
    assert costs.status == "success", costs.error
    assert costs.details["ce_requests"] == 3
    assert costs.details["estimated_cost_usd"] == pytest.approx(0.03)

    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT day, service, tag_key, tag_value, usd, estimated FROM costs.daily"
        ).fetchall()
        status = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT budget, actual_usd, estimated_usd, forecast_usd, status"
                " FROM costs.budget_status WHERE month = '2026-11-01'"
            ).fetchall()
        }
        found = conn.execute(
            "SELECT r.resource_id, c.kind, c.monthly_saving_usd FROM costs.recommendations c"
            " JOIN metrics.resources r ON r.id = c.resource_id WHERE c.resolved_at IS NULL"
            " ORDER BY 1"
        ).fetchall()
        recorded = conn.execute(
            "SELECT details FROM ops.runs WHERE id = %s", (costs.run_id,)
        ).fetchone()

    expected_rows = {
        (d, service, "project", value, usd, d == CE_DAYS[-1])
        for d in CE_DAYS
        for (service, value), usd in PER_DAY.items()
    } | {
        (d, service, "team", value, usd, d == CE_DAYS[-1])
        for d in CE_DAYS
        for (service, value), usd in TEAM_PER_DAY.items()
    }
    assert set(rows) == expected_rows and len(rows) == len(expected_rows)
    assert recorded is not None and recorded[0]["ce_requests"] == 3

    # Budgets: CE days of November + 12 estimated hours of today (00:00 -> 12:00) per resource
    hourly = {"rds": 2 * RDS_HOURLY.quantize(Decimal("0.000001"))}  # two RDS; EC2 stopped
    volume_month = EBS_GB_MONTH[made["volume_type"]] * made["volume_gb"]
    volume = (volume_month / 730).quantize(Decimal("0.000001"))
    today_est = 12 * (hourly["rds"] + volume)
    ce_total = sum(PER_DAY.values()) * len(CE_DAYS)
    actual_all = ce_total + today_est
    recent = sum(PER_DAY.values()) * 7 + today_est  # Nov 13-19 and today so far
    forecast_all = actual_all + recent / Decimal("7.5") * Decimal("10.5")
    actual, estimated, forecast, state = status["all"]
    assert estimated == today_est
    assert actual == actual_all
    assert forecast == pytest.approx(forecast_all, abs=Decimal("0.00001"))
    assert state == "warning"  # 83.x forecast >= 80 % of 100
    rds_actual = Decimal("1.00") * len(CE_DAYS) + 12 * hourly["rds"]
    assert status["rds"][0] == rds_actual and status["rds"][3] == "warning"  # ~25 of 20 forecast
    team_actual = Decimal("0.75") * len(CE_DAYS) + 12 * hourly["rds"]  # both RDS: team=data
    assert status["team-data"][0] == team_actual and status["team-data"][3] == "ok"

    assert recs.status == "success", recs.error
    assert found == [
        (
            made["instance"],
            "ec2-stopped-volumes",
            volume_month.quantize(Decimal("0.01")),
        ),
        ("idle-db", "rds-idle", Decimal("13.87")),  # 0.019 USD/h x 730 h
    ]
