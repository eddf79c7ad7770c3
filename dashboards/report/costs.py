"""Report sections about money: cost per day, month to date vs budget, cost of observing.

They read the views of migration 0042 (documented in docs/dashboards.md), the ones the Costs
dashboard reads. Cost Explorer lags a day or two: its days come from ``daily_costs`` and the
hours it has not reported yet from the estimates of ``resource_costs`` (``uncovered``), marked
"(estimated)", so a current month reaches up to the last estimate, as on the dashboard.
Money is Decimal in the database and float here (a cent's millionths are not at stake).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from dashboards.report.charts import PALETTE
from dashboards.report.model import Chart, Figure, ReportContext, SectionContent, Table, Unit

ESTIMATED = " (estimated)"
#: Colours of the cumulative chart; estimated bars are their service's colour, half-transparent.
BUDGET_COLORS = {"spent": "#1565c0", "budget": "#c62828", "forecast": "#ef6c00"}
BUDGET_UNITS: dict[str, Unit] = {
    **dict.fromkeys(("amount", "spent", "of which estimated", "per day", "forecast"), "usd"),
    "spent %": "percent",
    "forecast %": "percent",
}


@dataclass(frozen=True)
class Spend:
    """Spend per (day, series) for the month: Cost Explorer's, and estimates it lacks."""

    cells: dict[tuple[date, str], float]
    reported: float
    estimated: float

    @property
    def total(self) -> float:
        """Cost Explorer's days plus the estimated hours."""
        return self.reported + self.estimated

    def per_day(self) -> dict[date, float]:
        """Every series of a day added up."""
        out: dict[date, float] = defaultdict(float)
        for (day, _), usd in self.cells.items():
            out[day] += usd
        return out


def read_spend(ctx: ReportContext, service: str | None = None) -> Spend:
    """Daily spend of the month per service, estimates as ``<service> (estimated)``.

    Cost Explorer's days count while ``covered`` (before the start of the newest day it
    returned, which is still filling); the hours after are the estimates.

    Args:
        ctx: the report's context.
        service: only this Cost Explorer service (a service budget); every one if None.
    """
    only = "" if service is None else " AND service = %(service)s"
    params = {"service": service}
    reported = ctx.query(
        "daily_costs",
        "SELECT day, service, usd FROM {view} WHERE covered AND time >= %(start)s"
        " AND time < %(end)s" + only,
        params,
    )
    estimated = ctx.query(
        "resource_costs",
        "SELECT (time AT TIME ZONE 'UTC')::date AS day, service, sum(usd) AS usd FROM {view}"
        " WHERE uncovered AND time >= %(start)s AND time < %(end)s" + only + " GROUP BY 1, 2",
        params,
    )
    cells: dict[tuple[date, str], float] = defaultdict(float)
    for row in reported:
        cells[row["day"], row["service"]] += float(row["usd"])
    for row in estimated:
        cells[row["day"], row["service"] + ESTIMATED] += float(row["usd"])
    return Spend(
        dict(cells),
        sum(float(r["usd"]) for r in reported),
        sum(float(r["usd"]) for r in estimated),
    )


# --- Cost Explorer basis and cost allocation tags -------------------------------------------
def cost_basis(ctx: ReportContext) -> str:
    """The basis of the latest Cost Explorer read (``usage`` or ``net-amortized``)."""
    rows = ctx.query("cost_basis", "SELECT basis FROM {view}")
    return str(rows[0]["basis"]) if rows else "unknown"


def tag_warnings(ctx: ReportContext) -> tuple[tuple[Figure, ...], tuple[Table, ...]]:
    """A figure counting inactive cost allocation tags, and their warnings (none: no table)."""
    rows = ctx.query(
        "cost_tag_activation",
        "SELECT tag_key, status, used_for, checked_at, warning FROM {view}"
        " WHERE inactive ORDER BY tag_key",
    )
    figure = Figure("costs.inactive_tags", "Cost allocation tags not active", len(rows))
    if not rows:
        return (figure,), ()
    table = Table(
        "costs.tag_warnings",
        "Warning: costs of these tags read as untagged in Cost Explorer",
        ("tag", "status", "used for", "checked", "warning"),
        tuple(
            (r["tag_key"], r["status"], r["used_for"], r["checked_at"], r["warning"]) for r in rows
        ),
    )
    return (figure,), (table,)


# --- cost per service per day ----------------------------------------------------------------
def daily_costs_section(ctx: ReportContext) -> SectionContent:
    """What each service cost per day of the month, and in total, on which basis."""
    basis = cost_basis(ctx)
    warned, warnings = tag_warnings(ctx)
    spend = read_spend(ctx)
    if not spend.cells:
        if warnings:
            return SectionContent(figures=warned, tables=warnings)
        return SectionContent(empty=f"No cost recorded for {ctx.period.label}.")
    per_series: dict[str, float] = defaultdict(float)
    for (_, series), usd in spend.cells.items():
        per_series[series] += usd
    per_service: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for series, usd in per_series.items():
        service = series.removesuffix(ESTIMATED)
        per_service[service][0] += usd
        per_service[service][1] += usd if series.endswith(ESTIMATED) else 0.0
    services = sorted(per_service, key=lambda s: (-per_service[s][0], s))
    figures = (
        Figure("costs.total", "Spent this month", spend.total, "usd"),
        Figure("costs.estimated", "Of which not yet in Cost Explorer", spend.estimated, "usd"),
        Figure("costs.services", "Services", len(services)),
        Figure("costs.top_service", "Costs most", services[0], "text"),
        Figure("costs.basis", "Cost Explorer basis", basis, "text"),
        *warned,
    )
    # Largest service at the bottom of each bar; its estimate right above it, same colour.
    order = [s for service in services for s in (service, service + ESTIMATED) if s in per_series]
    colors = {}
    for index, service in enumerate(services):
        colors[service] = PALETTE[index % len(PALETTE)]
        colors[service + ESTIMATED] = colors[service] + "80"
    days = ctx.days()
    chart = Chart(
        "costs.per_day",
        f"Cost per day, by service (Cost Explorer, {basis} basis; estimates for the days it lacks)",
        "stacked_bars",
        tuple(days),
        tuple((s, tuple(spend.cells.get((d, s)) for d in days)) for s in order),
        "USD",
        colors,
        "usd",
    )
    table = Table(
        "costs.per_service",
        "Cost per service this month",
        ("service", "cost", "of which estimated", "share"),
        tuple(
            (s, per_service[s][0], per_service[s][1], _share(per_service[s][0], spend.total))
            for s in services
        ),
        units={"cost": "usd", "of which estimated": "usd", "share": "percent"},
    )
    return SectionContent(figures=figures, charts=(chart,), tables=(table, *warnings))


def _share(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


# --- month to date vs budget -----------------------------------------------------------------
def budget_section(ctx: ReportContext) -> SectionContent:
    """Each budget's month to date and forecast; the headline one as figures and a line.

    The headline budget is the account's (scope ``total``, first by name), else the one whose
    forecast uses most of its budget; its spend is drawn accumulated day by day against the
    budget and the forecast. Budgets are computed by the costs jobs for the current
    month; a past month shows its last computation.
    """
    rows = ctx.query(
        "budgets",
        """
        SELECT budget, scope, applies_to, budget_usd, actual_usd, estimated_usd, run_rate_usd,
               forecast_usd, used_percent, forecast_percent, status, computed_at
          FROM {view}
         WHERE month = %(month)s
         ORDER BY scope = 'total' DESC, forecast_percent DESC, budget
        """,
        {"month": ctx.period.start},
    )
    if not rows:
        return SectionContent(empty=f"No budget was computed for {ctx.period.label}.")
    head = rows[0]
    figures = (
        Figure("budget.name", "Figures for", f"{head['budget']} ({head['applies_to']})", "text"),
        Figure("budget.basis", "Cost Explorer basis", cost_basis(ctx), "text"),
        Figure("budget.spent", "Month to date", float(head["actual_usd"]), "usd"),
        Figure("budget.budget", "Budget", float(head["budget_usd"]), "usd"),
        Figure("budget.forecast", "Month-end forecast", float(head["forecast_usd"]), "usd"),
        Figure("budget.used_percent", "Of the budget spent", _pct(head["used_percent"]), "percent"),
        Figure(
            "budget.forecast_percent",
            "Forecast / budget",
            _pct(head["forecast_percent"]),
            "percent",
        ),
        Figure(
            "budget.alerts", "Budgets at warning or over", sum(r["status"] != "ok" for r in rows)
        ),
    )
    table = Table(
        "budget.list",
        "Budgets this month",
        (
            "budget",
            "applies to",
            "amount",
            "spent",
            "of which estimated",
            "per day",
            "forecast",
            "spent %",
            "forecast %",
            "status",
            "computed",
        ),
        tuple(
            (
                r["budget"],
                r["applies_to"],
                float(r["budget_usd"]),
                float(r["actual_usd"]),
                float(r["estimated_usd"]),
                float(r["run_rate_usd"]),
                float(r["forecast_usd"]),
                _pct(r["used_percent"]),
                _pct(r["forecast_percent"]),
                r["status"],
                r["computed_at"],
            )
            for r in rows
        ),
        units=BUDGET_UNITS,
    )
    charts = () if head["scope"] == "tag" else (_cumulative_chart(ctx, head),)
    return SectionContent(figures=figures, charts=charts, tables=(table,))


def _pct(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def _cumulative_chart(ctx: ReportContext, budget: dict[str, Any]) -> Chart:
    """Spend accumulated day by day, the budget, and a straight line to the forecast.

    The spend is the budget's scope read from the views (all services, or its service; a tag
    budget has no such line: the views keep no tag per day). The forecast line runs from the
    month to date at the day the budget was computed to the forecast on the month's last day.
    """
    spend = read_spend(ctx, budget["applies_to"] if budget["scope"] == "service" else None)
    daily = spend.per_day()
    days = ctx.period.days()
    shown = set(ctx.days())
    spent: list[float | None] = []
    running = 0.0
    for day in days:
        running += daily.get(day, 0.0)
        spent.append(round(running, 6) if day in shown else None)
    computed = min(max(budget["computed_at"].date(), days[0]), days[-1])
    at, actual, forecast = (
        days.index(computed),
        float(budget["actual_usd"]),
        float(budget["forecast_usd"]),
    )
    # Computed on the month's last day, the forecast is the line's only point.
    last, span = len(days) - 1, max(len(days) - 1 - at, 1)
    line: list[float | None] = [
        None if i < at else round(forecast - (forecast - actual) * (last - i) / span, 6)
        for i in range(len(days))
    ]
    return Chart(
        "budget.cumulative",
        f"Spent since the 1st vs budget {budget['budget']} ({budget['applies_to']})",
        "lines",
        tuple(days),
        (
            ("spent", tuple(spent)),
            ("budget", tuple(float(budget["budget_usd"]) for _ in days)),
            ("forecast", tuple(line)),
        ),
        "USD",
        BUDGET_COLORS,
        "usd",
    )


# --- cost of observing -----------------------------------------------------------------------
def observing_section(ctx: ReportContext) -> SectionContent:
    """What the collectors spent on paid observation APIs in the month, per job and API."""
    per_job = ctx.query(
        "observation_costs",
        """
        SELECT job_id, api, count(*) AS runs, sum(requests) AS requests, sum(calls) AS calls,
               sum(usd) AS usd
          FROM {view}
         WHERE started_at >= %(start)s AND started_at < %(end)s
         GROUP BY job_id, api
         ORDER BY usd DESC, job_id, api
        """,
    )
    if not per_job:
        return SectionContent(empty=f"No observation API was called in {ctx.period.label}.")
    figures = (
        Figure("observing.usd", "Observing cost", sum(float(r["usd"]) for r in per_job), "usd"),
        Figure(
            "observing.requests", "Requests billed", sum(int(r["requests"] or 0) for r in per_job)
        ),
        Figure("observing.runs", "Runs", sum(int(r["runs"]) for r in per_job)),
    )
    table = Table(
        "observing.per_job",
        "Cost of observing by job",
        ("job", "API", "runs", "requests", "calls", "cost"),
        tuple(
            (
                r["job_id"],
                r["api"],
                r["runs"],
                _int(r["requests"]),
                _int(r["calls"]),
                float(r["usd"]),
            )
            for r in per_job
        ),
        units={"cost": "usd"},
    )
    return SectionContent(figures=figures, tables=(table,))


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


# --- cost anomalies --------------------------------------------------------------------------
def anomalies_section(ctx: ReportContext) -> SectionContent:
    """The month's cost anomalies: what cost more than expected, by how much, and why.

    Services first (Cost Explorer's complete days), then resources (estimates); each with its
    top drivers — the resources that moved most, or the part the estimates do not model.
    """
    rows = ctx.query(
        "cost_anomalies",
        """
        SELECT id, day, scope, key, observed, expected, excess, score, drivers, acknowledged,
               acknowledged_by
          FROM {view}
         WHERE time >= %(start)s AND time < %(end)s
         ORDER BY day DESC, scope = 'service' DESC, excess DESC, key
        """,
    )
    if not rows:
        return SectionContent(empty=f"No cost anomaly in {ctx.period.label}.")
    figures = (
        Figure("anomalies.count", "Cost anomalies", len(rows)),
        Figure("anomalies.open", "Not acknowledged", sum(not r["acknowledged"] for r in rows)),
        Figure(
            "anomalies.excess",
            "Above expected",
            sum(float(r["excess"]) for r in rows if r["scope"] == "service"),
            "usd",
        ),
        Figure("anomalies.top", "Largest", f"{rows[0]['key']} on {rows[0]['day']}", "text"),
    )
    table = Table(
        "anomalies.list",
        "Cost anomalies this month (acknowledge: locxia observe anomalies ack ID)",
        (
            "id",
            "day",
            "scope",
            "what",
            "cost",
            "expected",
            "above",
            "score",
            "top drivers",
            "acknowledged by",
        ),
        tuple(
            (
                r["id"],
                r["day"],
                r["scope"],
                r["key"],
                float(r["observed"]),
                float(r["expected"]),
                float(r["excess"]),
                round(float(r["score"]), 1),
                _drivers(r["drivers"]),
                r["acknowledged_by"],
            )
            for r in rows
        ),
        units={"cost": "usd", "expected": "usd", "above": "usd"},
    )
    return SectionContent(figures=figures, tables=(table,))


def _drivers(drivers: list[dict[str, Any]]) -> str:
    """The top three drivers as ``key +1.23 USD`` joined by semicolons."""
    return "; ".join(f"{d['key']} {float(d['delta']):+.2f} USD" for d in drivers[:3])
