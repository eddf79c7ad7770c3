"""Budgets (``params.budgets``) and their month-end forecast (``costs.budget_status``).

Spent this month = Cost Explorer's complete days of the month + estimates for the hours CE
has not covered yet. Run rate = spend over the last 7 days (same sources) per day of data.
Forecast = spent + run rate × days left in the month. Status: ``over`` once spent exceeds the
budget, ``warning`` when the forecast reaches ``alert_percent`` of it, else ``ok``.

Scope: ``total`` (every service, the Locxia tag grouping), ``service`` (Cost Explorer's
SERVICE name, e.g. ``Amazon Relational Database Service``) or ``tag`` (``tag_key`` =
``tag_value``; Cost Explorer is read grouped by every tag key a budget names). Cost Explorer's
own forecast API is not used: moto does not implement it, and this one explains itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from pipelines.observe.costs.estimates import covered_until

RUN_RATE_DAYS = 7


@dataclass(frozen=True)
class Budget:
    """A validated ``params.budgets`` row."""

    name: str
    scope: str
    service: str | None
    tag_key: str | None
    tag_value: str | None
    monthly_usd: Decimal
    alert_percent: int


def load_budgets(conn: psycopg.Connection[Any]) -> list[Budget]:
    """Enabled budgets, by name (the table's CHECKs already validated the scope columns)."""
    rows = conn.execute(
        "SELECT name, scope, service, tag_key, tag_value, monthly_usd, alert_percent"
        " FROM params.budgets WHERE enabled ORDER BY name"
    ).fetchall()
    return [Budget(*row) for row in rows]


def budget_tag_keys(conn: psycopg.Connection[Any]) -> list[str]:
    """Tag keys named by enabled tag budgets (Cost Explorer must be grouped by each)."""
    rows = conn.execute(
        "SELECT DISTINCT tag_key FROM params.budgets WHERE enabled AND scope = 'tag' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def _month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    nxt = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    return start, nxt


class BudgetCalculator:
    """Computes spend for a budget's scope over a time range from both sources."""

    def __init__(self, conn: psycopg.Connection[Any], main_tag_key: str) -> None:
        self.conn = conn
        self.main_tag_key = main_tag_key
        self.coverage = covered_until(conn)

    def _ce(self, b: Budget, start: datetime, end: datetime) -> Decimal:
        """Cost Explorer days in ``[start, min(end, coverage))`` (``start`` is a midnight)."""
        if self.coverage is None:
            return Decimal(0)
        stop = min(end, self.coverage)
        where, params = self._ce_scope(b)
        query = sql.SQL(
            "SELECT coalesce(sum(usd), 0) FROM costs.daily WHERE day >= %s AND day < %s AND {}"
        ).format(where)
        row = self.conn.execute(query, (start.date(), stop.date(), *params)).fetchone()
        return Decimal(row[0]) if row else Decimal(0)

    def _ce_scope(self, b: Budget) -> tuple[sql.Composable, tuple[Any, ...]]:
        if b.scope == "tag":
            return sql.SQL("tag_key = %s AND tag_value = %s"), (b.tag_key, b.tag_value)
        if b.scope == "service":
            return sql.SQL("tag_key = %s AND service = %s"), (self.main_tag_key, b.service)
        return sql.SQL("tag_key = %s"), (self.main_tag_key,)

    def _estimates(self, b: Budget, start: datetime, end: datetime) -> Decimal:
        """Estimated hours in ``[max(start, coverage), end)``."""
        begin = max(start, self.coverage) if self.coverage else start
        params: tuple[Any, ...]
        if b.scope == "tag":
            scope, params = sql.SQL("r.tags ->> %s = %s"), (b.tag_key, b.tag_value)
        elif b.scope == "service":
            scope, params = sql.SQL("e.service = %s"), (b.service,)
        else:
            scope, params = sql.SQL("true"), ()
        query = sql.SQL(
            "SELECT coalesce(sum(e.usd), 0) FROM costs.estimates e"
            " JOIN metrics.resources r ON r.id = e.resource_id"
            " WHERE e.hour >= %s AND e.hour < %s AND {}"
        ).format(scope)
        row = self.conn.execute(query, (begin, end, *params)).fetchone()
        return Decimal(row[0]) if row else Decimal(0)

    def spend(self, b: Budget, start: datetime, end: datetime) -> tuple[Decimal, Decimal]:
        """(total, of which estimated) for ``[start, end)``."""
        estimated = self._estimates(b, start, end)
        return self._ce(b, start, end) + estimated, estimated

    def data_start(self) -> datetime | None:
        """The earliest moment either source has data for."""
        row = self.conn.execute(
            "SELECT least((SELECT min(day)::timestamp AT TIME ZONE 'UTC' FROM costs.daily),"
            " (SELECT min(hour) FROM costs.estimates))"
        ).fetchone()
        return row[0] if row else None


def compute_status(
    conn: psycopg.Connection[Any], main_tag_key: str, now: datetime
) -> list[dict[str, Any]]:
    """Recompute ``costs.budget_status`` for the current month; return the rows written."""
    calc = BudgetCalculator(conn, main_tag_key)
    month_start, month_end = _month_bounds(now)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    rate_start = today - timedelta(days=RUN_RATE_DAYS)  # whole days, so CE days fit
    first = calc.data_start()
    rate_days = (now - max(rate_start, first)).total_seconds() / 86400 if first else 0.0
    days_left = Decimal(str((month_end - now).total_seconds() / 86400))
    out: list[dict[str, Any]] = []
    with conn.transaction():
        for b in load_budgets(conn):
            actual, estimated = calc.spend(b, month_start, now)
            recent, _ = calc.spend(b, rate_start, now)
            rate = recent / Decimal(str(rate_days)) if rate_days > 1 / 24 else Decimal(0)
            forecast = actual + rate * days_left
            if actual > b.monthly_usd:
                status = "over"
            elif forecast >= b.monthly_usd * b.alert_percent / 100:
                status = "warning"
            else:
                status = "ok"
            row = {
                "budget": b.name,
                "month": month_start.date(),
                "budget_usd": b.monthly_usd,
                "actual_usd": actual.quantize(Decimal("0.000001")),
                "estimated_usd": estimated.quantize(Decimal("0.000001")),
                "forecast_usd": forecast.quantize(Decimal("0.000001")),
                "run_rate_usd": rate.quantize(Decimal("0.000001")),
                "status": status,
            }
            conn.execute(
                "INSERT INTO costs.budget_status (budget, month, budget_usd, actual_usd,"
                " estimated_usd, forecast_usd, run_rate_usd, status) VALUES (%(budget)s,"
                " %(month)s, %(budget_usd)s, %(actual_usd)s, %(estimated_usd)s,"
                " %(forecast_usd)s, %(run_rate_usd)s, %(status)s)"
                " ON CONFLICT (budget, month) DO UPDATE SET budget_usd = EXCLUDED.budget_usd,"
                " actual_usd = EXCLUDED.actual_usd, estimated_usd = EXCLUDED.estimated_usd,"
                " forecast_usd = EXCLUDED.forecast_usd, run_rate_usd = EXCLUDED.run_rate_usd,"
                " status = EXCLUDED.status, computed_at = clock_timestamp()",
                row,
            )
            out.append(row)
    return out
