"""The report's cost and resource sections on a seeded week equal the database's views.

The week comes from the project's own code paths (tests/support/week.py: reconciles through
the stand-in Terraform module, collectors and costs jobs against the moto server). Every
figure, table cell and chart value is recomputed here from the raw ``reporting`` views, with
this file's own arithmetic, and compared with the HTML's ``data-*`` values.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from psycopg.rows import dict_row

from dashboards.report import make_report
from dashboards.report.browser import render
from dashboards.report.model import Period
from infra.db import connect
from tests.support import aws, pg
from tests.support.report_html import Parsed, parse
from tests.support.week import INSTANCES, Week, seed_week, week_settings

pytestmark = pytest.mark.slow
TODAY = datetime.now(UTC).date()
PERIOD = Period.containing(TODAY)
START, END = PERIOD.bounds()
DAYS = PERIOD.days(until=TODAY + timedelta(days=1))
VIEWS = (
    "daily_costs",
    "resource_costs",
    "budgets",
    "recommendations",
    "observation_costs",
    "instance_metrics",
)
MY_SECTIONS = ["costs", "budget", "anomalies", "top_resources", "recommendations", "observing",
               "resource_metrics"]  # fmt: skip
#: The seeded week has no cost anomaly (tests/integration/observe/test_anomalies.py seeds them).
QUIET = {"anomalies"}


@dataclass(frozen=True)
class Built:
    url: str
    parsed: Parsed
    raw: dict[str, list[dict[str, Any]]]
    html: Path
    pngs: list[Path]
    seconds: float
    week: Week


@pytest.fixture(scope="module")
def built(
    admin_url: str, template_url: str, moto_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    """A seeded week in its own database, its report, and the raw views read independently."""
    url = pg.create_db(admin_url, "locxia_rw", template=urlsplit(template_url).path[1:])
    aws.reset(moto_server)
    tmp = tmp_path_factory.mktemp("report_week")
    try:
        with week_settings(url, moto_server, Path(tmp)) as settings:
            week = seed_week(settings)
        began = time.perf_counter()
        written = make_report(url, tmp / "report.html", png_dir=tmp / "png", today=TODAY)
        seconds = time.perf_counter() - began
        with connect(url, row_factory=dict_row) as conn:
            raw = {v: conn.execute(f"SELECT * FROM reporting.{v}").fetchall() for v in VIEWS}
        parsed = parse(written.html.read_text())
        yield Built(url, parsed, raw, written.html, written.pngs, seconds, week)
    finally:
        pg.drop_db(admin_url, url)


def _in_month(ts: datetime | None) -> bool:
    return ts is not None and START <= ts < END


def _column(parsed: Parsed, table: str, name: str) -> list[str]:
    index = parsed.headers[table].index(name)
    return [row[index] for row in parsed.tables[table]]


def _close(text: str, value: Decimal | float | None, abs_: float = 1e-6) -> bool:
    if value is None:
        return text == ""
    return float(text) == pytest.approx(float(value), abs=abs_)


def _daily_spend(raw: dict[str, list[dict[str, Any]]]) -> dict[tuple[date, str], Decimal]:
    """Cost Explorer's days, and the hours it has not reported yet as '<service> (estimated)'."""
    cells: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for row in raw["daily_costs"]:
        if _in_month(row["time"]):
            cells[row["day"], row["service"]] += row["usd"]
    for row in raw["resource_costs"]:
        if row["uncovered"] and _in_month(row["time"]):
            cells[row["time"].astimezone(UTC).date(), f"{row['service']} (estimated)"] += row["usd"]
    return cells


# --- the whole ---------------------------------------------------------------------------------
def test_cost_and_resource_sections_come_first(built: Built) -> None:
    assert built.parsed.sections[: len(MY_SECTIONS)] == MY_SECTIONS
    assert not (set(MY_SECTIONS) - QUIET) & built.parsed.empty  # the week fills the others


def test_the_report_renders_offline_without_console_errors(built: Built) -> None:
    rendered = render(built.html, screenshot=False)
    assert rendered.errors == []
    size = built.html.stat().st_size
    print(f"report of the seeded week: {size} bytes, built in {built.seconds:.2f} s")
    assert size < 1_500_000, f"{size} bytes: sparklines should stay small"


def test_every_chart_is_inline_svg_and_png(built: Built) -> None:
    html = built.html.read_text()
    assert html.count("<svg") == len(built.parsed.charts)
    names = sorted(p.name for p in built.pngs)
    assert names == sorted(f"{c.replace('.', '-')}.png" for c in built.parsed.charts)
    for png in built.pngs:
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


# --- cost per service per day ------------------------------------------------------------------
def test_cost_per_day_equals_the_views(built: Built) -> None:
    parsed, cells = built.parsed, _daily_spend(built.raw)
    estimated = sum(v for (_, s), v in cells.items() if s.endswith(" (estimated)"))
    assert estimated > 0  # Cost Explorer lags: the last hours come from estimates
    assert _close(parsed.figures["costs.total"], sum(cells.values()))
    assert _close(parsed.figures["costs.estimated"], estimated)
    services = {s.removesuffix(" (estimated)") for _, s in cells}
    assert int(parsed.figures["costs.services"]) == len(services)
    headers = parsed.headers["chart:costs.per_day"]
    assert headers[0] == "day" and set(headers[1:]) == {s for _, s in cells}
    rows = parsed.tables["chart:costs.per_day"]
    assert [date.fromisoformat(r[0]) for r in rows] == DAYS
    for row in rows:
        day = date.fromisoformat(row[0])
        for series, text in zip(headers[1:], row[1:], strict=True):
            assert _close(text, cells.get((day, series))), (day, series)


def test_cost_per_service_equals_the_views(built: Built) -> None:
    parsed, cells = built.parsed, _daily_spend(built.raw)
    per_service: dict[str, Decimal] = defaultdict(Decimal)
    for (_, series), usd in cells.items():
        per_service[series.removesuffix(" (estimated)")] += usd
    ranked = sorted(per_service, key=lambda s: (-per_service[s], s))
    assert _column(parsed, "costs.per_service", "service") == ranked
    for service, text in zip(ranked, _column(parsed, "costs.per_service", "cost"), strict=True):
        assert _close(text, per_service[service])
    assert parsed.figures["costs.top_service"] == ranked[0] == "Amazon Relational Database Service"
    shares = [float(s) for s in _column(parsed, "costs.per_service", "share")]
    assert sum(shares) == pytest.approx(100, abs=0.5)


# --- month to date vs budget -------------------------------------------------------------------
def _budgets(built: Built) -> list[dict[str, Any]]:
    rows = [b for b in built.raw["budgets"] if b["month"] == PERIOD.start]
    return sorted(rows, key=lambda b: (b["scope"] != "total", -b["forecast_percent"], b["budget"]))


def test_budget_figures_equal_the_view(built: Built) -> None:
    parsed = built.parsed
    budgets = _budgets(built)
    assert {b["budget"] for b in budgets} == {"platform", "databases"}
    head = budgets[0]
    assert head["budget"] == "platform"  # the account's budget is the headline
    assert parsed.figures["budget.name"] == "platform (all services)"
    assert _close(parsed.figures["budget.spent"], head["actual_usd"])
    assert _close(parsed.figures["budget.budget"], head["budget_usd"])
    assert _close(parsed.figures["budget.forecast"], head["forecast_usd"])
    assert _close(parsed.figures["budget.used_percent"], round(head["used_percent"], 1))
    assert _close(parsed.figures["budget.forecast_percent"], round(head["forecast_percent"], 1))
    assert int(parsed.figures["budget.alerts"]) == sum(b["status"] != "ok" for b in budgets)
    assert _column(parsed, "budget.list", "budget") == [b["budget"] for b in budgets]
    for column, field in (("spent", "actual_usd"), ("forecast", "forecast_usd"),
                          ("per day", "run_rate_usd"), ("amount", "budget_usd")):  # fmt: skip
        assert all(
            _close(text, b[field])
            for text, b in zip(_column(parsed, "budget.list", column), budgets, strict=True)
        ), column


def test_cumulative_line_equals_the_views(built: Built) -> None:
    parsed, head = built.parsed, _budgets(built)[0]
    per_day: dict[date, Decimal] = defaultdict(Decimal)
    for (day, _), usd in _daily_spend(built.raw).items():
        per_day[day] += usd
    rows = parsed.tables["chart:budget.cumulative"]
    assert parsed.headers["chart:budget.cumulative"] == ["day", "spent", "budget", "forecast"]
    assert [date.fromisoformat(r[0]) for r in rows] == PERIOD.days()  # the whole month
    running = Decimal(0)
    for row in rows:
        day = date.fromisoformat(row[0])
        running += per_day.get(day, Decimal(0))
        assert _close(row[1], running if day <= TODAY else None), day
        assert _close(row[2], head["budget_usd"])
    forecast = [r[3] for r in rows if r[3] != ""]
    assert _close(forecast[-1], head["forecast_usd"])
    if len(forecast) > 1:  # from the month to date on the day it was computed
        assert _close(forecast[0], head["actual_usd"])
    # Two paths to the month to date agree: the budget job's sum and the views' days.
    spent_now = [r[1] for r in rows if r[1] != ""][-1]
    assert _close(spent_now, head["actual_usd"], abs_=0.01)


# --- top resources -----------------------------------------------------------------------------
def test_top_resources_equal_the_view(built: Built) -> None:
    parsed = built.parsed
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in built.raw["resource_costs"]:
        if _in_month(row["time"]):
            groups[row["resource"], row["resource_id"]].append(row)
    totals = {key: sum(r["usd"] for r in rows) for key, rows in groups.items()}
    assert _close(parsed.figures["top_resources.usd"], sum(totals.values()))
    assert int(parsed.figures["top_resources.resources"]) == len(groups)
    ranked = sorted(totals, key=lambda k: (-totals[k], k))[:10]
    table = "top_resources.list"
    assert _column(parsed, table, "resource") == [name for name, _ in ranked]
    assert {"work-db", "batch-db", "ingest-vm"} <= set(_column(parsed, table, "resource"))
    for key, cost, hours, rate in zip(ranked, _column(parsed, table, "cost"),
                                      _column(parsed, table, "hours"),
                                      _column(parsed, table, "monthly rate now"),
                                      strict=True):  # fmt: skip
        latest = max(groups[key], key=lambda r: r["time"])
        assert _close(cost, totals[key]) and int(hours) == len(groups[key])
        assert _close(rate, round(latest["usd"] * 730, 2))
    # which hours are actual (AWS Data Exports) and which estimated, per resource and in all
    actual = [sum(r["source"] == "actual" for r in groups[key]) for key in ranked]
    assert [int(h) for h in _column(parsed, table, "actual hours")] == actual
    in_month = [r for rows in groups.values() for r in rows if r["source"] == "actual"]
    assert _close(parsed.figures["top_resources.actual_usd"], sum(r["usd"] for r in in_month))


# --- recommendations ---------------------------------------------------------------------------
def test_recommendations_equal_the_view(built: Built) -> None:
    parsed = built.parsed
    rows = [
        r
        for r in built.raw["recommendations"]
        if r["first_seen"] < END and (r["resolved_at"] is None or r["resolved_at"] >= START)
    ]
    still_open = [r for r in rows if r["open"]]
    assert {r["resource"] for r in still_open} == {"batch-db", "ingest-vm"}  # idle, near-idle
    assert _close(parsed.figures["recommendations.saving"],
                  sum(r["monthly_saving_usd"] for r in still_open))  # fmt: skip
    assert int(parsed.figures["recommendations.open"]) == len(still_open)
    ranked = sorted(rows, key=lambda r: (not r["open"], -r["monthly_saving_usd"], r["resource"]))
    table = "recommendations.list"
    assert _column(parsed, table, "resource") == [r["resource"] for r in ranked]
    assert all(
        _close(text, r["monthly_saving_usd"])
        for text, r in zip(_column(parsed, table, "monthly saving"), ranked, strict=True)
    )


# --- cost of observing -------------------------------------------------------------------------
def test_cost_of_observing_equals_the_view(built: Built) -> None:
    parsed = built.parsed
    runs = [r for r in built.raw["observation_costs"] if _in_month(r["started_at"])]
    assert {r["api"] for r in runs} == {"CloudWatch GetMetricData", "Cost Explorer"}
    assert _close(parsed.figures["observing.usd"], sum(r["usd"] for r in runs))
    assert int(parsed.figures["observing.requests"]) == sum(r["requests"] or 0 for r in runs)
    assert int(parsed.figures["observing.runs"]) == len(runs)
    table = "observing.per_job"
    jobs = list(zip(_column(parsed, table, "job"), _column(parsed, table, "API"), strict=True))
    assert sorted(jobs) == sorted({(r["job_id"], r["api"]) for r in runs})
    for (job, api), text in zip(jobs, _column(parsed, table, "requests"), strict=True):
        mine = [r for r in runs if (r["job_id"], r["api"]) == (job, api)]
        assert int(text) == sum(r["requests"] or 0 for r in mine)


# --- resource metrics --------------------------------------------------------------------------
def test_one_cpu_sparkline_per_instance_equal_to_the_view(built: Built) -> None:
    parsed = built.parsed
    points: dict[str, dict[date, dict[str, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for row in built.raw["instance_metrics"]:
        if row["measure"] == "cpu" and _in_month(row["time"]):
            points[row["resource"]][row["time"].astimezone(UTC).date()][row["stat"]].append(
                row["value"]
            )
    assert set(points) == set(INSTANCES)
    assert int(parsed.figures["resource_metrics.instances"]) == len(points)
    assert int(parsed.figures["resource_metrics.rds"]) == 2
    sparklines = [c for c in parsed.charts if c.startswith("resource_metrics.cpu.")]
    assert sorted(sparklines) == sorted(
        f"resource_metrics.cpu.{n.replace('-', '_')}" for n in INSTANCES
    )
    for name, days in points.items():
        chart = f"chart:resource_metrics.cpu.{name.replace('-', '_')}"
        assert parsed.headers[chart] == ["day", "average", "peak"]
        for row in parsed.tables[chart]:
            day = date.fromisoformat(row[0])
            stats = days.get(day)
            average = sum(stats["Average"]) / len(stats["Average"]) if stats else None
            peak = max(stats["Maximum"]) if stats else None
            assert _close(row[1], average, 1e-3) and _close(row[2], peak, 1e-3), (name, day)
    table = "resource_metrics.cpu"
    for name, text in zip(_column(parsed, table, "instance"), _column(parsed, table, "average"),
                          strict=True):  # fmt: skip
        values = [v for stats in points[name].values() for v in stats["Average"]]
        assert _close(text, sum(values) / len(values), 1e-3)
    ids = {r["resource"]: r["resource_id"] for r in built.raw["instance_metrics"]}
    assert _column(parsed, table, "id") == [ids[n] for n in _column(parsed, table, "instance")]
    batch = _column(parsed, table, "instance").index("batch-db")
    idle = [v for t, v in built.week.points("batch-db", "CPUUtilization") if _in_month(t)]
    assert float(_column(parsed, table, "peak")[batch]) == pytest.approx(max(idle))  # idle week


# --- a month without data ----------------------------------------------------------------------
def test_a_month_without_data_says_so(built: Built, tmp_path: Path) -> None:
    old = make_report(
        built.url, tmp_path / "old.html", period=Period(date(2025, 1, 1)), today=TODAY
    )
    parsed = parse(old.html.read_text())
    assert set(MY_SECTIONS) <= parsed.empty
    assert not [c for c in parsed.charts if c.split(".")[0] in MY_SECTIONS]
    assert not [f for f in parsed.figures if f.split(".")[0] in MY_SECTIONS]
    assert "January 2025" in old.html.read_text()
