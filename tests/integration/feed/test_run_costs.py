"""Issue 16's acceptance for run costs: a seeded month where every run has a cost.

A layer is fed through S3 zones of the moto server by its scheduled chain (twice: the second
chain's steps are no-ops), an observing task calls Cost Explorer and CloudWatch through the gap
server, and one task fails. Cost Explorer's month for ``project=locxia`` and a resource's
hourly estimates are seeded in ``costs.daily`` / ``costs.estimates``. Then: every ended run has
a cost and a basis; the sum of run costs per dataset is what ``reporting.dataset_costs`` shows;
``reporting.cost_explained`` shows the share of Cost Explorer's cost explained by runs and
resources, and the remainder (the two sum to CE's cost by construction of the remainder only:
nothing is forced). The figures are printed (``pytest -s``) for the closing note.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from infra.jobs import Plugin, Registry, Task, TaskContext
from infra.jobs.runner import Runner
from infra.settings import Settings
from tests.conftest import locxia_bin
from tests.integration.feed.conftest import declare, make_buckets
from tests.support import formats

pytestmark = pytest.mark.slow


def observe_probe(ctx: TaskContext) -> dict[str, int]:
    """Two Cost Explorer requests and one ListMetrics, as an observing task would make."""
    clients = ctx.aws()
    ce = clients.client("ce")
    day = ctx.now().date()
    for _ in range(2):
        ce.get_cost_and_usage(
            TimePeriod={"Start": (day - timedelta(days=2)).isoformat(), "End": day.isoformat()},
            Granularity="DAILY",
            Metrics=["UnblendedCost"],
        )
    clients.client("cloudwatch", role="write").list_metrics(Namespace="AWS/RDS")
    return {"probed": 3}


def fail_probe(ctx: TaskContext) -> None:
    """A task that fails after a request: its run still gets a cost."""
    ctx.aws().client("cloudwatch", role="write").list_metrics(Namespace="AWS/EC2")
    raise RuntimeError("probe failed on purpose")


PROBES = Plugin(
    "cost-probes",
    (
        Task("test.observe", f"{__name__}:observe_probe", "calls CE and CloudWatch"),
        Task("test.fail", f"{__name__}:fail_probe", "fails after one request"),
    ),
)


def _cli(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [locxia_bin(), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _seed_month(conn: psycopg.Connection[Any], month: datetime, now: datetime) -> Decimal:
    """Cost Explorer's Locxia days of the month so far, and one resource's hourly estimates."""
    ce_total = Decimal(0)
    day = month.date()
    while day < now.date():
        for service, usd in (("Amazon Relational Database Service", "1.80"), ("EC2", "0.95")):
            conn.execute(
                "INSERT INTO costs.daily (day, service, tag_key, tag_value, usd, estimated,"
                " basis, charge) VALUES (%s, %s, 'project', 'locxia', %s, false, 'usage', 'usage')",
                (day, service, Decimal(usd)),
            )
            ce_total += Decimal(usd)
        day += timedelta(days=1)
    rid = conn.execute(
        "INSERT INTO metrics.resources (arn, type, resource_id, name, region, tags, tagged,"
        " state, first_seen, last_seen) VALUES ('arn:aws:rds:eu-west-3:1:db:work-db', 'rds:db',"
        " 'work-db', 'work-db', 'eu-west-3', '{\"project\": \"locxia\"}', true, 'available',"
        " %s, %s) RETURNING id",
        (month, now),
    ).fetchone()
    assert rid is not None
    conn.execute(
        "INSERT INTO costs.estimates (resource_id, hour, service, usd, basis, final)"
        " SELECT %s, h, 'Amazon Relational Database Service', 0.075, 'catalog', true"
        "   FROM generate_series(%s::timestamptz, %s::timestamptz - interval '1 hour',"
        "                        interval '1 hour') h",
        (rid[0], month, now.replace(minute=0, second=0, microsecond=0)),
    )
    conn.commit()
    return ce_total


def test_every_run_has_a_cost_and_the_month_is_explained(
    canonical: pa.Table,
    conn: psycopg.Connection[Any],
    aws_settings: Settings,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    make_buckets(aws_settings, "locxia-landing", "locxia-working")
    settings = aws_settings.model_copy(
        update={
            "landing_uri": "s3://locxia-landing/zones/landing",
            "working_uri": "s3://locxia-working/working",
        }
    )
    path, _ = formats.flatgeobuf(canonical, tmp_path)
    declare(conn, "pools", '{"min_rows": 10}', source=path.as_uri(), cron="0 4 * * *")
    conn.execute(
        "INSERT INTO params.job_compute (job, host_type, database_class, note)"
        " VALUES ('layers.*', 't3.large', 'db.t4g.medium', 'feed loads work-db')"
    )
    conn.commit()
    registry = Registry.from_entry_points([PROBES])
    steps = [
        {"task": f"layers.{s}", "args": {"dataset": "pools"}}
        for s in ("ingest", "refine", "publish")
    ]
    runner = Runner(settings, registry)
    try:
        chains = [runner.run("core.chain", {"steps": steps}, job_id="layers.pools") for _ in "ab"]
        probe = runner.run("test.observe")
        failed = runner.run("test.fail")
    finally:
        runner.close()
    assert [c.status for c in chains] == ["success", "success"], chains[0].error
    assert probe.status == "success", probe.error
    assert failed.status == "failed"

    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    ce_total = _seed_month(conn, month, now)

    runs = conn.execute(
        "SELECT id, job_id, status, cost_usd, cost_basis FROM ops.runs ORDER BY id"
    ).fetchall()
    assert len(runs) == 2 * 4 + 2
    assert all(r[3] is not None and r[4] is not None for r in runs), runs
    by_job = {r[1]: r for r in runs}

    ingest = by_job["layers.pools/1:layers.ingest"][4]  # the second chain's ingest (a no-op)
    first_ingest = runs[1][4]
    assert runs[1][1] == "layers.pools/1:layers.ingest"
    s3 = first_ingest["api"]["kinds"]["s3_requests"]
    assert s3["put_copy_post_list"] >= 1, first_ingest  # the landed file was PUT
    assert first_ingest["api"]["kinds"]["s3_bytes"]["up"] >= path.stat().st_size
    assert any(k.startswith("s3:PutObject") for k in first_ingest["requests"])
    assert Decimal(ingest["compute"]["usd"]) > 0  # a no-op still used its host for a while
    compute = first_ingest["compute"]
    assert compute["host"] == "t3.large" and compute["database"] == "db.t4g.medium"
    assert compute["declared_by"] == "params.job_compute[layers.*]"
    expected = (
        (Decimal(compute["host_usd_per_hour"]) + Decimal(compute["database_usd_per_hour"]))
        * Decimal(str(compute["seconds"]))
        / 3600
    )
    assert abs(Decimal(compute["usd"]) - expected) < Decimal("1e-9")

    chain = runs[0][4]["compute"]
    assert chain["children_seconds"] > 0  # the chain's own share excludes its steps' time
    observe = by_job["test.observe"][4]
    assert observe["api"]["kinds"]["ce_requests"]["count"] == 2
    assert Decimal(observe["api"]["kinds"]["ce_requests"]["usd"]) == Decimal("0.02")
    assert observe["api"]["kinds"]["cloudwatch_requests"]["count"] == 1
    assert observe["compute"]["host"] == settings.run_host_type  # the default host
    assert observe["compute"]["declared_by"] == "settings"
    assert by_job["test.fail"][4]["api"]["kinds"]["cloudwatch_requests"]["count"] == 1

    pools_runs = sum((Decimal(r[3]) for r in runs if r[1].startswith("layers.pools")), Decimal(0))
    shown = conn.execute(
        "SELECT runs, usd FROM reporting.dataset_costs WHERE dataset = 'pools' AND month = %s",
        (month.date(),),
    ).fetchone()
    assert shown is not None and shown[0] == 8
    assert Decimal(shown[1]) == pools_runs

    explained = conn.execute(
        "SELECT ce_usd, runs_usd, resources_usd, explained_usd, explained_percent, remainder_usd"
        " FROM reporting.cost_explained"
        " WHERE month = %s AND tag_key = 'project' AND tag_value = 'locxia'",
        (month.date(),),
    ).fetchone()
    assert explained is not None
    ce_usd, runs_usd, resources_usd, explained_usd, percent, remainder = explained
    all_runs = sum((Decimal(r[3]) for r in runs), Decimal(0))
    assert Decimal(runs_usd) == all_runs
    if ce_total:
        assert Decimal(ce_usd) == ce_total
        assert Decimal(explained_usd) + Decimal(remainder) == Decimal(ce_usd)
        assert percent is not None
    listed = _cli(cli_env, "runs", "list", "--json", "--limit", "100")
    assert {r["id"]: r["cost_usd"] for r in listed} == {r[0]: float(r[3]) for r in runs}
    months = _cli(cli_env, "datasets", "show", "pools", "--json")["costs"]
    assert months[0]["runs"] == 8 and months[0]["usd"] == float(pools_runs)

    shown_percent = None if percent is None else round(percent, 2)
    print(
        f"\nrun costs, {month:%Y-%m}: {len(runs)} runs, every one with a cost;"
        f" pools (8 feed runs) {pools_runs:.8f} USD = reporting.dataset_costs {shown[1]:.8f} USD"
        f"\n  first ingest: {s3['count']} S3 requests ({s3['put_copy_post_list']} PUT/LIST,"
        f" {s3['get_and_other']} GET/other), {first_ingest['api']['kinds']['s3_bytes']['up']}"
        f" bytes up, API {first_ingest['api']['usd']} USD, compute {compute['usd']} USD"
        f" over {compute['seconds']} s"
        f"\n  observe probe: API {observe['api']['usd']} USD (2 CE requests, 1 ListMetrics)"
        f"\n  Cost Explorer project=locxia month to date {ce_usd} USD; runs {runs_usd:.6f} USD,"
        f" resources {resources_usd} USD, explained {shown_percent} %,"
        f" remainder {remainder} USD"
    )
