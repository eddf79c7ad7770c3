"""A realistic week of observe and shape records, produced by the project's own code paths.

Nothing here writes a row of ``metrics``, ``costs`` or ``ops`` by hand. The week is made the
way production makes it, against the moto server and the stand-in Terraform module:

The estate, its datapoints, Cost Explorer's days and the parameter rows are the scenario's
(:func:`infra.demo.scenario.week`, the same code ``locxia demo`` builds its estate with); what
is here is the orchestration: who edits what, and which jobs run when.

1. **Shape** — the scenario's three ``params.instances`` rows (two RDS, one EC2) are planned
   and applied through the ``shape.reconcile`` and ``shape.approve`` tasks: the stand-in
   module's provisioners create real (moto) instances carrying the Locxia tag.
2. **AWS** — the scenario creates what is still missing (its three tagged S3 buckets) and
   puts seven days of its CloudWatch datapoints (one per hour, so moto stays fast; one S3
   storage datapoint per day).
3. **Observe** — the team sets the scenario's collection policies (hourly points, RDS network
   added) and its two budgets; then each simulated day runs ``metrics.collect`` and
   ``costs.estimate`` with the clock at that day, after a ``metrics.discover`` at the start
   of the week.
4. **Layers** (:mod:`tests.support.week_layers`) — the data team declares three datasets and
   feeds small synthetic layers through ``layers.ingest`` → ``layers.refine`` →
   ``layers.publish``: ``buildings`` published twice, ``parcels`` rejected by its row rule on
   its second source, ``parks`` landed but never refined. Parcels' job declares one Dask
   worker: each of its runs opens a capacity window (raised through shape, removed after).
   The layers come before the changes: a window's reconcile plans every row, and the
   changes leave a resize held and a drift behind.
5. **Changes** — a resize held for approval then approved, a storage growth applied within
   policy, a class changed behind Terraform's back (found by ``shape.drift``), and a resize
   left waiting for approval.
6. **Costs** — a final discovery, the scenario's Cost Explorer days up to two days ago,
   priced from the catalog (seeded in the gap server's Cost Explorer, which filters and
   groups them as AWS does; it returns every day up to yesterday, the newest and partial
   one) read by ``costs.explorer``, then ``costs.recommend``: the idle database and the
   near-idle VM become recommendations.

Terraform runs are recorded at the real clock (their rows take the database's time); the
observed week ends at the start of the current hour. The demo (``locxia demo``) needs the
same story in product code: each step is one small function, in order, in :func:`seed_week`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from infra.aws import AwsClients
from infra.db import connect
from infra.demo.scenario import create_estate, datapoints, explorer, params, resource_ids
from infra.demo.scenario import week as week_estate
from infra.demo.scenario.cloudwatch import put_series
from infra.demo.scenario.datapoints import Series
from infra.demo.standin import standin_terraform as shipped_standin
from infra.prices import PriceCatalog
from infra.settings import Settings, load_settings
from pipelines.shape import store
from tests.support.logins import approve
from tests.support.week_layers import feed_layers, run_task

DAYS = 7
ESTATE = week_estate()
#: params.instances rows (the scenario's), created by alice and approved by carol.
INSTANCES: dict[str, dict[str, Any]] = params.instance_rows(ESTATE)
BUCKETS = tuple(r.name for r in ESTATE.of("s3"))
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
        ce_services: the Cost Explorer services the queued days bill.
        series: the CloudWatch datapoints put (the scenario's).
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
    ce_services: frozenset[str]
    series: tuple[Series, ...]
    layers: dict[str, int]

    def points(self, resource: str, metric: str) -> tuple[tuple[datetime, float], ...]:
        """The datapoints put for one metric of one resource."""
        (found,) = [s for s in self.series if (s.resource, s.metric) == (resource, metric)]
        return found.points


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
def _catalog(settings: Settings) -> PriceCatalog:
    with connect(settings.require_database_url()) as conn:
        return PriceCatalog.load(conn, settings.aws_region)


def _edit_instance(settings: Settings, name: str, actor: str, **changes: Any) -> None:
    """What ``locxia params set NAME key=value`` does (validated, audited as ``actor``)."""
    catalog = _catalog(settings)
    with connect(settings.require_database_url()) as conn:
        store.set_instance(conn, name, changes, actor=actor, catalog=catalog, now=datetime.now(UTC))


def _reconcile(settings: Settings, requested_by: str) -> dict[str, Any]:
    details: dict[str, Any] = run_task(
        settings, "shape.reconcile", {"requested_by": requested_by}
    ).details
    return details


# --- 1. shape: the instances exist -----------------------------------------------------------
def create_instances(settings: Settings) -> dict[str, str]:
    """The scenario's rows by alice; the plan costs more than the auto-apply limit, so carol
    approves it. Returns the EC2 instance ids Terraform's provisioners got."""
    catalog = _catalog(settings)
    with connect(settings.require_database_url()) as conn:
        params.set_instances(conn, INSTANCES, catalog, datetime.now(UTC), actor="alice")
    held = _reconcile(settings, "alice")
    if held["status"] != "held":
        raise AssertionError(f"seeding: the first plan should wait for approval: {held}")
    approve(settings.require_database_url(), held["terraform_run"], "carol")
    run_task(settings, "shape.approve", {"run": held["terraform_run"]})
    ids = resource_ids(AwsClients(settings), ESTATE)
    return {r.name: ids[r.name] for r in ESTATE.of("ec2")}


# --- 2. AWS: the rest of the estate, a week of datapoints ---------------------------------------
def create_rest(settings: Settings) -> dict[str, str]:
    """What Terraform does not build (the zone buckets); every resource's AWS id."""
    return create_estate(AwsClients(settings), ESTATE, settings.aws_region).ids


def put_metrics(settings: Settings, end: datetime, ids: dict[str, str]) -> tuple[Series, ...]:
    """The scenario's hourly datapoints for the week, one S3 storage datapoint per day."""
    series = datapoints.week_of_series(ESTATE, ids, end, DAYS)
    put_series(AwsClients(settings), series)
    return tuple(series)


# --- 3. observe the week -------------------------------------------------------------------------
def tune_observation(settings: Settings) -> None:
    """dana (data team) makes instance points hourly, adds RDS network, sets two budgets."""
    with connect(settings.require_database_url()) as conn:
        params.collection_policies(conn, ESTATE, actor="dana", backfill_s=None)
        params.set_budgets(conn, ESTATE, actor="dana")


def observe_week(settings: Settings, start: datetime) -> None:
    """Discovery at the start, then one collection and one estimate per simulated day."""
    run_task(settings, "metrics.discover", at=start)
    for day in range(1, DAYS + 1):
        at = start + timedelta(days=day)
        run_task(settings, "metrics.collect", at=at)
        run_task(settings, "costs.estimate", at=at)


# --- 4. infrastructure changes -----------------------------------------------------------------
def change_infrastructure(settings: Settings) -> dict[str, int]:
    """A resize approved by carol, a storage growth within policy, drift, a pending resize."""
    _edit_instance(settings, "work-db", "alice", instance_class="db.r6g.large")
    held = _reconcile(settings, "alice")
    approve(settings.require_database_url(), held["terraform_run"], "carol")
    run_task(settings, "shape.approve", {"run": held["terraform_run"]})

    _edit_instance(settings, "batch-db", "bob", storage_gb=60)
    auto = _reconcile(settings, "scheduler")
    if auto["status"] != "applied":
        raise AssertionError(f"seeding: the storage growth should apply within policy: {auto}")

    # a console click: plain boto3, not the product's clients (which make only registered calls)
    import boto3

    boto3.client(
        "rds", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region
    ).modify_db_instance(
        DBInstanceIdentifier="batch-db", DBInstanceClass="db.t4g.small", ApplyImmediately=True
    )
    drift = run_task(settings, "shape.drift").details

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
def read_costs(settings: Settings, end: datetime) -> tuple[date, frozenset[str]]:
    """Discover the week's end state, queue the scenario's Cost Explorer days, read them,
    recommend; returns Cost Explorer's last day and the services it bills."""
    run_task(settings, "metrics.discover", at=end)
    endpoint = settings.aws_endpoint_url
    if endpoint is None:
        raise AssertionError("seeding needs LOCXIA_AWS_ENDPOINT_URL (the moto server)")
    today = end.date()
    days = explorer.billing_days(today, CE_LAG_DAYS)
    origin = datapoints.growth_origin(end, DAYS)
    lines = explorer.cost_lines(ESTATE, _catalog(settings), days, origin)
    tag = (settings.tag_key, settings.tag_value)
    explorer.queue(endpoint, explorer.seed_body(lines, today, tag))
    run_task(settings, "costs.explorer", at=end)
    run_task(settings, "costs.recommend", at=end)
    return days[-1], frozenset(line.service for line in lines)


# --- the whole week ------------------------------------------------------------------------------
def flag_costs(settings: Settings, end: datetime) -> None:
    """dana caps the cost of observing far below the week's pace (the cap steps collection
    down: ``metrics.cap``), and the week's last EC2 day is recorded as a cost anomaly.

    The anomaly is written as the detector records one: a week is too short for its 28-day
    baseline (tests/integration/observe/test_anomalies.py detects them on seeded months), and
    the Costs panels must be proven on a row.
    """
    with connect(settings.require_database_url()) as conn:
        conn.execute("SELECT set_config('locxia.actor', 'dana', false)")
        conn.execute(
            "INSERT INTO params.monitoring_budget (name, monthly_usd, note)"
            " VALUES ('default', 0.0001, 'the week: cap far below the pace')"
        )
        day = (end - timedelta(days=1)).date()
        conn.execute(
            "INSERT INTO costs.anomalies (day, scope, key, service, source, observed, expected,"
            " score, drivers, detected_at, updated_at) VALUES (%s, 'service', %s, %s,"
            " 'cost-explorer', 12.5, 6.25, 9.5, %s, %s, %s)",
            (
                day,
                explorer.SERVICES["ec2"],
                explorer.SERVICES["ec2"],
                Jsonb([{"key": "tiles-server", "delta": 6.25, "share": 1.0}]),
                end,
                end,
            ),
        )
        conn.commit()
    run_task(settings, "metrics.cap", at=end)


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
    series = put_metrics(settings, end, create_rest(settings))
    tune_observation(settings)
    observe_week(settings, start)
    if layer_dir is None:  # before the changes: a capacity window reconciles every row
        with tempfile.TemporaryDirectory(prefix="locxia-layers-") as tmp:
            layers = feed_layers(settings, Path(tmp))
    else:
        layers = feed_layers(settings, layer_dir)
    runs = change_infrastructure(settings)
    ce_last_day, ce_services = read_costs(settings, end)
    flag_costs(settings, end)
    return Week(
        start=start,
        end=end,
        ec2_ids=ec2_ids,
        approved_run=runs["approved"],
        auto_run=runs["auto"],
        pending_run=runs["pending"],
        drift_run=runs["drift"],
        ce_last_day=ce_last_day,
        ce_services=ce_services,
        series=series,
        layers=layers,
    )
