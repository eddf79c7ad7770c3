"""The demo's own tasks: build the estate in the stand-in AWS, recorded like any job.

They run through the :class:`~infra.jobs.runner.Runner`, so each step of the demo is a row in
``ops.runs`` (and shows in the report and dashboards). The plugin is handed to the demo's
registry only (``Registry.from_entry_points(extra=[plugin])``), never declared as an entry
point: ``locxia jobs`` and the service do not offer it. Each task also refuses an endpoint
that is not a stand-in on 127.0.0.1, so the estate can never be built in a real account.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from infra.db import connect
from infra.demo import layer, logins
from infra.demo.database import demo_home
from infra.demo.scenario import (
    cloudwatch,
    create_estate,
    datapoints,
    default_estate,
    explorer,
    params,
    resource_ids,
)
from infra.demo.standin import require_stand_in
from infra.errors import InputError
from infra.jobs.model import Plugin, Task, TaskContext
from infra.prices import PriceCatalog

MAX_DAYS = 14  # moto slows down with volume; a week is what the demo needs


def _hour(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def estate(ctx: TaskContext) -> dict[str, Any]:
    """Create the demo estate's missing resources (RDS, EC2, buckets, tagged and not)."""
    require_stand_in(ctx.settings)
    created = create_estate(ctx.aws(), default_estate(ctx.settings), ctx.settings.aws_region)
    return created.as_details()


def metrics(ctx: TaskContext, days: int = 7) -> dict[str, Any]:
    """Put ``days`` days of CloudWatch datapoints for the estate (series already there are kept).

    Raises:
        InputError: ``days`` is outside 1..14.
        DemoError: the estate does not exist yet.
    """
    if not 1 <= days <= MAX_DAYS:
        raise InputError(f"days must be 1..{MAX_DAYS}, got {days}", "demo.metrics")
    require_stand_in(ctx.settings)
    clients = ctx.aws()
    the_estate = default_estate(ctx.settings)
    end = _hour(ctx.now())
    series = datapoints.week_of_series(the_estate, resource_ids(clients, the_estate), end, days)
    seeded = cloudwatch.put_series(clients, series)
    return {**seeded.as_details(), "window_end": end.isoformat(), "days": days}


def cost_explorer(ctx: TaskContext) -> dict[str, Any]:
    """Seed Cost Explorer's line items for the month to date (at least a week), priced.

    One ``Usage`` line per resource, service and day, from the price catalog.
    """
    endpoint = require_stand_in(ctx.settings)
    the_estate = default_estate(ctx.settings)
    now = ctx.now()
    today = now.astimezone(UTC).date()
    with ctx.connect() as conn:
        catalog = PriceCatalog.load(conn, ctx.settings.aws_region)
    days = explorer.billing_days(today)
    lines = explorer.cost_lines(the_estate, catalog, days, datapoints.growth_origin(_hour(now)))
    tag = (the_estate.tag_key, the_estate.tag_value)
    queued = explorer.queue_results(ctx.aws(), endpoint, explorer.seed_body(lines, today, tag))
    total = sum((line.usd for line in lines), start=Decimal(0))
    return {
        "queued": queued,
        "lines": len(lines) if queued else 0,
        "first_day": days[0].isoformat() if days else None,
        "last_day": (days[-1] if days else today - timedelta(1)).isoformat(),
        "total_usd": float(round(total, 2)),
    }


def parameters(ctx: TaskContext) -> dict[str, Any]:
    """Describe the estate's instances, collect its week hourly, set the month's budgets.

    Audited as ``locxia-demo``; only values that differ are written.

    Raises:
        InputError: a row is refused by the validation (nothing of it is written).
    """
    with ctx.connect() as conn:
        catalog = PriceCatalog.load(conn, ctx.settings.aws_region)
        conn.rollback()
        the_estate = default_estate(ctx.settings)
        rows = params.instance_rows(the_estate)
        edits = params.set_instances(conn, rows, catalog, ctx.now())
        policies = params.collection_policies(conn, the_estate)
        budgets = params.set_budgets(conn, the_estate)
    return {
        "instances": edits.as_details(),
        "rows": len(rows),
        "policies_changed": policies,
        "budgets": len(the_estate.budgets),
        "budgets_changed": budgets,
    }


def bump(ctx: TaskContext) -> dict[str, Any]:
    """Edit ``work-db`` one class up, as an editor would (validated, audited).

    Raises:
        InputError: the row does not exist or the edit is refused.
    """
    with ctx.connect() as conn:
        catalog = PriceCatalog.load(conn, ctx.settings.aws_region)
        conn.rollback()
        before, after = params.bump_class(conn, catalog, ctx.now())
    return {"instance": params.BUMP_INSTANCE, "from": before, "to": after, "by": params.ACTOR}


def approve_held(ctx: TaskContext) -> dict[str, Any]:
    """Approve the newest reconcile run held for approval, if any, then apply it.

    Separation of duties holds in the demo too: the rows were written by the demo's own login,
    which may not approve what it caused, so the approval is recorded by the database for the
    demo's approver login (:data:`~infra.demo.logins.APPROVER`, member of
    ``locxia_approver`` and nothing else), labelled ``locxia-demo``; the apply then runs with
    the demo's login, as ``locxia infra approve RUN`` does for a login that may apply.

    Raises:
        DemoError: the demo's login cannot create the approver login.
        ApprovalRefused: the database refused the approval.
    """
    from pipelines.shape import approval
    from pipelines.shape.jobs import approve

    with ctx.connect() as conn:
        row = conn.execute(
            "SELECT id FROM ops.terraform_runs WHERE purpose = 'reconcile' AND status = 'held'"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
    if row is None:
        return {"approved": None, "status": "nothing held"}
    run_id = int(row[0])
    url = ctx.settings.require_database_url()
    with connect(
        url, autocommit=True, application_name="locxia:demo", **logins.approver(url)
    ) as conn:
        recorded = approval.record(conn, run_id, params.ACTOR)
    outcome = approve(ctx, run_id)
    return {"approved": run_id, "login": recorded.login, "label": recorded.label, **outcome}


def sample_layer(ctx: TaskContext) -> dict[str, Any]:
    """Write the sample layer (a GeoPackage in the demo's directory) and declare its dataset."""
    sample = layer.write_sample(demo_home(ctx.settings) / "samples")
    with ctx.connect() as conn:
        layer.declare(conn, sample.path.as_uri(), params.ACTOR)
    return {
        "dataset": layer.DATASET,
        "path": str(sample.path),
        "features": sample.features,
        "invalid": sample.invalid,
        "null": sample.null,
        "bytes": sample.path.stat().st_size,
    }


def capacity(ctx: TaskContext) -> dict[str, Any]:
    """Declare the Dask workers the demo's refine step needs (``params.run_capacity``).

    Raises:
        InputError: the database refused the row.
    """
    import psycopg

    with ctx.connect() as conn:
        try:
            changed = params.declare_capacity(conn)
        except psycopg.Error as exc:
            why = exc.diag.message_primary or " ".join(str(exc).split())
            where = f"params.run_capacity[{params.CAPACITY_JOB}]"
            raise InputError(why, None if why.startswith(where) else where) from exc
    return {
        "job": params.CAPACITY_JOB,
        "dask_workers": params.CAPACITY_WORKERS,
        "worker_type": params.CAPACITY_WORKER_TYPE,
        "changed": changed,
        "by": params.ACTOR,
    }


plugin = Plugin(
    name="demo",
    tasks=(
        Task("demo.estate", "infra.demo.tasks:estate", "create the demo estate in the stand-in"),
        Task("demo.metrics", "infra.demo.tasks:metrics", "put a week of CloudWatch datapoints"),
        Task("demo.costs", "infra.demo.tasks:cost_explorer", "queue Cost Explorer responses"),
        Task("demo.params", "infra.demo.tasks:parameters", "rows describing the estate"),
        Task("demo.bump", "infra.demo.tasks:bump", "edit work-db one class up"),
        Task("demo.approve", "infra.demo.tasks:approve_held", "approve the held reconcile"),
        Task("demo.layer", "infra.demo.tasks:sample_layer", "write and declare the sample layer"),
        Task("demo.capacity", "infra.demo.tasks:capacity", "declare the refine's Dask workers"),
    ),
)
