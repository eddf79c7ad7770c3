"""The monitoring budget: own API spend forecast against a monthly cap, cadences stepped down.

The simulated month drives the real decision (:func:`assess`, with ``now`` passed) and the
real planning (the observe plugin's job intervals, through :func:`load_policies`) hour by
hour. What a collection run would meter is computed with the collector's own formula —
GetMetricData bills per metric requested, 0.01 USD per 1,000 (Amazon CloudWatch pricing,
https://aws.amazon.com/cloudwatch/pricing/), one query per (resource × metric × statistic)
built by :func:`build_queries` — rather than calling the moto server 30 × 24 × n times; the
resources due at each tick follow the collector's adaptive rule (busy resources at the busy
cadence, idle ones at the idle cadence, half a tick of slack).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from infra.db import connect
from infra.jobs import PlanContext
from infra.settings import Settings
from pipelines.observe.jobs import provide
from pipelines.observe.metrics.batching import build_queries
from pipelines.observe.metrics.cap import assess, describe, forecast
from pipelines.observe.metrics.policies import (
    USD_PER_METRIC,
    Policy,
    assign,
    load_policies,
    load_resources,
)
from pipelines.observe.metrics.resources import Resource
from tests.conftest import locxia_bin

MONTH = datetime(2026, 11, 1, tzinfo=UTC)
WEEK_BEFORE = MONTH - timedelta(days=7)


def _resources(conn: psycopg.Connection[Any]) -> None:
    """2 databases, 4 EC2 instances (one heavy: task=ingestion), 3 EBS volumes."""
    rows: list[tuple[str, str, dict[str, str], str]] = (
        [("rds:db", f"db-{i}", {}, "arn:aws:rds:eu-west-3:1:db:db-{i}") for i in range(2)]
        + [
            (
                "ec2:instance",
                f"i-{i}",
                {"task": "ingestion"} if i == 0 else {},
                "arn:aws:ec2:eu-west-3:1:instance/i-{i}",
            )
            for i in range(4)
        ]
        + [
            ("ec2:volume", f"vol-{i}", {}, "arn:aws:ec2:eu-west-3:1:volume/vol-{i}")
            for i in range(3)
        ]
    )
    for rtype, rid, tags, arn in rows:
        conn.execute(
            "INSERT INTO metrics.resources (arn, type, resource_id, name, region, tags, tagged,"
            " state, first_seen, last_seen) VALUES (%s, %s, %s, %s, 'eu-west-3', %s, true,"
            " 'running', %s, %s)",
            (arn.format(i=rid), rtype, rid, rid, Jsonb(tags), WEEK_BEFORE, WEEK_BEFORE),
        )
    conn.commit()


def _busy(resource: Resource, at: datetime) -> bool:
    """The heavy instance works 08–20 UTC on weekdays, one other instance 09–18."""
    if at.weekday() >= 5:
        return False
    if resource.tags.get("task") == "ingestion":
        return 8 <= at.hour < 20
    return resource.resource_id == "i-1" and 9 <= at.hour < 18


@dataclass
class Meter:
    """The collection jobs' ticks and what each would bill, per policy."""

    next_tick: dict[str, datetime] = field(default_factory=dict)
    interval: dict[str, int] = field(default_factory=dict)
    last: dict[int, datetime] = field(default_factory=dict)

    def due(self, policy: Policy, resources: list[Resource], at: datetime) -> list[Resource]:
        """The collector's rule (Collector._due) on a scheduled run."""
        if policy.busy is None:
            return resources
        slack = timedelta(seconds=policy.job_every / 2)
        out = []
        for r in resources:
            every = policy.busy.every_seconds if _busy(r, at) else policy.every
            seen = self.last.get(r.id)
            if seen is None or at - seen >= timedelta(seconds=every) - slack:
                out.append(r)
        return out

    def hour(self, conn: psycopg.Connection[Any], settings: Settings, start: datetime) -> float:
        """Plan at ``start`` (real planner), run the ticks of one hour, record one row each."""
        jobs = {j.args["policy"]: j for j in provide(PlanContext(settings, conn, start))
                if j.task == "metrics.collect"}  # fmt: skip
        policies = {p.name: p for p in load_policies(conn)}
        owned = assign(list(policies.values()), load_resources(conn))
        conn.commit()
        total = 0.0
        end = start + timedelta(hours=1)
        for name, job in sorted(jobs.items()):
            every = job.trigger.every_seconds
            assert every is not None
            if self.interval.get(name) != every:  # a re-planned job restarts its interval
                self.interval[name] = every
                self.next_tick[name] = (
                    start if name not in self.next_tick else start + timedelta(seconds=every)
                )
            metrics = 0
            while self.next_tick[name] < end:
                at = self.next_tick[name]
                due = self.due(policies[name], owned[name], at)
                metrics += len(build_queries(policies[name], due))
                for r in due:
                    self.last[r.id] = at
                self.next_tick[name] = at + timedelta(seconds=every)
            if metrics:
                usd = round(metrics * USD_PER_METRIC, 6)
                total += usd
                _run(conn, f"observe.collect.{name}", "metrics.collect", start,
                     {"metrics_requested": metrics, "estimated_cost_usd": usd})  # fmt: skip
        if start.hour == 7:  # Cost Explorer, daily: 0.01 USD per request (2 requests)
            _run(conn, "observe.costs", "costs.explorer", start,
                 {"ce_requests": 2, "estimated_cost_usd": 0.02})  # fmt: skip
            total += 0.02
        conn.commit()
        return total


def _run(
    conn: psycopg.Connection[Any], job: str, task: str, at: datetime, details: dict[str, Any]
) -> None:
    conn.execute(
        "INSERT INTO ops.runs (job_id, task, trigger, scheduled_at, started_at, ended_at,"
        " status, details) VALUES (%s, %s, 'schedule', %s, %s, %s, 'success', %s)",
        (job, task, at, at, at + timedelta(seconds=5), Jsonb(details)),
    )


def _month_spend(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> Decimal:
    row = conn.execute(
        "SELECT coalesce(sum((details ->> 'estimated_cost_usd')::numeric), 0) FROM ops.runs"
        " WHERE started_at >= %s AND started_at < %s AND details ? 'estimated_cost_usd'",
        (start, end),
    ).fetchone()
    assert row is not None
    return Decimal(row[0])


@pytest.mark.slow
def test_a_cap_at_80_percent_of_the_pace_steps_down_and_the_month_ends_under_it(
    settings: Settings, db_url: str
) -> None:
    meter = Meter()
    with connect(db_url) as conn:
        _resources(conn)
        hour = WEEK_BEFORE
        while hour < MONTH:  # a week at full cadence: the pace before any cap
            assert assess(conn, hour)["level"] == 0
            meter.hour(conn, settings, hour)
            hour += timedelta(hours=1)
        week = _month_spend(conn, WEEK_BEFORE, MONTH)
        pace = (week / 7 * 30).quantize(Decimal("0.0001"))
        cap = (pace * Decimal("0.8")).quantize(Decimal("0.0001"))
        conn.execute(
            "INSERT INTO params.monitoring_budget (name, monthly_usd) VALUES ('default', %s)",
            (cap,),
        )
        conn.commit()
        levels: dict[int, int] = {}
        month_end = datetime(2026, 12, 1, tzinfo=UTC)
        while hour < month_end:
            result = assess(conn, hour)
            levels.setdefault(hour.day, result["level"])
            assert result["level"] == levels[hour.day], "the step changes only at a day's start"
            meter.hour(conn, settings, hour)
            hour += timedelta(hours=1)
        total = _month_spend(conn, MONTH, month_end)
        steps = conn.execute(
            "SELECT at, previous, level, forecast_usd, planned_usd FROM costs.cadence_steps"
            " ORDER BY at"
        ).fetchall()
        notes = conn.execute(
            "SELECT key, subject FROM ops.notifications WHERE kind = 'monitoring_cap'"
        ).fetchall()
        shown = conn.execute(
            "SELECT cadence, spent_usd, forecast_usd, planned_usd FROM reporting.monitoring_budget"
            " WHERE month = %s",
            (MONTH.date(),),
        ).fetchone()
        plan = {j.id: j.trigger.every_seconds for j in provide(PlanContext(settings, conn, hour))}
    first_down = next(s for s in steps if s[2] > s[1])
    print(
        f"\nmonitoring cap: pace {pace} USD/month (7 days at full cadence × 30), cap {cap} USD"
        f" (80 %), target {cap * Decimal('0.9'):.4f} USD (90 % of the cap);"
        f" stepped down on {first_down[0]:%Y-%m-%d %H:%M} ({describe(first_down[2])})"
        f" (forecast {first_down[3]:.4f} USD at full cadence, {first_down[4]:.4f} USD stepped);"
        f" levels by day {levels}; month total {total:.4f} USD"
        f" ({total / cap * 100:.1f} % of the cap)"
    )
    assert total < cap
    assert first_down[0] < month_end and max(levels.values()) >= 1
    assert len(notes) == 1 and notes[0][0] == "2026-11"
    assert shown is not None and str(shown[0]).startswith("stepped down")
    level = max(levels[d] for d in levels if d == 30)
    assert plan["observe.collect.rds-default"] == 300 * level
    assert plan["observe.collect.ec2-ingestion"] == 600 * level  # busy cadence dropped


def test_no_cap_keeps_full_cadence_and_a_raised_cap_steps_back_up(
    settings: Settings, db_url: str, cli_env: dict[str, str]
) -> None:
    with connect(db_url) as conn:
        _resources(conn)
        for day in range(7):
            at = WEEK_BEFORE + timedelta(days=day, hours=12)
            _run(conn, "observe.collect.rds-default", "metrics.collect", at,
                 {"metrics_requested": 100_000, "estimated_cost_usd": 1.0})  # fmt: skip
        conn.commit()
        none = assess(conn, MONTH + timedelta(hours=1))
        assert none["level"] == 0 and none["cap_usd"] is None
        assert none["forecast_usd"] == pytest.approx(30.0)  # 1 USD a day × 30 days left

        conn.execute(
            "INSERT INTO params.monitoring_budget (name, monthly_usd, target_percent)"
            " VALUES ('default', 20, 100)"
        )
        conn.commit()
        down = assess(conn, MONTH + timedelta(hours=2))
        # 30 USD at full cadence > 20: the first level whose forecast fits. The idle price of
        # the policies for these resources is far below 1 USD a day, so idle cadence fits.
        assert down["level"] == 1 and down["planned_usd"] <= 20
        assert "rds-default" in {p.name for p in load_policies(conn) if p.busy is None}
        cli = forecast(conn, MONTH + timedelta(hours=3))
        assert cli.level == 1  # same day, same figures: same decision
        again = assess(conn, MONTH + timedelta(hours=3))
        assert again["previous"] == 1
        shown = subprocess.run(
            [locxia_bin(), "observe", "policies"], env=cli_env, capture_output=True, text=True
        )
        assert shown.returncode == 0, shown.stderr
        assert "stepped down: idle cadence since 2026-11-01 02:00 UTC" in shown.stdout
        as_json = subprocess.run(
            [locxia_bin(), "observe", "policies", "--json"],
            env=cli_env,
            capture_output=True,
            text=True,
        )
        rows = {r["policy"]: r for r in json.loads(as_json.stdout)}
        assert (rows["ec2-default"]["every_s"], rows["ec2-default"]["busy_every_s"]) == (900, 300)
        assert rows["ec2-default"]["effective_every_s"] == 900  # idle cadence, busy off
        emitted = conn.execute(
            "SELECT count(*) FROM ops.notifications WHERE kind = 'monitoring_cap'"
            " AND resolved_at IS NULL"
        ).fetchone()
        assert emitted == (1,)

        conn.execute("UPDATE params.monitoring_budget SET monthly_usd = 40")
        conn.commit()
        up = assess(conn, MONTH + timedelta(hours=4))
        assert (up["previous"], up["level"]) == (1, 0)
        left_open = conn.execute(
            "SELECT count(*) FROM ops.notifications WHERE kind = 'monitoring_cap'"
            " AND resolved_at IS NULL"
        ).fetchone()
        assert left_open == (0,)
        steps = conn.execute("SELECT previous, level FROM costs.cadence_steps ORDER BY at")
        assert steps.fetchall() == [(0, 1), (1, 0)]
        audit = conn.execute(
            "SELECT count(*) FROM params.history WHERE table_name = 'monitoring_budget'"
        ).fetchone()
        assert audit == (2,)
        history = json.dumps(conn.execute("SELECT reason FROM costs.monitoring_status").fetchall())
        assert "within 90" not in history and "within 100 %" in history
