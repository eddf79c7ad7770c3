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

from infra.demo import cloudwatch, costs
from infra.demo.estate import create_estate, default_estate, resource_ids
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
    series = cloudwatch.week_of_series(the_estate, resource_ids(clients, the_estate), end, days)
    seeded = cloudwatch.put_series(clients, series)
    return {**seeded.as_details(), "window_end": end.isoformat(), "days": days}


def cost_explorer(ctx: TaskContext) -> dict[str, Any]:
    """Queue Cost Explorer responses for the month to date (at least a week), priced.

    One response per service and one per resource (``Name`` tag), from the price catalog.
    """
    endpoint = require_stand_in(ctx.settings)
    the_estate = default_estate(ctx.settings)
    now = ctx.now()
    today = now.astimezone(UTC).date()
    with ctx.connect() as conn:
        catalog = PriceCatalog.load(conn, ctx.settings.aws_region)
    days = costs.billing_days(today)
    lines = costs.cost_lines(the_estate, catalog, days, cloudwatch.growth_origin(_hour(now)))
    queued = costs.queue_results(ctx.aws(), endpoint, costs.results(lines, today))
    total = sum((line.usd for line in lines), start=Decimal(0))
    return {
        "queued": queued,
        "responses": len(costs.REQUEST_ORDER) if queued else 0,
        "first_day": days[0].isoformat() if days else None,
        "last_day": (days[-1] if days else today - timedelta(1)).isoformat(),
        "total_usd": float(round(total, 2)),
    }


plugin = Plugin(
    name="demo",
    tasks=(
        Task("demo.estate", "infra.demo.tasks:estate", "create the demo estate in the stand-in"),
        Task("demo.metrics", "infra.demo.tasks:metrics", "put a week of CloudWatch datapoints"),
        Task("demo.costs", "infra.demo.tasks:cost_explorer", "queue Cost Explorer responses"),
    ),
)
