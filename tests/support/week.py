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
4. **Changes** — a resize held for approval then approved, a storage growth applied within
   policy, a class changed behind Terraform's back (found by ``shape.drift``), and a resize
   left waiting for approval.
5. **Costs** — a final discovery, the scenario's Cost Explorer days up to two days ago,
   priced from the catalog (queued through moto's static endpoint: moto returns canned
   results) read by ``costs.explorer``, then
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
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import shapely

from infra.aws import AwsClients
from infra.db import connect
from infra.demo.scenario import create_estate, datapoints, explorer, params, resource_ids
from infra.demo.scenario import week as week_estate
from infra.demo.scenario.cloudwatch import put_series
from infra.demo.scenario.datapoints import Series
from infra.demo.standin import standin_terraform as shipped_standin
from infra.jobs import Registry
from infra.jobs.runner import Runner
from infra.prices import PriceCatalog
from infra.settings import Settings, load_settings
from pipelines.feed.jobs import chain_steps
from pipelines.shape import store
from tests.support import formats, geodata

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


def _catalog(settings: Settings) -> PriceCatalog:
    with connect(settings.require_database_url()) as conn:
        return PriceCatalog.load(conn, settings.aws_region)


def _edit_instance(settings: Settings, name: str, actor: str, **changes: Any) -> None:
    """What ``locxia params set NAME key=value`` does (validated, audited as ``actor``)."""
    catalog = _catalog(settings)
    with connect(settings.require_database_url()) as conn:
        store.set_instance(conn, name, changes, actor=actor, catalog=catalog, now=datetime.now(UTC))


def _reconcile(settings: Settings, requested_by: str) -> dict[str, Any]:
    details: dict[str, Any] = _run(
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
    _run(settings, "shape.approve", {"run": held["terraform_run"], "actor": "carol"})
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

    AwsClients(settings).client("rds", role="write").modify_db_instance(  # a console click
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
def read_costs(settings: Settings, end: datetime) -> tuple[date, frozenset[str]]:
    """Discover the week's end state, queue the scenario's Cost Explorer days, read them,
    recommend; returns Cost Explorer's last day and the services it bills."""
    _run(settings, "metrics.discover", at=end)
    endpoint = settings.aws_endpoint_url
    if endpoint is None:
        raise AssertionError("seeding needs LOCXIA_AWS_ENDPOINT_URL (the moto server)")
    today = end.date()
    days = explorer.billing_days(today, CE_LAG_DAYS)
    origin = datapoints.growth_origin(end, DAYS)
    lines = explorer.cost_lines(ESTATE, _catalog(settings), days, origin)
    explorer.queue(endpoint, explorer.results(lines, today, (settings.tag_key, settings.tag_value)))
    _run(settings, "costs.explorer", at=end)
    _run(settings, "costs.recommend", at=end)
    return days[-1], frozenset(line.service for line in lines)


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
    series = put_metrics(settings, end, create_rest(settings))
    tune_observation(settings)
    observe_week(settings, start)
    runs = change_infrastructure(settings)
    ce_last_day, ce_services = read_costs(settings, end)
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
        ce_services=ce_services,
        series=series,
        layers=layers,
    )
