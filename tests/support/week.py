"""A realistic week of observe and shape records, produced by the project's own code paths.

Nothing here writes a row of ``metrics``, ``costs`` or ``ops`` by hand. The week is made the
way production makes it, against the moto server and the stand-in Terraform module:

1. **Shape** — three rows in ``params.instances`` (two RDS, one EC2) are planned and applied
   through the ``shape.reconcile`` and ``shape.approve`` tasks: the stand-in module's
   provisioners create real (moto) instances carrying the Locxia tag.
2. **AWS** — three tagged S3 buckets; seven days of CloudWatch datapoints for every instance
   metric (one per hour, so moto stays fast) and one S3 storage datapoint per day.
3. **Observe** — the team edits the collection policies (hourly points, RDS network added) and
   sets two budgets; then each simulated day runs ``metrics.collect`` and ``costs.estimate``
   with the clock at that day, after a ``metrics.discover`` at the start of the week.
4. **Changes** — a resize held for approval then approved, a storage growth applied within
   policy, a class changed behind Terraform's back (found by ``shape.drift``), and a resize
   left waiting for approval.
5. **Costs** — a final discovery, Cost Explorer's last 14 days (queued through moto's static
   endpoint: moto returns canned results) read by ``costs.explorer``, then
   ``costs.recommend``: the idle database and the near-idle VM become recommendations.
6. **Layers** — the data team declares three datasets and feeds small synthetic layers through
   ``layers.ingest`` → ``layers.refine`` → ``layers.publish``: ``buildings`` (Paris) published
   twice, ``parcels`` (Lyon) fed by its scheduled chain job, whose second source breaks its
   ``max_rows`` rule (rejected in landing: stale, a quality failure, a failed run), and
   ``parks`` (Toulouse), landed but never refined.

Terraform runs are recorded at the real clock (their rows take the database's time); the
observed week ends at the start of the current hour. The demo (``locxia demo``) needs the
same story in product code: each step is one small function, in order, in :func:`seed_week`.
"""

from __future__ import annotations

import json
import math
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import shapely

from infra.db import connect
from infra.demo.standin import standin_terraform as shipped_standin
from infra.jobs import Registry
from infra.jobs.runner import Runner
from infra.prices import PriceCatalog
from infra.settings import Settings, load_settings
from pipelines.feed.jobs import chain_steps
from pipelines.shape import store
from tests.support import formats, geodata

DAYS = 7
HOUR = timedelta(hours=1)
STANDARD = ("StorageType", "StandardStorage")
ALL_TYPES = ("StorageType", "AllStorageTypes")
GIB = 1024**3

#: params.instances rows, created by alice and approved by carol.
INSTANCES: dict[str, dict[str, Any]] = {
    "work-db": {
        "kind": "rds",
        "instance_class": "db.t4g.large",
        "storage_gb": 100,
        "engine": "postgres",
        "engine_version": "16",
        "note": "the team's working database",
    },
    "batch-db": {
        "kind": "rds",
        "instance_class": "db.t4g.medium",
        "storage_gb": 50,
        "engine": "postgres",
        "engine_version": "16",
        "note": "nightly batch results (unused this week)",
    },
    "ingest-vm": {
        "kind": "ec2",
        "instance_class": "m6i.large",
        "storage_gb": 30,
        "note": "ingestion worker",
    },
}
BUCKETS = ("locxia-landing", "locxia-working", "locxia-exposure")
#: Cost Explorer's SERVICE names, the tag value of their costs, and a typical day in USD.
CE_SERVICES = {
    "Amazon Relational Database Service": ("locxia", 5.90),
    "Amazon Elastic Compute Cloud - Compute": ("locxia", 2.69),
    "EC2 - Other": ("locxia", 0.36),
    "Amazon Simple Storage Service": ("locxia", 0.07),
    "AmazonCloudWatch": ("", 0.31),
    "AWS Cost Explorer": ("", 0.01),
}
CE_DAYS = 14  # what costs.explorer re-reads (LOCXIA_COST_REREAD_DAYS default)
CE_LAG_DAYS = 2  # CE has nothing yet for yesterday: its last day is the day before


@dataclass(frozen=True)
class Week:
    """What was seeded, for tests to compare panels with.

    Attributes:
        start: the first hour of the observed week (UTC).
        end: the hour the week ends (the start of the hour the seeding ran in).
        ec2_ids: EC2 instance name → instance id.
        approved_run: the resize held for approval then approved (terraform run id).
        auto_run: the storage growth applied within policy.
        pending_run: the resize still waiting for approval.
        drift_run: the drift check that found the class changed behind Terraform's back.
        ce_last_day: the last day Cost Explorer reported.
        layers: rows of each layer file fed (``buildings``, ``buildings_v2``, ``parcels``,
            ``parcels_v2``, ``parks``).
    """

    start: datetime
    end: datetime
    ec2_ids: dict[str, str]
    approved_run: int
    auto_run: int
    pending_run: int
    drift_run: int
    ce_last_day: date
    layers: dict[str, int]


# --- the stand-in Terraform root module ---------------------------------------------------------
@contextmanager
def standin_terraform(workdir: Path, endpoint: str) -> Iterator[Path]:
    """A private copy of the stand-in root module whose provisioners reach ``endpoint``.

    The provisioners run in Terraform's own processes, so the shim and the endpoint are passed
    through the environment (restored afterwards).
    """
    with shipped_standin(workdir / "live", endpoint) as target:
        yield target


@contextmanager
def week_settings(url: str, endpoint: str, workdir: Path) -> Iterator[Settings]:
    """Settings for seeding a week into ``url``: the stand-in AWS and Terraform, file zones."""
    zones = workdir / "zones"
    with standin_terraform(workdir, endpoint) as live:
        yield load_settings(
            database_url=url,
            aws_endpoint_url=endpoint,
            terraform_dir=live,
            landing_uri=(zones / "landing").as_uri(),
            working_uri=(zones / "working").as_uri(),
            exposure_uri=(zones / "exposure").as_uri(),
        )


# --- helpers ------------------------------------------------------------------------------------
def _client(settings: Settings, service: str) -> Any:
    return boto3.client(
        service, endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region
    )


def _runner(settings: Settings, at: datetime | None = None) -> Runner:
    registry = Registry.from_entry_points()
    return Runner(settings, registry) if at is None else Runner(settings, registry, now=lambda: at)


def _run(settings: Settings, task: str, args: dict[str, Any] | None = None, at: Any = None) -> Any:
    """Run one task through the recording Runner (clock at ``at`` if given); it must succeed."""
    runner = _runner(settings, at)
    try:
        result = runner.run(task, args or {})
    finally:
        runner.close()
    if result.status != "success":
        raise AssertionError(f"seeding: {task} {args or ''} ended {result.status}: {result.error}")
    return result


def _edit_instance(settings: Settings, name: str, actor: str, **changes: Any) -> None:
    """What ``locxia params set NAME key=value`` does (validated, audited as ``actor``)."""
    with connect(settings.require_database_url()) as conn:
        catalog = PriceCatalog.load(conn, settings.aws_region)
        conn.rollback()
        store.set_instance(conn, name, changes, actor=actor, catalog=catalog, now=datetime.now(UTC))


def _reconcile(settings: Settings, requested_by: str) -> dict[str, Any]:
    details: dict[str, Any] = _run(
        settings, "shape.reconcile", {"requested_by": requested_by}
    ).details
    return details


def _sql_as(settings: Settings, actor: str, *statements: str) -> None:
    """Plain SQL edits of parameter tables, audited as ``actor`` (how the team tunes them)."""
    with connect(settings.require_database_url()) as conn:
        conn.execute("SELECT set_config('locxia.actor', %s, false)", (actor,))
        for statement in statements:
            conn.execute(statement)
        conn.commit()


# --- 1. shape: the instances exist -----------------------------------------------------------
def create_instances(settings: Settings) -> dict[str, str]:
    """Rows by alice; the plan costs more than the auto-apply limit, so carol approves it."""
    for name, row in INSTANCES.items():
        _edit_instance(settings, name, "alice", **row)
    held = _reconcile(settings, "alice")
    if held["status"] != "held":
        raise AssertionError(f"seeding: the first plan should wait for approval: {held}")
    _run(settings, "shape.approve", {"run": held["terraform_run"], "actor": "carol"})
    ec2 = _client(settings, "ec2")
    found = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["ingest-vm"]}])
    return {"ingest-vm": found["Reservations"][0]["Instances"][0]["InstanceId"]}


def create_buckets(settings: Settings) -> None:
    """The three data zones' buckets, tagged like everything Locxia owns."""
    s3 = _client(settings, "s3")
    tag = {"Key": settings.tag_key, "Value": settings.tag_value}
    for bucket in BUCKETS:
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": settings.aws_region}
        )
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [tag]})


# --- 2. CloudWatch: a week of datapoints -------------------------------------------------------
def daytime(ts: datetime, low: float, high: float) -> float:
    """A working-day curve: ``low`` at night, ``high`` around 14:00 UTC, a little jitter."""
    wave = max(0.0, math.sin((ts.hour - 6) / 16 * math.pi)) if 6 <= ts.hour <= 22 else 0.0
    jitter = ((ts.day * 7 + ts.hour * 13) % 10) / 100  # deterministic, ±5 %
    return round(low + (high - low) * wave * (0.95 + jitter), 3)


def nightly(ts: datetime, low: float, high: float) -> float:
    """An ingestion worker: ``high`` from 01:00 to 02:59 UTC, ``low`` the rest of the day."""
    return high if ts.hour in (1, 2) else low


def rds_metrics(name: str, ts: datetime, hours_in: int) -> dict[str, float]:
    """One hour of an RDS instance: work-db is busy by day, batch-db is idle."""
    if name == "batch-db":
        return {
            "CPUUtilization": 1.5,
            "FreeStorageSpace": 48.0 * GIB,
            "SwapUsage": 0.0,
            "ReadIOPS": 0.2,
            "WriteIOPS": 0.6,
            "DatabaseConnections": 0.0,
            "NetworkReceiveThroughput": 900.0,
            "NetworkTransmitThroughput": 1_200.0,
        }
    return {
        "CPUUtilization": daytime(ts, 6, 68),
        "FreeStorageSpace": (62 - 6 * hours_in / (DAYS * 24)) * GIB,  # ~1 GB a day of growth
        "SwapUsage": daytime(ts, 8, 60) * 1024**2,
        "ReadIOPS": daytime(ts, 40, 420),
        "WriteIOPS": daytime(ts, 15, 160),
        "DatabaseConnections": round(daytime(ts, 3, 38)),
        "NetworkReceiveThroughput": daytime(ts, 20_000, 2_500_000),
        "NetworkTransmitThroughput": daytime(ts, 30_000, 6_000_000),
    }


def ec2_metrics(ts: datetime) -> dict[str, float]:
    """One hour of the ingestion VM; counts are per 5-minute sample (basic monitoring)."""
    return {
        "CPUUtilization": nightly(ts, 1.5, 24.0),  # 3.4 % on average: a recommendation
        "NetworkIn": nightly(ts, 60_000, 900_000_000),
        "NetworkOut": nightly(ts, 40_000, 150_000_000),
        "EBSReadOps": nightly(ts, 30, 45_000),
        "EBSWriteOps": nightly(ts, 90, 60_000),
    }


def put_metrics(settings: Settings, start: datetime, ec2_ids: dict[str, str]) -> None:
    """Hourly datapoints for the week, and one S3 storage datapoint per day before today."""
    data: dict[str, list[dict[str, Any]]] = {"AWS/RDS": [], "AWS/EC2": [], "AWS/S3": []}

    def point(metric: str, dims: list[tuple[str, str]], ts: datetime, value: float) -> Any:
        dimensions = [{"Name": k, "Value": v} for k, v in dims]
        return {"MetricName": metric, "Dimensions": dimensions, "Timestamp": ts, "Value": value}

    for hour in range(DAYS * 24):
        ts = start + hour * HOUR
        for name in ("work-db", "batch-db"):
            for metric, value in rds_metrics(name, ts, hour).items():
                data["AWS/RDS"].append(point(metric, [("DBInstanceIdentifier", name)], ts, value))
        for metric, value in ec2_metrics(ts).items():
            dims = [("InstanceId", ec2_ids["ingest-vm"])]
            data["AWS/EC2"].append(point(metric, dims, ts, value))
    midnight = (start + timedelta(days=DAYS)).replace(hour=0)
    for day in range(1, DAYS + 1):
        ts = midnight - timedelta(days=day)  # S3 publishes storage metrics once a day
        for n, bucket in enumerate(BUCKETS):
            size = (n + 1) * 40 * GIB * (1 + (DAYS - day) * 0.02)  # each grows 2 % a day
            data["AWS/S3"] += [
                point("BucketSizeBytes", [("BucketName", bucket), STANDARD], ts, size),
                point("NumberOfObjects", [("BucketName", bucket), ALL_TYPES], ts, size / 8e6),
            ]
    cloudwatch = _client(settings, "cloudwatch")
    for namespace, points in data.items():
        for chunk in range(0, len(points), 500):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=points[chunk : chunk + 500])


# --- 3. observe the week -------------------------------------------------------------------------
def tune_observation(settings: Settings) -> None:
    """dana (data team) makes instance points hourly, adds RDS network, sets two budgets."""
    _sql_as(
        settings,
        "dana",
        "UPDATE params.collection_policies SET period_seconds = 3600, every_seconds = 3600"
        " WHERE name IN ('rds-default', 'ec2-default')",
        "UPDATE params.collection_policies SET metrics = metrics"
        " || ARRAY['NetworkReceiveThroughput', 'NetworkTransmitThroughput']"
        " WHERE name = 'rds-default'",
        "INSERT INTO params.budgets (name, scope, service, monthly_usd, note) VALUES"
        " ('platform', 'total', NULL, 400, 'the whole account'),"
        " ('databases', 'service', 'Amazon Relational Database Service', 150, 'RDS')",
    )


def observe_week(settings: Settings, start: datetime) -> None:
    """Discovery at the start, then one collection and one estimate per simulated day."""
    _run(settings, "metrics.discover", at=start)
    for day in range(1, DAYS + 1):
        at = start + timedelta(days=day)
        _run(settings, "metrics.collect", at=at)
        _run(settings, "costs.estimate", at=at)


# --- 4. infrastructure changes -----------------------------------------------------------------
def change_infrastructure(settings: Settings) -> dict[str, int]:
    """A resize approved by carol, a storage growth within policy, drift, a pending resize."""
    _edit_instance(settings, "work-db", "alice", instance_class="db.r6g.large")
    held = _reconcile(settings, "alice")
    _run(settings, "shape.approve", {"run": held["terraform_run"], "actor": "carol"})

    _edit_instance(settings, "batch-db", "bob", storage_gb=60)
    auto = _reconcile(settings, "scheduler")
    if auto["status"] != "applied":
        raise AssertionError(f"seeding: the storage growth should apply within policy: {auto}")

    _client(settings, "rds").modify_db_instance(  # someone clicks in the console
        DBInstanceIdentifier="batch-db", DBInstanceClass="db.t4g.small", ApplyImmediately=True
    )
    drift = _run(settings, "shape.drift").details

    _edit_instance(settings, "ingest-vm", "bob", instance_class="m6i.xlarge")
    pending = _reconcile(settings, "bob")
    if pending["status"] != "held":
        raise AssertionError(f"seeding: the VM resize should wait for approval: {pending}")
    return {
        "approved": held["terraform_run"],
        "auto": auto["terraform_run"],
        "drift": drift["terraform_run"],
        "pending": pending["terraform_run"],
    }


# --- 5. costs ------------------------------------------------------------------------------------
def cost_explorer_results(end: datetime, tag_key: str) -> dict[str, Any]:
    """A GetCostAndUsage response: CE_DAYS days grouped by service and tag, CE lagging."""
    first = end.date() - timedelta(days=CE_DAYS)
    last = end.date() - timedelta(days=CE_LAG_DAYS)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": d.isoformat(), "End": (d + timedelta(days=1)).isoformat()},
                "Groups": [
                    {
                        "Keys": [service, f"{tag_key}${value}"],
                        "Metrics": {
                            "UnblendedCost": {
                                "Amount": f"{usd * (0.9 + (d.toordinal() % 5) / 20):.4f}",
                                "Unit": "USD",
                            }
                        },
                    }
                    for service, (value, usd) in CE_SERVICES.items()
                ],
                "Estimated": d == last,  # CE still revises its latest day
            }
            for d in days
        ]
    }


def queue_cost_explorer(endpoint: str, results: list[dict[str, Any]]) -> None:
    """moto answers GetCostAndUsage with these canned responses, one per distinct request."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/static/ce/cost-and-usage-results",
        data=json.dumps({"results": results}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def read_costs(settings: Settings, end: datetime) -> date:
    """Discover the week's end state, read Cost Explorer, recommend; CE's last day returned."""
    _run(settings, "metrics.discover", at=end)
    endpoint = settings.aws_endpoint_url
    if endpoint is None:
        raise AssertionError("seeding needs LOCXIA_AWS_ENDPOINT_URL (the moto server)")
    queue_cost_explorer(endpoint, [cost_explorer_results(end, settings.tag_key)])
    _run(settings, "costs.explorer", at=end)
    _run(settings, "costs.recommend", at=end)
    return end.date() - timedelta(days=CE_LAG_DAYS)


# --- 6. layers -----------------------------------------------------------------------------------
#: Where each dataset's features are: (lon, lat) of a city of geodata.CITIES.
LAYER_CITIES = {"buildings": (2.35, 48.86), "parcels": (4.83, 45.76), "parks": (1.44, 43.60)}
#: Rows of each file fed; parcels' second file breaks its max_rows rule.
LAYER_ROWS = {"buildings": 60, "buildings_v2": 75, "parcels": 40, "parcels_v2": 55, "parks": 30}
PARCELS_MAX_ROWS = 50


def city_layer(rows: int, lon: float, lat: float, seed: int) -> pa.Table:
    """``rows`` synthetic footprints around (lon, lat): a layer with a small, distinct extent."""
    table = geodata.layer_table(rows * 25, seed=seed, invalid_share=0.02)
    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    centres = shapely.centroid(geoms)
    near = (abs(shapely.get_x(centres) - lon) < 0.6) & (abs(shapely.get_y(centres) - lat) < 0.4)
    picked = table.filter(pa.array(near)).slice(0, rows)
    if picked.num_rows != rows:
        raise AssertionError(f"seeding: only {picked.num_rows} footprints near {lon}, {lat}")
    return picked


def _layer_file(folder: Path, name: str, seed: int) -> str:
    """Write ``LAYER_ROWS[name]`` footprints of its city to a FlatGeobuf; its file URI."""
    dataset = name.removesuffix("_v2")
    lon, lat = LAYER_CITIES[dataset]
    target = folder / name
    target.mkdir(parents=True)
    path, _ = formats.flatgeobuf(city_layer(LAYER_ROWS[name], lon, lat, seed), target)
    return path.as_uri()


def _feed(settings: Settings, dataset: str, source: str) -> None:
    """What ``locxia ingest``, ``refine`` and ``publish`` do, one recorded task each."""
    _run(settings, "layers.ingest", {"dataset": dataset, "source": source})
    _run(settings, "layers.refine", {"dataset": dataset})
    _run(settings, "layers.publish", {"dataset": dataset})


def _scheduled_feed(settings: Settings, dataset: str) -> Any:
    """One run of the job the service plans for a dataset with a cron (``layers.<name>``)."""
    runner = _runner(settings)
    try:
        return runner.run("core.chain", {"steps": chain_steps(dataset)}, job_id=f"layers.{dataset}")
    finally:
        runner.close()


def feed_layers(settings: Settings, folder: Path) -> dict[str, int]:
    """dana declares three datasets; the feed takes each as far as it goes (module docstring)."""
    files = {name: _layer_file(folder, name, seed) for seed, name in enumerate(LAYER_ROWS, 21)}
    declare = (
        "INSERT INTO params.datasets (name, source, rules, cron, note) VALUES (%s, %s, %s, %s, %s)"
    )
    with connect(settings.require_database_url()) as conn:
        conn.execute("SELECT set_config('locxia.actor', 'dana', false)")
        conn.execute(declare, ("buildings", None, '{"min_rows": 10}', None, "footprints, Paris"))
        conn.execute(
            declare,
            (
                "parcels",
                files["parcels"],
                json.dumps({"max_rows": PARCELS_MAX_ROWS}),
                "0 5 * * *",
                "cadastral parcels, Lyon, fed nightly",
            ),
        )
        conn.execute(declare, ("parks", None, "{}", None, "parks, Toulouse"))
        conn.commit()
    _feed(settings, "buildings", files["buildings"])
    _feed(settings, "buildings", files["buildings_v2"])
    first = _scheduled_feed(settings, "parcels")
    if first.status != "success":
        raise AssertionError(f"seeding: the first parcels feed should succeed: {first.error}")
    with connect(settings.require_database_url()) as conn:  # a new source, audited as dana
        conn.execute("SELECT set_config('locxia.actor', 'dana', false)")
        conn.execute(
            "UPDATE params.datasets SET source = %s WHERE name = 'parcels'", (files["parcels_v2"],)
        )
        conn.commit()
    second = _scheduled_feed(settings, "parcels")
    if second.status != "failed" or "rows" not in str(second.error):
        raise AssertionError(f"seeding: parcels v2 should fail its row rule: {second.error}")
    _run(settings, "layers.ingest", {"dataset": "parks", "source": files["parks"]})
    return dict(LAYER_ROWS)


# --- the whole week ------------------------------------------------------------------------------
def seed_week(settings: Settings, layer_dir: Path | None = None) -> Week:
    """Seed the database of ``settings`` with a week (see the module docstring).

    ``settings`` must point at the moto server (``aws_endpoint_url``) and at a stand-in root
    module (``terraform_dir``, see :func:`standin_terraform`); plans above 50 USD/month of
    added cost wait for approval. The layer files are written to ``layer_dir`` (a temporary
    folder, removed afterwards, when not given).
    """
    settings = settings.model_copy(update={"shape_auto_apply_usd": 50.0})
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    ec2_ids = create_instances(settings)
    create_buckets(settings)
    put_metrics(settings, start, ec2_ids)
    tune_observation(settings)
    observe_week(settings, start)
    runs = change_infrastructure(settings)
    ce_last_day = read_costs(settings, end)
    if layer_dir is None:
        with tempfile.TemporaryDirectory(prefix="locxia-layers-") as tmp:
            layers = feed_layers(settings, Path(tmp))
    else:
        layers = feed_layers(settings, layer_dir)
    return Week(
        start=start,
        end=end,
        ec2_ids=ec2_ids,
        approved_run=runs["approved"],
        auto_run=runs["auto"],
        pending_run=runs["pending"],
        drift_run=runs["drift"],
        ce_last_day=ce_last_day,
        layers=layers,
    )
