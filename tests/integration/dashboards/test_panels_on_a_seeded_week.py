"""Acceptance: every panel of every dashboard holds up on a seeded week.

The week comes from the project's own code paths (collectors and costs jobs against the moto
server, reconciles through the stand-in Terraform module, runs through the Runner, a leading
service; see tests/support/week.py and tests/support/orchestrator.py). Every query runs as
locxia_grafana after Grafana's macros and variables are expanded; then what each panel shows
is compared with what was seeded.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dashboards.grafana.build import all_dashboards, queries
from dashboards.grafana.check import Outcome, PgRunner, check_dashboard
from dashboards.grafana.macros import TimeRange
from infra.db import connect
from tests.integration.dashboards.conftest import SeededWeek
from tests.support.week import BUCKETS, INSTANCES
from tests.support.week_layers import (
    LAYER_CITIES,
    PARCELS_MAX_ROWS,
    PARCELS_WORKER_TYPE,
    PARCELS_WORKERS,
)

pytestmark = pytest.mark.slow

UIDS = [b["uid"] for b in all_dashboards()]
Outcomes = dict[str, list[Outcome]]


def _board(uid: str) -> dict[str, Any]:
    return next(b for b in all_dashboards() if b["uid"] == uid)


@pytest.fixture(scope="module")
def outcomes(seeded_week: SeededWeek) -> Iterator[Outcomes]:
    with connect(seeded_week.url) as conn:
        yield {
            uid: check_dashboard(PgRunner(conn), _board(uid), TimeRange.last("7d")) for uid in UIDS
        }


def _plain(title: str) -> str:
    """A panel title without the Cost Explorer basis the Costs panels carry."""
    return title.split(" · CE basis")[0]


class Panels:
    """Column access to the checked queries of one dashboard, by title (and query letter)."""

    def __init__(self, found: list[Outcome]) -> None:
        self.found = found

    def column(self, title: str, name: str, ref_id: str | None = None) -> list[Any]:
        (outcome,) = [
            o
            for o in self.found
            if _plain(o.query.title) == title and ref_id in (None, o.query.ref_id)
        ]
        assert outcome.frame is not None, outcome.problems
        return outcome.frame.column(name)

    def rows(self, title: str, *names: str, ref_id: str | None = None) -> list[tuple[Any, ...]]:
        return list(zip(*(self.column(title, n, ref_id) for n in names), strict=True))


@pytest.mark.parametrize("uid", UIDS, ids=UIDS)
def test_every_query_returns_what_its_panel_needs(outcomes: Outcomes, uid: str) -> None:
    found = outcomes[uid]
    assert len(found) == len(list(queries(_board(uid))))  # panels, annotations, variables
    failed = {f"{o.query.kind} {o.query.title} {o.query.ref_id}": o.problems for o in found}
    assert {k: v for k, v in failed.items() if v} == {}
    for outcome in found:
        assert outcome.rows >= 1, outcome.query.title
        assert "$__" not in outcome.sql and "$type" not in outcome.sql
        if outcome.query.kind == "timeseries":
            assert outcome.query.format == "time_series" and outcome.columns[0] == "time"
            assert outcome.frame is not None
            times = outcome.frame.column("time")
            assert times == sorted(times)


# --- Orchestrator ------------------------------------------------------------------------------
def test_orchestrator_panels_show_the_seeded_runs(outcomes: Outcomes) -> None:
    p = Panels(outcomes["locxia-orchestrator"])
    assert set(p.column("Job runs by status", "metric")) >= {"success", "failed"}
    assert set(p.column("Failed runs by job", "metric")) == {
        "dash.boom",
        "nightly",
        "layers.parcels",  # its second source broke a quality rule
    }
    assert "disk full on /data" in " ".join(p.column("Recent failures", "error"))
    assert "nightly/2:dash.boom" in p.column("Recent failures", "job")
    status = dict(p.rows("Last success per job", "job", "last_status"))
    assert status["dash.boom"] == "failed" and status["core.noop"] == "success"
    assert status["metrics.collect"] == "success" and status["shape.reconcile"] == "success"
    assert p.column("Jobs failing now", "failing_jobs") == [3]  # + layers.parcels
    assert p.column("Live services", "leaders") == [1]
    assert p.column("Schema version", "schema_version")[0] >= 43
    changes = p.column("Parameter changes", "summary")
    assert "note: heartbeat → every second" in changes and "created" in changes
    assert "instance_class: db.t4g.large → db.r6g.large" in changes
    assert {"alice", "bob", "dana"} <= set(p.column("Parameter changes", "changed_by"))
    assert "added " in " ".join(p.column("Schedule changes", "summary"))
    assert {"dash.tick", "metrics.collect", "shape.approve"} <= set(p.column("$job", "job_id"))
    assert "schedules[dash.tick] update by bob: note: heartbeat → every second" in p.column(
        "Parameter edits", "text"
    )
    assert p.column("Price catalog", "items")[0] > 0
    durations = dict(p.rows("Duration per job", "job", "max_seconds"))
    assert durations["core.noop.slow"] >= 0.05


def test_orchestrator_infrastructure_panels(seeded_week: SeededWeek, outcomes: Outcomes) -> None:
    week = seeded_week.week
    p = Panels(outcomes["locxia-orchestrator"])
    assert p.column("Plans waiting for approval", "held_plans") == [1]
    assert p.rows("Pending approvals", "run_id", "requested_by", "changes", "approve_with") == [
        (
            week.pending_run,
            "bob",
            "ingest-vm: m6i.large → m6i.xlarge",
            f"locxia infra approve {week.pending_run}",
        )
    ]
    assert "auto-apply limit 50.00" in p.column("Pending approvals", "reasons")[0]
    assert p.column("Pending approvals", "monthly_cost_delta")[0] > 0
    assert p.column("Open drift", "open_findings") == [1]
    assert p.rows("Drift", "instance", "attribute", "expected", "actual", "open") == [
        ("batch-db", "instance_class", "db.t4g.medium", "db.t4g.small", True)
    ]
    runs = {
        r[0]: r[1:] for r in p.rows("Terraform runs", "run_id", "status", "approved_by", "changes")
    }
    assert runs[week.approved_run] == ("applied", "carol", "work-db: db.t4g.large → db.r6g.large")
    assert runs[week.auto_run] == ("applied", None, "batch-db: 50 → 60 GB")
    assert runs[week.drift_run][0] == "planned" and runs[week.pending_run][0] == "held"
    assert set(p.column("Terraform runs by status", "metric")) == {"applied", "held", "planned"}
    # parcels' two nightly runs each raised their declared worker and removed it, the failed
    # one too; each window priced (AWS bills a started instance at least 60 s)
    windows = p.rows(
        "Capacity windows", "job_id", "run_status", "state", "dask_workers", "worker_type"
    )
    assert sorted(windows) == [
        ("layers.parcels", status, "restored", PARCELS_WORKERS, PARCELS_WORKER_TYPE)
        for status in ("failed", "success")
    ]
    assert all(d > 0 for d in p.column("Capacity windows", "plan_monthly_delta_usd"))
    assert all(c > 0 for c in p.column("Capacity windows", "cost_usd"))
    assert p.column("Capacity windows open", "open_windows") == [0]


# --- Costs ---------------------------------------------------------------------------------------
def test_costs_panels_show_cost_explorer_estimates_budgets_and_recommendations(
    seeded_week: SeededWeek, outcomes: Outcomes
) -> None:
    week = seeded_week.week
    p = Panels(outcomes["locxia-costs"])
    ce_days = {t.date() for t in p.column("Daily cost per service", "time", "A")}
    assert set(p.column("Daily cost per service", "metric", "A")) == week.ce_services
    assert max(ce_days) == week.ce_last_day
    estimated = p.rows("Daily cost per service", "time", "metric", ref_id="B")
    first_uncovered = datetime.combine(
        week.ce_last_day + timedelta(days=1), datetime.min.time(), UTC
    )
    days = [first_uncovered + timedelta(days=k) for k in range(2)]
    assert {t for t, _ in estimated} == {
        Decimal(int(day.timestamp())) for day in days if day < week.end
    }
    assert all(m.endswith(" (estimated)") for _, m in estimated)

    # every resource's hours since Cost Explorer's last day are estimated
    hours = (week.end - first_uncovered) // timedelta(hours=1)
    uncovered = p.rows("Estimated hours not yet in Cost Explorer", "resource", "hours", "usd")
    assert {r for r, _, _ in uncovered} == set(INSTANCES) | set(BUCKETS)
    assert {h for _, h, _ in uncovered} == {hours}
    assert p.column("Not yet in Cost Explorer", "estimated_usd") == [
        sum(u for _, _, u in uncovered)
    ]

    top = p.column("Top resources by cost", "resource")
    assert top[0] == "work-db" and set(top) == set(INSTANCES) | set(BUCKETS)

    # the dashboard's month to date is what the budget job computed for the whole account
    budgets = {r[0]: r[1:] for r in p.rows("Budgets this month", "budget", "spent_usd", "status")}
    assert set(budgets) == {"platform", "databases"}
    assert p.column("Spent this month", "spent_usd") == [budgets["platform"][0]]
    assert set(p.column("Month-end forecast vs budget", "budget")) == {
        "platform (all services)",
        "databases (Amazon Relational Database Service)",
    }

    idle = p.rows("Idle resources", "resource", "kind", "monthly_saving_usd")
    assert {(r, k) for r, k, _ in idle} == {("batch-db", "rds-idle"), ("ingest-vm", "ec2-low-cpu")}
    assert all(s > 0 for _, _, s in idle)
    assert p.column("Idle resources could save", "monthly_saving_usd") == [
        sum(s for _, _, s in idle)
    ]


def test_cost_of_observing_is_requests_times_price(
    seeded_week: SeededWeek, outcomes: Outcomes
) -> None:
    with connect(seeded_week.url) as conn:
        row = conn.execute(
            "SELECT count(*), sum((details ->> 'metrics_requested')::int) FROM ops.runs"
            " WHERE job_id = 'metrics.collect'"
        ).fetchone()
    assert row is not None and row[0] == 7  # one collection per seeded day
    p = Panels(outcomes["locxia-costs"])
    by_job = {
        (job, api): rest
        for job, api, *rest in p.rows(
            "Cost of observing by job",
            "job",
            "api",
            "runs",
            "requests",
            "usd",
            "usd_per_1000_requests",
        )
    }
    assert by_job[("metrics.collect", "CloudWatch GetMetricData")] == [
        7,
        row[1],
        Decimal(row[1]) / 100_000,
        Decimal("0.01"),
    ]
    # one cost allocation tag check + one read, 0.01 USD each
    assert by_job[("costs.explorer", "Cost Explorer")] == [1, 2, Decimal("0.02"), Decimal(10)]
    assert set(p.column("Cost of observing", "metric")) == {
        "CloudWatch GetMetricData",
        "Cost Explorer",
    }
    assert p.column("Observing costs per month", "monthly_usd")[0] > 0


# --- Resources -----------------------------------------------------------------------------------
def test_resources_panels_show_each_instance_and_bucket(
    seeded_week: SeededWeek, outcomes: Outcomes
) -> None:
    p = Panels(outcomes["locxia-resources"])
    assert p.column("$type", "kind") == ["ec2", "rds"]
    with connect(seeded_week.url) as conn:  # parcels' capacity windows' workers, gone since
        workers = [
            str(name)
            for (added,) in conn.execute("SELECT added FROM ops.capacity_windows").fetchall()
            for name in added
        ]
    assert len(workers) == 2 * PARCELS_WORKERS
    # instances seen during the range: the workers a run raised and removed are listed too
    assert p.column("$resource", "name") == sorted([*INSTANCES, *workers])
    classes = dict(p.rows("Instances", "resource", "instance_class"))
    assert classes == {
        "work-db": "db.r6g.large",
        "batch-db": "db.t4g.small",
        "ingest-vm": "m6i.large",
        **dict.fromkeys(workers, PARCELS_WORKER_TYPE),
    }
    rds = {"work-db", "batch-db"}
    assert set(p.column("CPU", "metric")) == set(INSTANCES)
    for title in ("Connections", "Free storage", "Swap"):
        assert set(p.column(title, "metric")) == rds, title
    assert set(p.column("Read / write IOPS", "metric")) == {
        f"{n} {d}" for n in INSTANCES for d in ("read", "write")
    }
    assert set(p.column("Network", "metric")) == {
        f"{n} {d}" for n in INSTANCES for d in ("in", "out")
    }
    # EC2 counts are read as Sum over the (hourly) period and shown per second; RDS rates kept
    seeded = {
        int(t.timestamp()): v / 3600 for t, v in seeded_week.week.points("ingest-vm", "EBSReadOps")
    }
    iops = p.rows("Read / write IOPS", "time", "metric", "value")
    shown = {int(t): v for t, m, v in iops if m == "ingest-vm read"}
    # every seeded hour from the panel's range start on (the first ones may be older than its
    # last 7 days), each at the seeded value
    assert set(shown) == {t for t in seeded if t >= min(shown)} and len(shown) >= 6 * 24
    assert shown == {t: pytest.approx(seeded[t], rel=1e-12) for t in shown}
    assert max(shown.values()) == pytest.approx(max(seeded[t] for t in shown), rel=1e-12)
    assert max(p.column("CPU", "value")) <= 100

    history = p.rows("Resize history", "instance", "summary", "approval")
    assert ("work-db", "db.t4g.large → db.r6g.large", "approved by carol") in history
    assert ("batch-db", "50 → 60 GB", "within policy, applied automatically") in history
    assert "ingest-vm" not in {i for i, s, _ in history if "xlarge" in s}  # still waiting
    texts = p.column("Resizes", "text")
    assert any(
        t.startswith("work-db: db.t4g.large → db.r6g.large (approved by carol") for t in texts
    )

    assert set(p.column("S3 bucket sizes", "metric")) == set(BUCKETS)
    growth = dict(p.rows("Buckets", "bucket", "growth_bytes"))
    assert set(growth) == set(BUCKETS) and all(g > 0 for g in growth.values())


# --- Layers ------------------------------------------------------------------------------------
def test_layers_panels_show_the_fed_datasets(seeded_week: SeededWeek, outcomes: Outcomes) -> None:
    rows = seeded_week.week.layers
    p = Panels(outcomes["locxia-layers"])
    assert p.column("$dataset", "dataset") == ["buildings", "parcels", "parks"]
    assert p.rows("Datasets by zone", "zone", "datasets") == [
        ("landing", 3),
        ("working", 2),
        ("exposure", 2),
    ]
    assert p.column("Stale datasets", "stale_datasets") == [2]
    assert p.column("Rejected refines", "rejected") == [1]
    fresh = {r[0]: r[1:] for r in p.rows("Freshness", "dataset", "zone", "live_rows", "freshness")}
    assert fresh == {
        "buildings": ("exposure", rows["buildings_v2"], "fresh"),
        "parcels": ("exposure", rows["parcels"], "stale: newer version in landing (rejected)"),
        "parks": ("landing", None, "stale: nothing published"),
    }
    assert dict(p.rows("Freshness", "dataset", "last_feed_status"))["parcels"] == "failed"
    assert all(0 <= a < 3600 for a in p.column("Freshness", "age_seconds") if a is not None)

    versions = {r[0]: r[1:] for r in p.rows("Versions per dataset", "dataset", "landing",
                                             "working", "exposure", "rejected")}  # fmt: skip
    assert versions == {"buildings": (2, 2, 2, 0), "parcels": (2, 1, 1, 1), "parks": (1, 0, 0, 0)}
    assert p.rows("Rows live per dataset", "dataset", "live_rows") == [
        ("buildings", rows["buildings_v2"]),
        ("parcels", rows["parcels"]),
    ]
    published = p.rows("Rows per published version", "metric", "rows")
    assert published == [
        ("buildings", rows["buildings"]),
        ("buildings", rows["buildings_v2"]),
        ("parcels", rows["parcels"]),
    ]
    made = p.rows("Versions", "dataset", "zone", "status")
    assert ("buildings", "exposure", "previous") in made
    assert ("parcels", "landing", "rejected") in made and ("parks", "landing", "landed") in made

    assert set(p.column("Quality failures", "metric")) == {"parcels"}
    failed = p.rows("Failed quality checks", "dataset", "rule", "detail")
    assert failed == [
        (
            "parcels",
            "rows",
            f"{rows['parcels_v2']} rows (min 1, max {PARCELS_MAX_ROWS})",
        )
    ]
    rejections = p.rows("Rejected versions", "dataset", "zone", "rejected_by", "reason")
    assert rejections == [
        (
            "parcels",
            "landing",
            "refine",
            f"parcels: quality check failed: rows: {rows['parcels_v2']} rows (min 1, max"
            f" {PARCELS_MAX_ROWS})",
        )
    ]

    extents = {
        r[0]: r[1:]
        for r in p.rows("Published layer extents", "dataset", "longitude", "latitude", "stale")
    }
    assert set(extents) == {"buildings", "parcels"}
    for name, (lon, lat, stale) in extents.items():
        city_lon, city_lat = LAYER_CITIES[name]
        assert abs(lon - city_lon) < 0.6 and abs(lat - city_lat) < 0.4, name
        assert stale == (name == "parcels")


# --- an empty range ------------------------------------------------------------------------------
def test_a_panel_over_an_empty_range_is_reported_as_returning_nothing(
    seeded_week: SeededWeek,
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=400)
    with connect(seeded_week.url) as conn:
        found = [
            o
            for uid in UIDS
            for o in check_dashboard(PgRunner(conn), _board(uid), TimeRange.last("1d", long_ago))
        ]
    empty = {_plain(o.query.title) for o in found if "returned no rows" in o.problems}
    assert {
        "Job runs by status",
        "Recent failures",
        "Parameter changes",
        "Terraform runs",
        "Daily cost per service",
        "CPU",
        "S3 bucket sizes",
    } <= empty
    # state panels do not depend on the range and still hold up
    assert {_plain(o.query.title) for o in found if o.ok} >= {
        "Last success per job",
        "Schema version",
        "Pending approvals",
        "Idle resources",
    }
