"""A budget for observing itself: a monthly cap on Locxia's own AWS API spend.

Every run that calls a paid API records what it cost in ``ops.runs.details ->>
'estimated_cost_usd'`` (GetMetricData: metrics requested × 0.01 USD / 1,000; Cost Explorer:
0.01 USD per request). :func:`assess` (the ``metrics.cap`` job, hourly) forecasts that spend
to the end of the month and decides the **cadence step** collection runs at, recorded in
``costs.monitoring_status`` and read by :func:`~.policies.load_policies` — the one place a
step applies, for the planner's job intervals and the collector's "due" test alike.

**Forecast** (the budgets' definition, :mod:`pipelines.observe.costs.budgets`): only complete
UTC days count, so every assessment of one day decides the same step and cadences change at
most once a day:

* spent = API spend of runs started from the 1st to today 00:00 UTC;
* rates = mean daily spend over the last 7 complete days (fewer when runs start later), split
  into *fixed* spend (Cost Explorer and every run that is not a collection: it does not step)
  and *collection* spend at full cadence, measured on the last 7 complete days spent wholly
  at level 0 (looked for up to 62 days back; none: the policies' own idle-cadence price);
* forecast at level L = spent + (fixed + collection(L)) × days left counted from today 00:00,
  where collection(0) is the measured rate and collection(n) = min(measured, the policies'
  price at idle cadence for the resources they win now) / n.

**Step**: the smallest level among :data:`LEVELS` (up to the row's ``max_multiplier``) whose
forecast stays within ``target_percent`` of the cap — so cadences step down before the cap is
reached, and step back up (within the month, or on the 1st when the new month's forecast
allows) as soon as a lower level fits. No cap row (or a disabled one): level 0.

A step down emits a ``monitoring_cap`` notification (key: the month); a return to full
cadence resolves it. The status row, the history row and the notification are written in one
transaction with a ``locxia_params`` NOTIFY, so the leader re-plans the jobs within a second.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict

import psycopg

from infra import notify
from pipelines.observe.metrics.policies import (
    assign,
    load_policies,
    load_resources,
    step_in_force,
)

#: Cadence steps: 0 = as configured; n >= 1 = idle cadence (no busy cadence) × n.
LEVELS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 48, 96)
RATE_DAYS = 7
#: How far back full-cadence days are looked for once collection has stepped down.
LOOKBACK_DAYS = 62
#: The task whose spend steps down with the cadence; every other run's spend is fixed.
COLLECT_TASK = "metrics.collect"
_Q = Decimal("0.000001")
_NONE = (Decimal(0), Decimal(0))


class CapResult(TypedDict):
    """What ``metrics.cap`` records in ``ops.runs``."""

    month: str
    cap_usd: float | None
    spent_usd: float
    forecast_usd: float
    planned_usd: float
    level: int
    previous: int
    reason: str


@dataclass(frozen=True)
class Assessment:
    """One assessment of the month: the figures and the level chosen."""

    month: date
    cap: Decimal | None
    target: Decimal | None
    spent: Decimal
    fixed_rate: Decimal
    collect_rate: Decimal
    idle_rate: Decimal
    days_left: int
    forecast: Decimal
    planned: Decimal
    level: int
    reason: str

    def at_level(self, level: int) -> Decimal:
        """The month-end forecast if collection ran at ``level`` for the days left."""
        collect = self.collect_rate if level == 0 else min(self.collect_rate, self.idle_rate)
        per_day = self.fixed_rate + (collect if level == 0 else collect / level)
        return self.spent + per_day * self.days_left


def describe(level: int) -> str:
    """``full cadence`` or ``stepped down: idle cadence × n``."""
    if level <= 0:
        return "full cadence"
    return "stepped down: idle cadence" + (f" × {level}" if level > 1 else "")


def _day(moment: datetime) -> datetime:
    m = moment.astimezone(UTC)
    return datetime(m.year, m.month, m.day, tzinfo=UTC)


def _month_bounds(now: datetime) -> tuple[datetime, datetime]:
    n = now.astimezone(UTC)
    start = datetime(n.year, n.month, 1, tzinfo=UTC)
    end = datetime(n.year + (n.month == 12), n.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def daily_spend(
    conn: psycopg.Connection[Any], start: datetime, end: datetime
) -> dict[date, tuple[Decimal, Decimal]]:
    """API spend of runs started in ``[start, end)`` per UTC day: (collection, fixed).

    A run's API spend is the metered part of its cost (``cost_basis -> 'api' ->> 'usd'``,
    written by the Runner: every request it sent, priced); a run recorded before run costs
    existed counts the ``estimated_cost_usd`` its task reported.
    """
    rows = conn.execute(
        "SELECT (started_at AT TIME ZONE 'UTC')::date AS day,"
        " coalesce(sum(usd) FILTER (WHERE task = %s), 0), coalesce(sum(usd) FILTER"
        " (WHERE task <> %s), 0) FROM (SELECT task, started_at,"
        " coalesce((cost_basis #>> '{api,usd}')::numeric,"
        " (details ->> 'estimated_cost_usd')::numeric) AS usd FROM ops.runs"
        " WHERE started_at >= %s AND started_at < %s AND jsonb_typeof(details) = 'object'"
        " AND (details ? 'estimated_cost_usd' OR cost_basis ? 'api')) r GROUP BY 1",
        (COLLECT_TASK, COLLECT_TASK, start, end),
    ).fetchall()
    return {r[0]: (Decimal(r[1]), Decimal(r[2])) for r in rows}


def _first_spend(conn: psycopg.Connection[Any]) -> datetime | None:
    row = conn.execute(
        "SELECT min(started_at) FROM ops.runs WHERE jsonb_typeof(details) = 'object'"
        " AND (details ? 'estimated_cost_usd' OR cost_basis ? 'api')"
    ).fetchone()
    return row[0] if row else None


def _stepped_days(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> set[date]:
    """Days of ``[start, end)`` on which some level other than 0 was in force."""
    rows = conn.execute(
        "SELECT at, level FROM costs.cadence_steps WHERE at < %s ORDER BY at", (end,)
    ).fetchall()
    out: set[date] = set()
    for i, (at, level) in enumerate(rows):
        if level == 0:
            continue
        until = rows[i + 1][0] if i + 1 < len(rows) else end
        day = max(_day(at), start)
        while day < min(until, end):
            out.add(day.date())
            day += timedelta(days=1)
    return out


def _full_cadence_rate(
    conn: psycopg.Connection[Any], first: datetime | None, today: datetime
) -> Decimal | None:
    """Mean collection spend of the last 7 complete days spent wholly at full cadence.

    Looked for within :data:`LOOKBACK_DAYS` and from the first day with spend; None when
    there is no such day. Days at a stepped cadence say nothing about the full one, and a
    single day would carry its weekday's load: the same 7-day mean as the budgets.
    """
    if first is None:
        return None
    start = max(today - timedelta(days=LOOKBACK_DAYS), _day(first))
    if start >= today:
        return None
    stepped = _stepped_days(conn, start, today)
    spend = daily_spend(conn, start, today)
    full: list[Decimal] = []
    day = today - timedelta(days=1)
    while day >= start and len(full) < RATE_DAYS:
        if day.date() not in stepped:
            full.append(spend.get(day.date(), _NONE)[0])
        day -= timedelta(days=1)
    return sum(full, Decimal(0)) / len(full) if full else None


def _idle_rate(conn: psycopg.Connection[Any]) -> Decimal:
    """The policies' GetMetricData price per day at idle cadence, for the resources now."""
    policies = load_policies(conn, configured=True)
    owned = assign(policies, load_resources(conn))
    monthly = sum(p.monthly_api_usd(len(owned[p.name])) for p in policies)
    return (Decimal(str(monthly)) / 30).quantize(_Q)


def _cap_row(conn: psycopg.Connection[Any]) -> tuple[Decimal, int, int] | None:
    row = conn.execute(
        "SELECT monthly_usd, target_percent, max_multiplier FROM params.monitoring_budget"
        " WHERE name = 'default' AND enabled"
    ).fetchone()
    return (Decimal(row[0]), int(row[1]), int(row[2])) if row else None


def forecast(conn: psycopg.Connection[Any], now: datetime) -> Assessment:
    """The month's figures at ``now`` and the level they call for (module docstring)."""
    month_start, month_end = _month_bounds(now)
    today = _day(now)
    first = _first_spend(conn)
    rate_from = max(today - timedelta(days=RATE_DAYS), _day(first)) if first else today
    spend = daily_spend(conn, min(rate_from, month_start), today)
    spent = sum((c + f for d, (c, f) in spend.items() if d >= month_start.date()), start=Decimal(0))
    rate_days = [(rate_from + timedelta(days=i)).date() for i in range((today - rate_from).days)]
    fixed_rate = Decimal(0)
    if rate_days:
        fixed_rate = sum((spend.get(d, _NONE)[1] for d in rate_days), Decimal(0)) / len(rate_days)
    idle_rate = _idle_rate(conn)
    collect_rate = _full_cadence_rate(conn, first, today)
    if collect_rate is None:
        collect_rate = idle_rate
    days_left = (month_end - today).days
    base = Assessment(
        month=month_start.date(),
        cap=None,
        target=None,
        spent=spent.quantize(_Q),
        fixed_rate=fixed_rate.quantize(_Q),
        collect_rate=collect_rate.quantize(_Q),
        idle_rate=idle_rate,
        days_left=days_left,
        forecast=Decimal(0),
        planned=Decimal(0),
        level=0,
        reason="",
    )
    full_forecast = base.at_level(0).quantize(_Q)
    cap = _cap_row(conn)
    if cap is None:
        return _with(base, full_forecast, 0, full_forecast, "no monitoring budget")
    cap_usd, percent, max_multiplier = cap
    target = (cap_usd * percent / 100).quantize(_Q)
    levels = [lv for lv in LEVELS if lv <= max_multiplier]
    for level in levels:
        planned = base.at_level(level).quantize(_Q)
        if planned <= target:
            reason = (
                f"forecast {full_forecast:.2f} USD within {percent} % of the {cap_usd:.2f} USD cap"
                if level == 0
                else f"forecast {full_forecast:.2f} USD at full cadence passes {percent} % of"
                f" the {cap_usd:.2f} USD cap; {planned:.2f} USD at this step"
            )
            return _with(base, full_forecast, level, planned, reason, cap_usd, target)
    level = levels[-1]
    planned = base.at_level(level).quantize(_Q)
    reason = (
        f"forecast {planned:.2f} USD passes {percent} % of the {cap_usd:.2f} USD cap even at"
        f" idle cadence × {level} (max_multiplier); fixed spend is {fixed_rate:.4f} USD a day"
    )
    return _with(base, full_forecast, level, planned, reason, cap_usd, target)


def _with(
    base: Assessment,
    full_forecast: Decimal,
    level: int,
    planned: Decimal,
    reason: str,
    cap: Decimal | None = None,
    target: Decimal | None = None,
) -> Assessment:
    values = asdict(base) | {
        "forecast": full_forecast,
        "level": level,
        "planned": planned,
        "reason": reason,
        "cap": cap,
        "target": target,
    }
    return Assessment(**values)


def assess(conn: psycopg.Connection[Any], now: datetime) -> CapResult:
    """Decide the cadence step at ``now``; record it, notify on a change; return the figures.

    Writes in one transaction: ``costs.monitoring_status`` (the month's row), a
    ``costs.cadence_steps`` row and a ``locxia_params`` NOTIFY when the level changes, and a
    ``monitoring_cap`` notification on a step down (resolved on the return to full cadence).
    """
    a = forecast(conn, now)
    previous = step_in_force(conn)
    key = a.month.strftime("%Y-%m")
    conn.commit()  # end the reads: the block below is its own transaction, committed at exit
    with conn.transaction():
        last_step = conn.execute("SELECT max(at) FROM costs.cadence_steps").fetchone()
        since = last_step[0] if previous == a.level and last_step and last_step[0] else now
        conn.execute(
            "INSERT INTO costs.monitoring_status (month, cap_usd, target_usd, spent_usd,"
            " fixed_rate_usd, collect_rate_usd, forecast_usd, planned_usd, level, since,"
            " reason, computed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (month) DO UPDATE SET cap_usd = EXCLUDED.cap_usd,"
            " target_usd = EXCLUDED.target_usd, spent_usd = EXCLUDED.spent_usd,"
            " fixed_rate_usd = EXCLUDED.fixed_rate_usd,"
            " collect_rate_usd = EXCLUDED.collect_rate_usd,"
            " forecast_usd = EXCLUDED.forecast_usd, planned_usd = EXCLUDED.planned_usd,"
            " level = EXCLUDED.level, since = EXCLUDED.since, reason = EXCLUDED.reason,"
            " computed_at = EXCLUDED.computed_at",
            (
                a.month,
                a.cap,
                a.target,
                a.spent,
                a.fixed_rate,
                a.collect_rate,
                a.forecast,
                a.planned,
                a.level,
                since,
                a.reason,
                now,
            ),
        )
        if a.level != previous:
            conn.execute(
                "INSERT INTO costs.cadence_steps (at, month, level, previous, forecast_usd,"
                " planned_usd, cap_usd, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (now, a.month, a.level, previous, a.forecast, a.planned, a.cap, a.reason),
            )
            conn.execute(
                "SELECT pg_notify('locxia_params', %s)",
                (json.dumps({"table": "monitoring_status", "op": "STEP", "key": key}),),
            )
        if a.level > previous:
            notify.emit(
                conn,
                "monitoring_cap",
                key,
                f"Collection {describe(a.level)} ({key})",
                f"Locxia's own AWS API spend is forecast at {a.forecast:.2f} USD for {key}"
                f" at full cadence, over {a.target} USD ({a.cap} USD cap). Collection now runs"
                f" {describe(a.level)}: forecast {a.planned:.2f} USD.",
                {
                    "month": key,
                    "level": a.level,
                    "previous": previous,
                    "cap_usd": str(a.cap),
                    "forecast_usd": str(a.forecast),
                    "planned_usd": str(a.planned),
                    "spent_usd": str(a.spent),
                },
                at=now,
            )
        elif a.level == 0 and previous > 0:
            last_month = (a.month - timedelta(days=1)).strftime("%Y-%m")
            for month in (key, last_month):
                notify.resolve(conn, "monitoring_cap", month, at=now)
    return CapResult(
        month=key,
        cap_usd=float(a.cap) if a.cap is not None else None,
        spent_usd=float(a.spent),
        forecast_usd=float(a.forecast),
        planned_usd=float(a.planned),
        level=a.level,
        previous=previous,
        reason=a.reason,
    )
