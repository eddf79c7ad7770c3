"""Issue 14's acceptance: the billing-truth month, the product's figures against AWS's bill.

The estate of :mod:`tests.support.billing_truth` lives in moto (discovery finds it); its
November is replayed in time order: each state change recorded through the state history
(``pipelines.observe.metrics.history.record_state``) when it happens, discovery run when
moto's state changes (the 1st, the deletion on the 12th, each run of "today"), and the costs
estimate run every day at 10:00, as the scheduled job would. Cost Explorer's lines (usage
from the same timelines, a credit, daily tax, a partial newest day) are seeded in the gap
server. The costs job then runs at 10:00 and at 23:00 of the 24th; every figure is checked
against the truth computed in the test (never through the product's prices or estimates),
within 2 %, and the past must read the same at 10:00 and at 23:00.

The figures are printed (``pytest -s``) and written to ``billing_truth.json`` in the test's
temporary directory (its path is printed too).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from infra.aws import AwsClients
from infra.db import connect
from infra.demo.gaps import post_seed
from infra.jobs import Registry
from infra.jobs.runner import Runner
from infra.settings import Settings, load_settings
from pipelines.observe.metrics.discovery import discover
from tests.support import aws, pg
from tests.support import billing_truth as bt

pytestmark = pytest.mark.slow

TOLERANCE = Decimal("0.02")
CENT = Decimal("0.01")
HAS_HISTORY = importlib.util.find_spec("pipelines.observe.metrics.history") is not None
RUN_NAMES = ("10:00", "23:00")


def _client(endpoint: str, service: str, region: str = bt.REGION) -> Any:
    """Plain boto3 for the test's own hand (creating, stopping, deleting in the stand-in)."""
    factory: Any = boto3.client  # one helper for several services: typed per call site
    return factory(service, endpoint_url=endpoint, region_name=region)


def _tags(name: str) -> list[dict[str, str]]:
    return [{"Key": "project", "Value": "locxia"}, {"Key": "Name", "Value": name}]


def _create_estate(endpoint: str) -> dict[str, str]:
    """Create the estate in moto; name → AWS id. The database starts stopped (1st, 00:00)."""
    rds, ec2 = _client(endpoint, "rds"), _client(endpoint, "ec2")
    ids: dict[str, str] = {}
    for tl in bt.estate():
        first = tl.changes[0].attributes
        if tl.kind == "rds":
            rds.create_db_instance(
                DBInstanceIdentifier=tl.name,
                DBInstanceClass=first["instance_class"],
                Engine="postgres",
                AllocatedStorage=first["storage_gb"],
                StorageType=first["storage_type"],
                MultiAZ=first["multi_az"],
                MasterUsername="locxia",
                ManageMasterUserPassword=True,
                Tags=_tags(tl.name),
            )
            rds.stop_db_instance(DBInstanceIdentifier=tl.name)
            ids[tl.name] = tl.name
        elif tl.kind == "ec2":
            reply = ec2.run_instances(
                ImageId="ami-12c6146b",
                InstanceType=first["instance_type"],
                MinCount=1,
                MaxCount=1,
                Monitoring={"Enabled": first["monitoring"] == "enabled"},
                TagSpecifications=[{"ResourceType": "instance", "Tags": _tags(tl.name)}],
            )
            ids[tl.name] = reply["Instances"][0]["InstanceId"]
        elif tl.kind == "ebs":
            vol = ec2.create_volume(
                AvailabilityZone=f"{bt.REGION}a",
                Size=first["size_gb"],
                VolumeType=first["volume_type"],
                TagSpecifications=[{"ResourceType": "volume", "Tags": _tags(tl.name)}],
            )
            ids[tl.name] = vol["VolumeId"]
        else:
            s3 = _client(endpoint, "s3", tl.region)
            s3.create_bucket(
                Bucket=tl.name, CreateBucketConfiguration={"LocationConstraint": tl.region}
            )
            s3.put_bucket_tagging(Bucket=tl.name, Tagging={"TagSet": _tags(tl.name)})
            ids[tl.name] = tl.name
    return ids


def _bucket_sizes(endpoint: str, until: datetime) -> None:
    """S3's daily ``BucketSizeBytes`` for each bucket, in its own region, up to ``until``."""
    for tl in bt.estate():
        if tl.kind != "s3":
            continue
        cw = _client(endpoint, "cloudwatch", tl.region)
        size = float(tl.changes[0].attributes["size_bytes"])
        points = [
            {
                "MetricName": "BucketSizeBytes",
                # AWS's order (BucketName, then StorageType): moto matches it only so
                "Dimensions": [
                    {"Name": "BucketName", "Value": tl.name},
                    {"Name": "StorageType", "Value": "StandardStorage"},
                ],
                "Timestamp": day,
                "Value": size,
                "Unit": "Bytes",
            }
            for day in bt.days(bt.MONTH_START, until)
        ]
        for i in range(0, len(points), 20):
            cw.put_metric_data(Namespace="AWS/S3", MetricData=points[i : i + 20])


@dataclass
class Snapshot:
    """What the product shows after one costs run."""

    at: datetime
    spend_to_date: Decimal
    forecast: Decimal
    today_estimated: Decimal
    per_resource: dict[str, Decimal]  # month start -> the run's hour
    per_resource_before: dict[str, Decimal]  # month start -> today 00:00
    details: dict[str, Any]

    @property
    def through_yesterday(self) -> Decimal:
        return self.spend_to_date - self.today_estimated


@dataclass
class Month:
    """The scenario once replayed: the product's snapshots and the truth at each run."""

    settings: Settings
    endpoint: str
    db_ids: dict[str, int]
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    truths: dict[str, bt.Truth] = field(default_factory=dict)
    report: Path | None = None


class Replay:
    """Plays the month's changes in time order into the state history and moto."""

    def __init__(self, settings: Settings, endpoint: str) -> None:
        self.settings = settings
        self.endpoint = endpoint
        self.timelines = {tl.name: tl for tl in bt.estate()}
        self.recorded: set[tuple[str, datetime]] = set()
        self.db_ids: dict[str, int] = {}
        self.discovered: dict[str, dict[str, Any]] = {}
        self.runner = Runner(settings, Registry.from_entry_points(), now=self._now)
        self.clock = bt.MONTH_START

    def _now(self) -> datetime:
        return self.clock

    def discover(self, at: datetime) -> None:
        with connect(self.settings.require_database_url()) as conn:
            discover(self.settings, AwsClients(self.settings), conn, at)
            rows = conn.execute(
                "SELECT name, id, attributes FROM metrics.resources WHERE tagged"
            ).fetchall()
        for name, rid, attrs in rows:
            self.db_ids[name] = rid
            self.discovered.setdefault(name, dict(attrs or {}))

    def record_until(self, at: datetime) -> None:
        """Record every change of the database and every deletion that happened by ``at``.

        EC2, EBS and S3 states other than deletion are discovery's own (unchanged all month).
        """
        if not HAS_HISTORY:
            return
        # contract 1 (imported by name: the module lands with the state history)
        record_state = importlib.import_module("pipelines.observe.metrics.history").record_state

        with connect(self.settings.require_database_url()) as conn:
            for tl in self.timelines.values():
                for change in tl.known_at(at):
                    key = (tl.name, change.at)
                    if key in self.recorded or (tl.kind != "rds" and change is tl.changes[0]):
                        continue
                    attrs = {**self.discovered.get(tl.name, {}), **change.attributes}
                    record_state(
                        conn, self.db_ids[tl.name], change.at, change.state, attrs, "discovery"
                    )
                    self.recorded.add(key)
            conn.commit()

    def run(self, task: str, at: datetime, args: dict[str, Any] | None = None) -> dict[str, Any]:
        self.clock = at
        result = self.runner.run(task, args)
        assert result.status == "success", f"{task} at {at}: {result.error}"
        return dict(result.details or {})


def _seed_ce(endpoint: str, now: datetime) -> None:
    lines = bt.ce_lines(bt.estate(), bt.load_prices())
    post_seed(
        endpoint,
        "ce",
        {
            "lines": lines,
            "tags": [{"TagKey": "project", "Status": "Active", "Type": "UserDefined"}],
            "estimated_from": bt.MONTH_START.date().isoformat(),  # the open month is estimated
            "now": now.isoformat().replace("+00:00", "Z"),
        },
    )


def _snapshot(url: str, at: datetime, names: dict[int, str], details: dict[str, Any]) -> Snapshot:
    today = datetime(at.year, at.month, at.day, tzinfo=UTC)
    with connect(url) as conn:
        status = conn.execute(
            "SELECT actual_usd, forecast_usd FROM costs.budget_status"
            " WHERE budget = 'month' AND month = %s",
            (bt.MONTH_START.date(),),
        ).fetchone()
        assert status is not None, "no budget status for the month"
        per: dict[str, Decimal] = {n: Decimal(0) for n in names.values()}
        before: dict[str, Decimal] = {n: Decimal(0) for n in names.values()}
        rows = conn.execute(
            "SELECT resource_id, sum(usd), sum(usd) FILTER (WHERE hour < %s)"
            " FROM costs.estimates WHERE hour >= %s AND hour < %s GROUP BY resource_id",
            (today, bt.MONTH_START, at.replace(minute=0)),
        ).fetchall()
        for rid, usd, usd_before in rows:
            if rid in names:
                per[names[rid]] = Decimal(usd)
                before[names[rid]] = Decimal(usd_before or 0)
        row = conn.execute(
            "SELECT coalesce(sum(usd), 0) FROM costs.estimates WHERE hour >= %s AND hour < %s",
            (today, at),
        ).fetchone()
    assert row is not None
    return Snapshot(
        at, Decimal(status[0]), Decimal(status[1]), Decimal(row[0]), per, before, details
    )


@pytest.fixture(scope="module")
def month(
    admin_url: str, template_url: str, moto_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Month]:
    aws.reset(moto_server)
    url = pg.create_db(admin_url, "locxia_t", template=urlsplit(template_url).path[1:])
    zones = tmp_path_factory.mktemp("zones")
    settings = load_settings(
        database_url=url,
        landing_uri=(zones / "landing").as_uri(),
        working_uri=(zones / "working").as_uri(),
        exposure_uri=(zones / "exposure").as_uri(),
        aws_endpoint_url=moto_server,
        aws_region=bt.REGION,
    )
    try:
        yield _replay(settings, moto_server, tmp_path_factory.mktemp("billing-truth"))
    finally:
        pg.drop_db(admin_url, url)


def _replay(settings: Settings, endpoint: str, out: Path) -> Month:
    url = settings.require_database_url()
    ids = _create_estate(endpoint)
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO params.budgets (name, scope, service, tag_key, tag_value, monthly_usd)"
            " VALUES ('month', 'total', NULL, NULL, NULL, 1000)"
        )
        conn.commit()
    replay = Replay(settings, endpoint)
    replay.discover(bt.MONTH_START)
    _bucket_sizes(endpoint, bt.TODAY + timedelta(hours=1))
    rds, ec2 = _client(endpoint, "rds"), _client(endpoint, "ec2")
    deleted = False
    for day in bt.days(bt.MONTH_START, bt.TODAY):
        at = day + timedelta(hours=10)
        if not deleted and at > bt.ETL_DELETED:
            replay.record_until(bt.ETL_DELETED)
            # moto now as AWS is then: the database up with its new storage, etl gone
            rds.start_db_instance(DBInstanceIdentifier="work-db")
            rds.modify_db_instance(
                DBInstanceIdentifier="work-db", AllocatedStorage=200, ApplyImmediately=True
            )
            ec2.terminate_instances(InstanceIds=[ids["etl"]])
            replay.discover(bt.ETL_DELETED)
            deleted = True
        replay.record_until(at)
        replay.run("metrics.collect", at, {"policy": "s3-default"})
        replay.run("costs.estimate", at)

    month = Month(settings, endpoint, dict(replay.db_ids))
    names = {rid: name for name, rid in replay.db_ids.items()}
    prices = bt.load_prices()
    for label, at in zip(RUN_NAMES, bt.RUNS, strict=True):
        replay.record_until(at)
        if at.hour >= 20:
            rds.stop_db_instance(DBInstanceIdentifier="work-db")
        replay.discover(at)
        _seed_ce(endpoint, at)
        replay.run("metrics.collect", at, {"policy": "s3-default"})
        details = replay.run("costs.explorer", at, {"days": 30})
        month.snapshots[label] = _snapshot(url, at, names, details)
        month.truths[label] = bt.truth(bt.estate(), prices, at)
    replay.runner.close()
    month.report = _report(month, out / "billing_truth.json")
    return month


def _pct(got: Decimal, want: Decimal) -> float:
    return float((got - want) / want * 100) if want else float("inf")


def _report(month: Month, path: Path) -> Path:
    """Print the compact table and write it as JSON."""
    rows: list[dict[str, Any]] = []
    for label in RUN_NAMES:
        snap, truth = month.snapshots[label], month.truths[label]
        figures = [
            ("spend to date", snap.spend_to_date, truth.spend_to_date),
            ("spend through yesterday", snap.through_yesterday, truth.spend_through_yesterday),
            ("month-end forecast", snap.forecast, truth.month_total),
        ] + [
            (f"MTD {n}", snap.per_resource.get(n, Decimal(0)), v)
            for n, v in truth.per_resource.items()
        ]
        for what, got, want in figures:
            rows.append(
                {
                    "run": label,
                    "figure": what,
                    "product_usd": str(got.quantize(CENT)),
                    "truth_usd": str(want.quantize(CENT)),
                    "diff_pct": round(_pct(got, want), 3),
                }
            )
    print(f"\nbilling-truth month, {bt.TODAY.date()} (report: {path})")
    print(f"{'run':6} {'figure':32} {'product':>10} {'truth':>10} {'diff %':>8}")
    for r in rows:
        print(
            f"{r['run']:6} {r['figure']:32} {r['product_usd']:>10} {r['truth_usd']:>10}"
            f" {r['diff_pct']:>8.3f}"
        )
    path.write_text(json.dumps({"today": bt.TODAY.date().isoformat(), "rows": rows}, indent=2))
    return path


def _within(got: Decimal, want: Decimal) -> bool:
    return abs(got - want) <= TOLERANCE * abs(want)


# --------------------------------------------------------------------------------------------
# The figures
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", RUN_NAMES)
def test_spend_to_date_is_within_2_percent_of_the_bill(month: Month, label: str) -> None:
    snap, truth = month.snapshots[label], month.truths[label]
    assert _within(snap.spend_to_date, truth.spend_to_date), (
        snap.spend_to_date,
        truth.spend_to_date,
    )


@pytest.mark.parametrize("label", RUN_NAMES)
def test_month_end_forecast_is_within_2_percent_of_the_month(month: Month, label: str) -> None:
    snap, truth = month.snapshots[label], month.truths[label]
    assert _within(snap.forecast, truth.month_total), (snap.forecast, truth.month_total)
    assert _within(snap.forecast, truth.forecast), (snap.forecast, truth.forecast)


@pytest.mark.parametrize("name", [tl.name for tl in bt.estate()])
@pytest.mark.parametrize("label", RUN_NAMES)
def test_each_resource_month_to_date_is_within_2_percent(
    month: Month, label: str, name: str
) -> None:
    got = month.snapshots[label].per_resource[name]
    want = month.truths[label].per_resource[name]
    assert _within(got, want), (name, got, want)


def test_the_past_reads_the_same_at_10_and_at_23(month: Month) -> None:
    at10, at23 = (month.snapshots[label] for label in RUN_NAMES)
    assert at10.forecast.quantize(CENT) == at23.forecast.quantize(CENT)
    assert at10.through_yesterday.quantize(CENT) == at23.through_yesterday.quantize(CENT)
    for name, usd in at10.per_resource_before.items():
        assert usd.quantize(CENT) == at23.per_resource_before[name].quantize(CENT), name


def test_the_second_region_bucket_has_data(month: Month) -> None:
    rid = month.db_ids["locxia-replica"]
    with connect(month.settings.require_database_url()) as conn:
        row = conn.execute(
            "SELECT count(*) FROM metrics.datapoints WHERE resource_id = %s"
            " AND metric = 'BucketSizeBytes'",
            (rid,),
        ).fetchone()
    assert row is not None and row[0] > 0


# --------------------------------------------------------------------------------------------
# The cost allocation tag not activated: a warning, not a silent zero; the backfill requested
# --------------------------------------------------------------------------------------------


def test_an_inactive_tag_is_a_warning_and_the_backfill_is_requested(
    aws_settings: Settings, moto_endpoint: str, db_url: str, cli_env: dict[str, str]
) -> None:
    import subprocess

    from tests.conftest import locxia_bin

    at = bt.RUNS[0]
    body = {
        "lines": bt.ce_lines(bt.estate(), bt.load_prices()),
        # AWS groups a key that is not an active cost allocation tag as "key$" (AWS Billing
        # User Guide, "Activating user-defined cost allocation tags")
        "tags": [{"TagKey": "project", "Status": "Inactive", "Type": "UserDefined"}],
        "estimated_from": bt.MONTH_START.date().isoformat(),
        "now": at.isoformat().replace("+00:00", "Z"),
    }
    post_seed(moto_endpoint, "ce", body)
    runner = Runner(aws_settings, Registry.from_entry_points(), now=lambda: at)
    try:
        result = runner.run("costs.explorer", {"days": 30})
    finally:
        runner.close()
    assert result.status == "success", result.error
    with connect(db_url) as conn:
        rows = conn.execute("SELECT to_jsonb(t) FROM costs.tag_activation t").fetchall()
    recorded = json.dumps([r[0] for r in rows])
    assert "project" in recorded and "Inactive" in recorded, recorded
    assert "project" in json.dumps(result.details) and "active" in json.dumps(result.details)

    env = {**cli_env, "LOCXIA_AWS_ENDPOINT_URL": moto_endpoint, "LOCXIA_AWS_REGION": bt.REGION}
    done = subprocess.run(
        [locxia_bin(), "observe", "costs", "--backfill"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    history = _client(moto_endpoint, "ce", "us-east-1").list_cost_allocation_tag_backfill_history()
    assert len(history["BackfillRequests"]) == 1, history


# --------------------------------------------------------------------------------------------
# Network rates: right in detailed (1-minute) and basic (5-minute) monitoring alike
# --------------------------------------------------------------------------------------------


def test_network_rates_equal_truth_in_both_monitoring_modes(
    aws_settings: Settings, moto_endpoint: str, db_url: str
) -> None:
    now = bt.RUNS[0]
    start = now - timedelta(hours=1)
    ec2, cw = _client(moto_endpoint, "ec2"), _client(moto_endpoint, "cloudwatch")
    sampled = {"web": 60, "api": 300}  # detailed monitoring samples every minute, basic every 5
    truth: dict[str, dict[datetime, float]] = {}
    for name, every in sampled.items():
        reply = ec2.run_instances(
            ImageId="ami-12c6146b",
            InstanceType="t3.medium",
            MinCount=1,
            MaxCount=1,
            Monitoring={"Enabled": every == 60},
            TagSpecifications=[{"ResourceType": "instance", "Tags": _tags(name)}],
        )
        iid = reply["Instances"][0]["InstanceId"]
        # NetworkIn is "the number of bytes received ... during the period" of each sample
        # (Amazon EC2 User Guide, "Instance metrics"): a count, the rate is bytes / seconds.
        samples = [
            (start + timedelta(seconds=i * every), float(1_000_000 + 7_919 * i))
            for i in range(3600 // every)
        ]
        cw.put_metric_data(
            Namespace="AWS/EC2",
            MetricData=[
                {
                    "MetricName": "NetworkIn",
                    "Dimensions": [{"Name": "InstanceId", "Value": iid}],
                    "Timestamp": ts,
                    "Value": value,
                    "Unit": "Bytes",
                }
                for ts, value in samples
            ],
        )
        per_bucket: dict[datetime, float] = {}
        for ts, value in samples:
            bucket = ts - timedelta(seconds=ts.timestamp() % 300)
            per_bucket[bucket] = per_bucket.get(bucket, 0.0) + value
        truth[name] = {ts: total / 300 for ts, total in per_bucket.items()}
    with connect(db_url) as conn:
        discover(aws_settings, AwsClients(aws_settings), conn, now)
    runner = Runner(aws_settings, Registry.from_entry_points(), now=lambda: now)
    try:
        result = runner.run("metrics.collect", {"policy": "ec2-default"})
    finally:
        runner.close()
    assert result.status == "success", result.error
    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT resource, time, value FROM reporting.instance_metrics"
            " WHERE measure = 'network_in' AND period_seconds = 300"
            " AND stat IN ('Sum', 'Average')"
        ).fetchall()
    got: dict[str, dict[datetime, float]] = {}
    for name, ts, value in rows:
        got.setdefault(name, {})[ts] = float(value)
    for name, want in truth.items():
        assert got.get(name), f"no network rate for {name}"
        for ts, rate in got[name].items():
            assert rate == pytest.approx(want[ts], rel=1e-9), (name, ts, rate, want[ts])
