"""Costs acceptance: Cost Explorer rows, estimates, budgets with forecast, recommendations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from infra.aws import AwsClients
from infra.db import connect
from infra.demo.gaps import ce
from infra.demo.scenario import DemoResource, Estate
from infra.jobs import Registry
from infra.jobs.runner import Runner
from infra.settings import Settings
from pipelines.observe.metrics.collect import Collector
from tests.integration.observe.conftest import run_discovery, watch_calls
from tests.integration.observe.fleet import build, client

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # an injected clock: no test depends on today
CE_DAYS = [date(2026, 11, 6) + timedelta(days=i) for i in range(14)]  # what a 14-day read asks
RDS, EC2, S3 = (
    "Amazon Relational Database Service",
    "Amazon Elastic Compute Cloud - Compute",
    "Amazon Simple Storage Service",
)
#: Cost Explorer's line items per day: (service, resource tags, USD).
LINES = [
    (RDS, {"project": "locxia", "team": "data"}, "0.75"),
    (RDS, {"project": "locxia"}, "0.25"),
    (EC2, {"project": "locxia"}, "2.00"),
    (S3, {}, "0.50"),
]
PER_DAY = {
    (RDS, "locxia"): Decimal("1.00"),
    (EC2, "locxia"): Decimal("2.00"),
    (S3, ""): Decimal("0.50"),
}
TEAM_PER_DAY = {
    (RDS, "data"): Decimal("0.75"),
    (RDS, ""): Decimal("0.25"),
    (EC2, ""): Decimal("2.00"),
    (S3, ""): Decimal("0.50"),
}
WATCHED = (("usage", "watched"), ("team", "data"))
#: Two tagged RDS (one idle: no connection all week), one tagged EC2 (stopped by the test).
ESTATE = Estate(
    (
        DemoResource("rds", "idle-db", "db.t4g.micro", 20, "idle", tags=WATCHED),
        DemoResource("rds", "busy-db", "db.t4g.micro", 20, "office", tags=WATCHED),
        DemoResource("ec2", "stopped-vm", "t3.micro", 8, "idle"),
    )
)
#: db.t4g.micro + 20 GB gp3; a past hour of a GB-month price is 1/720 of it in November
#: (AWS prorates by the hours of the actual month: infra/costlines.py in_month)
RDS_HOURLY = Decimal("0.019") + Decimal("0.133") * 20 / 720
EBS_GB_MONTH = {"gp2": Decimal("0.116"), "gp3": Decimal("0.0928")}  # the shipped catalog


def _seed_ce(endpoint: str) -> None:
    """Cost Explorer's lines for Nov 1-19 (Nov 19 still estimated), both tag keys active."""
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(19)]
    lines = [
        {"day": d.isoformat(), "service": service, "record_type": "Usage", "tags": tags,
         "unblended": usd}
        for d in days
        for service, tags, usd in LINES
    ]  # fmt: skip
    active = [{"TagKey": k, "Status": "Active", "Type": "UserDefined"} for k in ("project", "team")]
    ce.seed(endpoint, lines, active, estimated_from=CE_DAYS[-1], now=NOW, page_size=7)


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

    # 14 days in pages of 7, per tag key (the team key because of the tag budget), after the
    # tag check: five requests
    _seed_ce(moto_endpoint)

    runner = Runner(aws_settings, Registry.from_entry_points(), now=lambda: NOW)
    try:
        costs = runner.run("costs.explorer")
        recs = runner.run("costs.recommend")
    finally:
        runner.close()
    assert costs.status == "success", costs.error
    assert costs.details["ce_requests"] == 5
    assert costs.details["estimated_cost_usd"] == pytest.approx(0.05)
    assert costs.details["tag_warnings"] == []
    assert costs.details["covered_until"] == "2026-11-19T00:00:00+00:00"  # newest day: partial

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
    assert recorded is not None and recorded[0]["ce_requests"] == 5

    # Budgets: CE's complete days (Nov 6-18: Nov 19, the newest, is partial) of the Locxia
    # tag value only, + estimates from Nov 19 00:00 of Locxia resources: 24 h of Nov 19 and
    # 12 h of today. Forecast = complete days + mean of Nov 13-19 x 11 days (Nov 20-30).
    hourly = {"rds": 2 * RDS_HOURLY.quantize(Decimal("0.000001"))}  # two RDS; EC2 stopped
    volume_month = EBS_GB_MONTH[made["volume_type"]] * made["volume_gb"]
    volume = (volume_month / 720).quantize(Decimal("0.000001"))
    complete = len(CE_DAYS) - 1
    ours = PER_DAY[RDS, "locxia"] + PER_DAY[EC2, "locxia"]  # S3's untagged line is not Locxia's
    base_all = ours * complete + 24 * (hourly["rds"] + volume)
    actual_all = base_all + 12 * (hourly["rds"] + volume)
    rate_all = (ours * 6 + 24 * (hourly["rds"] + volume)) / 7
    actual, estimated, forecast, state = status["all"]
    assert estimated == 36 * (hourly["rds"] + volume)
    assert actual == actual_all
    assert forecast == pytest.approx(base_all + rate_all * 11, abs=Decimal("0.00001"))
    # the untagged S3 line no longer counts: ~72 forecast, below 80 % of 100
    assert forecast < 80 and state == "ok"
    rds_actual = PER_DAY[RDS, "locxia"] * complete + 36 * hourly["rds"]
    assert status["rds"][0] == rds_actual and status["rds"][3] == "warning"  # ~23 of 20 forecast
    team_actual = Decimal("0.75") * complete + 36 * hourly["rds"]  # both RDS: team=data
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
