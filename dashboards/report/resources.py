"""Report sections about resources: which cost most, which sit idle, how busy each instance was.

They read the views of migrations 0041 and 0042 (documented in docs/dashboards.md), the
ones the Costs and Resources dashboards read: ``resource_costs`` (hourly cost per resource:
the actual from AWS Data Exports where a delivery covers the hour, else the estimate, uptime ×
price catalog; ``source`` says which), ``recommendations`` (idle resources) and
``instance_metrics`` (CloudWatch datapoints as common measures).
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from typing import Any

from dashboards.report.model import Chart, Figure, ReportContext, SectionContent, Table

TOP = 10  # rows of the top resources table
HOURS_PER_MONTH = 730  # AWS prices a month as 730 hours
SPARK_COLORS = {"average": "#1565c0", "peak": "#ef6c00"}
_NOT_KEY = re.compile(r"[^a-z0-9]+")


# --- top resources ---------------------------------------------------------------------------
def top_resources_section(ctx: ReportContext) -> SectionContent:
    """The resources whose estimated cost was highest in the month, with their current rate."""
    totals = ctx.query(
        "resource_costs",
        """
        SELECT count(DISTINCT resource_id) AS resources, coalesce(sum(usd), 0) AS usd,
               coalesce(sum(usd) FILTER (WHERE source = 'actual'), 0) AS actual_usd
          FROM {view}
         WHERE time >= %(start)s AND time < %(end)s
        """,
    )[0]
    if not totals["resources"]:
        return SectionContent(empty=f"No resource cost was estimated for {ctx.period.label}.")
    rows = ctx.query(
        "resource_costs",
        """
        SELECT resource, type, service, count(*) AS hours, sum(usd) AS usd,
               count(*) FILTER (WHERE source = 'actual') AS actual_hours,
               (array_agg(usd ORDER BY time DESC))[1] AS last_hour_usd,
               (array_agg(basis ORDER BY time DESC))[1] AS basis
          FROM {view}
         WHERE time >= %(start)s AND time < %(end)s
         GROUP BY resource, resource_id, type, service
         ORDER BY usd DESC, resource, resource_id
         LIMIT %(limit)s
        """,
        {"limit": TOP},
    )
    total = float(totals["usd"])
    figures = (
        Figure("top_resources.usd", "Estimated cost of all resources", total, "usd"),
        Figure(
            "top_resources.actual_usd",
            "Of which actual (AWS Data Exports), the rest estimated",
            float(totals["actual_usd"]),
            "usd",
        ),
        Figure("top_resources.resources", "Resources with a cost", totals["resources"]),
        Figure(
            "top_resources.top_share",
            f"Share of the top {TOP}",
            round(100.0 * sum(float(r["usd"]) for r in rows) / total, 1) if total else None,
            "percent",
        ),
        price_sources_figure(ctx),
    )
    table = Table(
        "top_resources.list",
        f"Top {TOP} resources by estimated cost this month",
        (
            "resource",
            "type",
            "service",
            "hours",
            "actual hours",
            "cost",
            "monthly rate now",
            "basis",
        ),
        tuple(
            (
                r["resource"],
                r["type"],
                r["service"],
                r["hours"],
                r["actual_hours"],
                float(r["usd"]),
                round(float(r["last_hour_usd"]) * HOURS_PER_MONTH, 2),
                r["basis"],
            )
            for r in rows
        ),
        units={"cost": "usd", "monthly rate now": "usd"},
    )
    return SectionContent(figures=figures, tables=(table,))


def price_sources_figure(ctx: ReportContext) -> Figure:
    """Where the prices behind the estimates come from, per region: source, date, items.

    The shipped list is approximate and dated; a reader must see whether a region's figures
    rest on it, on the Price List API, or on nothing (unpriced items, counted).
    """
    rows = ctx.query(
        "price_catalog",
        """
        SELECT region,
               CASE WHEN unpriced_reason IS NULL THEN source ELSE 'unpriced' END AS source,
               min(effective_date) AS since, max(effective_date) AS until, count(*) AS items
          FROM {view}
         GROUP BY 1, 2
         ORDER BY 1, 2
        """,
    )
    by_region: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        dates = str(r["since"]) if r["since"] == r["until"] else f"{r['since']}–{r['until']}"
        by_region[r["region"]].append(f"{r['source']} as of {dates} ({r['items']} items)")
    text = "; ".join(f"{region}: {', '.join(parts)}" for region, parts in by_region.items())
    return Figure("top_resources.prices", "Prices used", text or "no price catalog", "text")


# --- recommendations -------------------------------------------------------------------------
def recommendations_section(ctx: ReportContext) -> SectionContent:
    """Idle-resource recommendations that stood during the month, and what acting would save.

    A recommendation stood if it was first seen before the month ended and was not resolved
    before it began. The saving adds up the ones still open now: resolved ones saved already.
    """
    rows = ctx.query(
        "recommendations",
        """
        SELECT resource, type, kind, action, monthly_saving_usd, open, first_seen, resolved_at
          FROM {view}
         WHERE first_seen < %(end)s AND (resolved_at IS NULL OR resolved_at >= %(start)s)
         ORDER BY open DESC, monthly_saving_usd DESC, resource, kind
        """,
    )
    if not rows:
        return SectionContent(empty=f"No idle resource was found in {ctx.period.label}.")
    still_open = [r for r in rows if r["open"]]
    figures = (
        Figure(
            "recommendations.saving",
            "Monthly saving if acted on",
            sum(float(r["monthly_saving_usd"]) for r in still_open),
            "usd",
        ),
        Figure("recommendations.open", "Open now", len(still_open)),
        Figure("recommendations.resolved", "Resolved", len(rows) - len(still_open)),
    )
    table = Table(
        "recommendations.list",
        "Idle resources and what to do",
        ("resource", "type", "finding", "action", "monthly saving", "since", "resolved"),
        tuple(
            (
                r["resource"],
                r["type"],
                r["kind"],
                r["action"],
                float(r["monthly_saving_usd"]),
                r["first_seen"],
                r["resolved_at"],
            )
            for r in rows
        ),
        units={"monthly saving": "usd"},
    )
    return SectionContent(figures=figures, tables=(table,))


# --- resource metrics ------------------------------------------------------------------------
def resource_metrics_section(ctx: ReportContext) -> SectionContent:
    """CPU of each RDS and EC2 instance: a sparkline of its daily average and peak.

    Average = the mean of the ``Average`` datapoints of the day, peak = the highest
    ``Maximum`` datapoint (the Resources dashboard averages the same way). Daily points keep
    the file small whatever the collection period; a day without datapoints is a gap.
    """
    daily = ctx.query(
        "instance_metrics",
        """
        SELECT resource, resource_id, kind, (time AT TIME ZONE 'UTC')::date AS day,
               avg(value) FILTER (WHERE stat = 'Average') AS average,
               max(value) FILTER (WHERE stat = 'Maximum') AS peak
          FROM {view}
         WHERE measure = 'cpu' AND time >= %(start)s AND time < %(end)s
         GROUP BY 1, 2, 3, 4
        """,
    )
    if not daily:
        return SectionContent(empty=f"No instance CPU was collected in {ctx.period.label}.")
    month = ctx.query(
        "instance_metrics",
        """
        SELECT resource, resource_id, kind,
               avg(value) FILTER (WHERE stat = 'Average') AS average,
               max(value) FILTER (WHERE stat = 'Maximum') AS peak,
               count(*) FILTER (WHERE stat = 'Average') AS datapoints
          FROM {view}
         WHERE measure = 'cpu' AND time >= %(start)s AND time < %(end)s
         GROUP BY 1, 2, 3
         ORDER BY kind DESC, resource, resource_id
        """,
    )
    figures = (
        Figure("resource_metrics.instances", "Instances", len(month)),
        Figure("resource_metrics.rds", "RDS", sum(r["kind"] == "rds" for r in month)),
        Figure("resource_metrics.ec2", "EC2", sum(r["kind"] == "ec2" for r in month)),
    )
    table = Table(
        "resource_metrics.cpu",
        "CPU over the month, per instance",
        ("instance", "id", "kind", "average", "peak", "datapoints"),
        tuple(
            (
                r["resource"],
                r["resource_id"],
                r["kind"],
                _round(r["average"]),
                _round(r["peak"]),
                r["datapoints"],
            )
            for r in month
        ),
        units={"average": "percent", "peak": "percent"},
    )
    return SectionContent(figures=figures, charts=_sparklines(ctx, month, daily), tables=(table,))


def _sparklines(
    ctx: ReportContext, month: list[dict[str, Any]], daily: list[dict[str, Any]]
) -> tuple[Chart, ...]:
    """One small chart per instance, in the table's order, keyed by its name."""
    days = ctx.days()
    cells: dict[str, dict[date, dict[str, Any]]] = defaultdict(dict)
    for row in daily:
        cells[row["resource_id"]][row["day"]] = row
    charts = []
    keys = _unique_keys([r["resource"] or r["resource_id"] for r in month])
    for row, key in zip(month, keys, strict=True):
        mine = cells[row["resource_id"]]
        series = tuple(
            (stat, tuple(_round(mine[d][stat]) if d in mine else None for d in days))
            for stat in ("average", "peak")
            if row[stat] is not None
        )
        # the id tells apart instances of one name (an EC2 instance replaced during the month)
        name, rid = row["resource"] or row["resource_id"], row["resource_id"]
        title = f"{name} ({row['kind']}{'' if rid == name else ' ' + rid}): CPU per day"
        charts.append(
            Chart(
                f"resource_metrics.cpu.{key}",
                title,
                "sparkline",
                tuple(days),
                series,
                "CPU %",
                SPARK_COLORS,
                "percent",
            )
        )
    return tuple(charts)


def _unique_keys(names: list[str]) -> list[str]:
    """Chart keys from names: ``work-db`` → ``work_db``; a clash gets ``_2``, ``_3``."""
    out: list[str] = []
    for name in names:
        base = _NOT_KEY.sub("_", name.lower()).strip("_") or "instance"
        base = base if base[0].isalpha() else f"r_{base}"
        key, n = base, 1
        while key in out:
            n += 1
            key = f"{base}_{n}"
        out.append(key)
    return out


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)
