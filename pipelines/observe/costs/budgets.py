"""Budgets (``params.budgets``) and their month-end forecast (``costs.budget_status``).

**Forecast** (one definition, used by budgets and the report): only complete UTC days count,
so a run at 10:00 and one at 23:00 of the same day give the same forecast and the same
figures for every past hour:

* base = spend from the 1st through the end of the last complete UTC day (today 00:00);
* run rate = mean daily spend of the last 7 complete UTC days (fewer when data starts later;
  0 before one complete day of data), counting Cost Explorer's ``usage`` rows only — credits,
  refunds, tax and fees (``charge = 'adjustment'``, net-amortized basis) move the month to
  date but are not projected, so a credit landing on the 1st makes no spike;
* forecast = base + run rate × days left in the month counted from today 00:00 UTC;
* spent to date (``actual_usd``) = base + today's complete hours so far (estimates).

Spend = Cost Explorer's complete days (before ``costs.coverage``) + estimates for the hours
after. Status: ``over`` once spent exceeds the budget, ``warning`` when the forecast reaches
``alert_percent`` of it, else ``ok``.

**Scopes** — a Locxia budget adds Locxia Cost Explorer figures to Locxia estimates only:

* ``total``: CE rows of the Locxia tag value (``tag_key`` = ``LOCXIA_TAG_KEY``, ``tag_value``
  = ``LOCXIA_TAG_VALUE``, every service) + estimates of resources carrying that tag;
* ``service``: the same, restricted to one CE ``SERVICE`` name (e.g. ``Amazon Relational
  Database Service``) on both sides;
* ``tag``: CE rows of ``tag_key`` = ``tag_value`` (Cost Explorer is read grouped by every tag
  key a budget names) + estimates of resources carrying that tag.

Costs CE reports for the scope that estimates do not model (data transfer, NAT, snapshots…)
are in the CE days; the hours after coverage only carry what estimates model. Cost
Explorer's own forecast API is not used: moto does not implement it, and this one explains
itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from infra import notify
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


def _day(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class BudgetCalculator:
    """Computes spend for a budget's scope over a time range from both sources."""

    def __init__(self, conn: psycopg.Connection[Any], tag_key: str, tag_value: str) -> None:
        self.conn = conn
        self.tag_key = tag_key
        self.tag_value = tag_value
        self.coverage = covered_until(conn)

    def _ce(self, b: Budget, start: datetime, end: datetime, usage_only: bool) -> Decimal:
        """Cost Explorer days in ``[start, min(end, coverage))`` (``start`` is a midnight)."""
        if self.coverage is None or start >= min(end, self.coverage):
            return Decimal(0)
        stop = min(end, self.coverage)
        where, params = self._ce_scope(b)
        if usage_only:
            where = sql.SQL("{} AND charge = 'usage'").format(where)
        query = sql.SQL(
            "SELECT coalesce(sum(usd), 0) FROM costs.daily WHERE day >= %s AND day < %s AND {}"
        ).format(where)
        row = self.conn.execute(query, (start.date(), stop.date(), *params)).fetchone()
        return Decimal(row[0]) if row else Decimal(0)

    def _ce_scope(self, b: Budget) -> tuple[sql.Composable, tuple[Any, ...]]:
        if b.scope == "tag":
            return sql.SQL("tag_key = %s AND tag_value = %s"), (b.tag_key, b.tag_value)
        ours = sql.SQL("tag_key = %s AND tag_value = %s")
        if b.scope == "service":
            return sql.SQL("{} AND service = %s").format(ours), (
                self.tag_key,
                self.tag_value,
                b.service,
            )
        return ours, (self.tag_key, self.tag_value)

    def _estimates(self, b: Budget, start: datetime, end: datetime) -> Decimal:
        """Estimated hours in ``[max(start, coverage), end)``."""
        begin = max(start, self.coverage) if self.coverage else start
        if begin >= end:
            return Decimal(0)
        params: tuple[Any, ...]
        if b.scope == "tag":
            scope, params = sql.SQL("r.tags ->> %s = %s"), (b.tag_key, b.tag_value)
        elif b.scope == "service":
            scope = sql.SQL("r.tags ->> %s = %s AND e.service = %s")
            params = (self.tag_key, self.tag_value, b.service)
        else:
            scope, params = sql.SQL("r.tags ->> %s = %s"), (self.tag_key, self.tag_value)
        query = sql.SQL(
            "SELECT coalesce(sum(e.usd), 0) FROM costs.estimates e"
            " JOIN metrics.resources r ON r.id = e.resource_id"
            " WHERE e.hour >= %s AND e.hour < %s AND {}"
        ).format(scope)
        row = self.conn.execute(query, (begin, end, *params)).fetchone()
        return Decimal(row[0]) if row else Decimal(0)

    def spend(
        self, b: Budget, start: datetime, end: datetime, usage_only: bool = False
    ) -> tuple[Decimal, Decimal]:
        """(total, of which estimated) for ``[start, end)``; ``usage_only``: no adjustments."""
        estimated = self._estimates(b, start, end)
        return self._ce(b, start, end, usage_only) + estimated, estimated

    def data_start(self) -> datetime | None:
        """The earliest moment either source has data for."""
        row = self.conn.execute(
            "SELECT least((SELECT min(day)::timestamp AT TIME ZONE 'UTC' FROM costs.daily),"
            " (SELECT min(hour) FROM costs.estimates))"
        ).fetchone()
        return row[0] if row else None


@dataclass(frozen=True)
class Forecast:
    """One budget's month: spent to date, of which estimated, run rate, forecast."""

    actual: Decimal
    estimated: Decimal
    rate: Decimal
    forecast: Decimal


def forecast(calc: BudgetCalculator, b: Budget, now: datetime) -> Forecast:
    """The month-end forecast of ``b`` at ``now`` (definition: the module's docstring)."""
    month_start, month_end = _month_bounds(now.astimezone(UTC))
    today = _day(now)
    base, base_estimated = calc.spend(b, month_start, today)
    hours, hours_estimated = calc.spend(b, today, _hour(now))
    first = calc.data_start()
    rate_from = max(today - timedelta(days=RUN_RATE_DAYS), _day(first)) if first else today
    rate_days = (today - rate_from).days
    rate = Decimal(0)
    if rate_days >= 1:
        recent, _ = calc.spend(b, rate_from, today, usage_only=True)
        rate = recent / rate_days
    days_left = (month_end - today).days
    return Forecast(base + hours, base_estimated + hours_estimated, rate, base + rate * days_left)


def compute_status(
    conn: psycopg.Connection[Any], tag_key: str, tag_value: str, now: datetime
) -> list[dict[str, Any]]:
    """Recompute ``costs.budget_status`` for the current month; return the rows written."""
    calc = BudgetCalculator(conn, tag_key, tag_value)
    month_start, _ = _month_bounds(now.astimezone(UTC))
    out: list[dict[str, Any]] = []
    with conn.transaction():
        for b in load_budgets(conn):
            f = forecast(calc, b, now)
            if f.actual > b.monthly_usd:
                status = "over"
            elif f.forecast >= b.monthly_usd * b.alert_percent / 100:
                status = "warning"
            else:
                status = "ok"
            row = {
                "budget": b.name,
                "month": month_start.date(),
                "budget_usd": b.monthly_usd,
                "actual_usd": f.actual.quantize(Decimal("0.000001")),
                "estimated_usd": f.estimated.quantize(Decimal("0.000001")),
                "forecast_usd": f.forecast.quantize(Decimal("0.000001")),
                "run_rate_usd": f.rate.quantize(Decimal("0.000001")),
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
            _notify_forecast(conn, b, f, month_start, now)
            out.append(row)
    return out


def _notify_forecast(
    conn: psycopg.Connection[Any], b: Budget, f: Forecast, month: datetime, now: datetime
) -> None:
    """``budget_forecast`` once per budget and month while the forecast passes the amount.

    Resolved when the forecast falls back under it, so a later crossing notifies again.
    """
    key = f"{b.name}:{month:%Y-%m}"
    if f.forecast <= b.monthly_usd:
        notify.resolve(conn, "budget_forecast", key, now)
        return
    notify.emit(
        conn,
        "budget_forecast",
        key,
        f"Budget {b.name}: month-end forecast {f.forecast:.2f} USD over {b.monthly_usd} USD",
        f"Spent {f.actual:.2f} USD so far in {month:%Y-%m}; at {f.rate:.2f} USD a day the"
        f" month ends at {f.forecast:.2f} USD, over the budget of {b.monthly_usd} USD.",
        {
            "budget": b.name,
            "month": f"{month:%Y-%m}",
            "budget_usd": str(b.monthly_usd),
            "actual_usd": str(f.actual.quantize(Decimal("0.01"))),
            "forecast_usd": str(f.forecast.quantize(Decimal("0.01"))),
        },
        now,
    )
