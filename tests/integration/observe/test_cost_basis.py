"""Cost Explorer read on an explicit basis, the partial newest day, tag activation, backfill.

Cost Explorer is the gap server's stand-in (:mod:`infra.demo.gaps.ce`), seeded with line
items of several record types; no resource is discovered, so every figure is Cost Explorer's.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from dashboards.report.costs import daily_costs_section
from dashboards.report.model import Period, ReportContext
from infra.db import connect
from infra.demo.gaps import ce
from infra.jobs import Registry
from infra.jobs.model import RunResult
from infra.jobs.runner import Runner
from infra.settings import Settings
from tests.conftest import locxia_bin

RDS = "Amazon Relational Database Service"
LOCXIA = {"project": "locxia"}
ACTIVE = [{"TagKey": "project", "Status": "Active", "Type": "UserDefined"}]


def _usage(first: date, last: date, usd: str = "10", tags: dict[str, str] = LOCXIA) -> list[Any]:
    return [
        {"day": (first + timedelta(days=i)).isoformat(), "service": RDS, "record_type": "Usage",
         "tags": tags, "unblended": usd}
        for i in range((last - first).days + 1)
    ]  # fmt: skip


def _one_offs(day: date) -> list[Any]:
    """A credit attributed to the Locxia tag and an untagged tax line, on ``day``."""
    return [
        {"day": day.isoformat(), "service": RDS, "record_type": "Credit", "tags": LOCXIA,
         "unblended": "-50", "net_amortized": "-50"},
        {"day": day.isoformat(), "service": "Tax", "record_type": "Tax", "tags": {},
         "unblended": "30"},
    ]  # fmt: skip


def _run(settings: Settings, now: datetime, task: str = "costs.explorer") -> RunResult:
    runner = Runner(settings, Registry.from_entry_points(), now=lambda: now)
    try:
        result = runner.run(task)
    finally:
        runner.close()
    assert result.status == "success", result.error
    return result


def _budgets(url: str, *rows: tuple[str, str, str | None]) -> None:
    with connect(url) as conn:
        for name, scope, service in rows:
            conn.execute(
                "INSERT INTO params.budgets (name, scope, service, monthly_usd)"
                " VALUES (%s, %s, %s, 1000)",
                (name, scope, service),
            )
        conn.commit()


def _status(url: str) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT budget, actual_usd, run_rate_usd, forecast_usd FROM costs.budget_status"
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


@pytest.mark.parametrize("basis", ["usage", "net-amortized"])
def test_credit_and_tax_excluded_in_usage_netted_in_net_amortized(
    aws_settings: Settings, moto_endpoint: str, db_url: str, basis: str
) -> None:
    now = datetime(2026, 12, 3, 10, tzinfo=UTC)
    lines = _usage(date(2026, 11, 20), date(2026, 12, 2)) + _one_offs(date(2026, 12, 1))
    ce.seed(moto_endpoint, lines, ACTIVE, estimated_from="2026-12-02", now=now)
    _budgets(db_url, ("all", "total", None))
    settings = aws_settings.model_copy(update={"cost_basis": basis})
    result = _run(settings, now)
    assert result.details["basis"] == basis
    with connect(db_url) as conn:
        per_charge = dict(
            conn.execute(
                "SELECT charge, sum(usd) FROM costs.daily WHERE day = '2026-12-01'"
                " AND basis = %s GROUP BY 1",
                (basis,),
            ).fetchall()
        )
    spent, rate, forecast = _status(db_url)["all"]
    if basis == "usage":
        assert per_charge == {"usage": Decimal(10)}  # RECORD_TYPE Usage only
        assert spent == Decimal(10)  # Dec 1 (Dec 2, the newest day, is partial)
    else:
        assert per_charge == {"usage": Decimal(10), "adjustment": Decimal(-20)}  # -50 + 30
        assert spent == Decimal(10) - 50  # the untagged tax is not Locxia's: total scope
    # The 7 complete days before Dec 3: Nov 26-Dec 1 from CE (usage only), Dec 2 uncovered and
    # nothing estimated: the credit on the 1st makes no spike on either basis.
    assert rate == (Decimal(60) / 7).quantize(Decimal("0.000001"))
    assert forecast == pytest.approx(spent + Decimal(60) / 7 * 29, abs=Decimal("0.00001"))


def test_newest_day_is_partial_and_a_later_hour_changes_no_forecast(
    aws_settings: Settings, moto_endpoint: str, db_url: str
) -> None:
    morning = datetime(2026, 11, 20, 10, tzinfo=UTC)
    # CE has Nov 1-19 (the 19th still filling) plus a line of another project
    lines = _usage(date(2026, 11, 1), date(2026, 11, 19)) + _usage(
        date(2026, 11, 1), date(2026, 11, 19), "5", {"project": "other"}
    )
    ce.seed(moto_endpoint, lines, ACTIVE, estimated_from="2026-11-18", now=morning)
    _budgets(db_url, ("all", "total", None), ("rds", "service", RDS))
    result = _run(aws_settings, morning)
    assert result.details["newest_day"] == "2026-11-19"
    with connect(db_url) as conn:
        (covered_until,) = conn.execute("SELECT covered_until FROM costs.coverage").fetchone()
        flags = dict(
            conn.execute(
                "SELECT day, covered FROM reporting.daily_costs WHERE day >= '2026-11-17'"
            ).fetchall()
        )
    assert covered_until == datetime(2026, 11, 19, tzinfo=UTC)
    # the 18th is flagged Estimated but complete; the 19th, the newest, is not covered
    assert flags == {date(2026, 11, 17): True, date(2026, 11, 18): True, date(2026, 11, 19): False}
    first = _status(db_url)
    # Locxia's 10/day only (not the other project's 5), Nov 6-18 read (14 days back), the 19th
    # partial: 13 complete days
    assert first["all"][0] == first["rds"][0] == Decimal(130)
    evening = morning.replace(hour=23)
    _run(aws_settings, evening, "costs.estimate")
    assert _status(db_url) == first  # same day, same figures


def test_inactive_tag_is_a_recorded_warning_not_a_silent_zero(
    aws_settings: Settings, moto_endpoint: str, db_url: str
) -> None:
    now = datetime(2026, 11, 20, 10, tzinfo=UTC)
    inactive = [{"TagKey": "project", "Status": "Inactive", "Type": "UserDefined"}]
    ce.seed(moto_endpoint, _usage(date(2026, 11, 1), date(2026, 11, 19)), inactive, now=now)
    result = _run(aws_settings, now)
    (warning,) = result.details["tag_warnings"]
    assert "'project'" in warning and "Inactive" in warning and "--backfill" in warning
    with connect(db_url) as conn:
        shown = conn.execute(
            "SELECT tag_key, status, inactive, warning FROM reporting.cost_tag_activation"
        ).fetchall()
        untagged = conn.execute(
            "SELECT DISTINCT tag_value FROM costs.daily WHERE tag_key = 'project'"
        ).fetchall()
    assert [(k, s, i) for k, s, i, _ in shown] == [("project", "Inactive", True)]
    assert shown[0][3] is not None and "untagged" in shown[0][3]
    assert untagged == [("",)]  # what AWS does: every group is project$
    with connect(db_url) as conn:
        section = daily_costs_section(
            ReportContext(conn, Period.containing(now.date()), now.date())
        )
    figures = {f.key: f.value for f in section.figures}
    assert figures["costs.inactive_tags"] == 1 and figures["costs.basis"] == "usage"
    (table,) = [t for t in section.tables if t.key == "costs.tag_warnings"]
    assert [row[:2] for row in table.rows] == [("project", "Inactive")]


@pytest.mark.slow
def test_backfill_requested_once_then_refused_with_one_line(
    moto_endpoint: str, cli_env: dict[str, str]
) -> None:
    ce.seed(moto_endpoint, [], ACTIVE)
    env = {**cli_env, "LOCXIA_AWS_ENDPOINT_URL": moto_endpoint}
    first = subprocess.run(
        [locxia_bin(), "observe", "costs", "--backfill"], env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    today = datetime.now(UTC).date()
    since = date(today.year - 1, today.month, 1)
    assert f"requested from {since.isoformat()}T00:00:00Z" in first.stdout
    client = boto3.client("ce", endpoint_url=moto_endpoint, region_name="us-east-1")
    history = client.list_cost_allocation_tag_backfill_history()["BackfillRequests"]
    assert [h["BackfillFrom"] for h in history] == [f"{since.isoformat()}T00:00:00Z"]

    again = subprocess.run(
        [locxia_bin(), "observe", "costs", "--backfill"], env=env, capture_output=True, text=True
    )
    assert again.returncode == 1
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and "less than 24 hours ago" in lines[0], again.stderr
    assert "Traceback" not in again.stderr
    assert len(client.list_cost_allocation_tag_backfill_history()["BackfillRequests"]) == 1
