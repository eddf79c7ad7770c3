"""Cost anomalies (``costs.anomalies``): a day that cost far more than its baseline, and why.

Two kinds of series, each judged day by day against :func:`~pipelines.observe.costs.baseline.
weekday_baseline` (28 days, weekday-aware median and MAD):

* ``service`` — Cost Explorer's daily cost of one ``SERVICE`` for the Locxia tag value
  (``costs.daily``, ``tag_key``/``tag_value`` = the Locxia tag, ``charge = 'usage'``: a credit
  or the month's tax is not usage, on the basis of the latest read). Only **complete** days
  count: a day before ``costs.coverage`` (the newest day CE returned is still filling, and a
  partial day would look like a drop, then a catch-up);
* ``resource`` — the estimated cost of one resource (``costs.estimates`` summed per UTC day),
  for days before ``today`` (every hour of them is past).

A day is an anomaly when its cost rises at least ``LOCXIA_ANOMALY_SCORE`` scales above the
expected cost **and** at least ``LOCXIA_ANOMALY_FLOOR_USD`` above it (the floor keeps series
of cents quiet). Each anomaly keeps its **drivers**, largest rise first: for a service, the
resources of that service by how much each moved against its own baseline, and the part the
estimates do not explain (data transfer, snapshots, requests…); for a resource, its priced
basis (class, storage…) on the day against the one usual in its window. A new anomaly is
recorded once (re-runs update its figures, keep its acknowledgement) and emits one
``cost_anomaly`` notification.

``today`` is always passed in (the job passes its clock's date): tests replay 90 days.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypedDict

import psycopg
from psycopg.types.json import Jsonb

from infra import notify
from infra.errors import InputError
from pipelines.observe.costs.baseline import WINDOW_DAYS, judge, weekday_baseline, window

#: Drivers kept per anomaly (largest rises first).
TOP_DRIVERS = 5
#: Label of the part of a service's rise that no resource's estimate explains.
NOT_ESTIMATED = "not in the estimates (data transfer, snapshots, requests, other resources)"


@dataclass(frozen=True)
class Series:
    """One daily cost series: a CE service, or a resource's estimates."""

    scope: str
    key: str
    service: str
    source: str
    costs: dict[date, float]
    resource_id: int | None = None
    resource_type: str | None = None
    bases: dict[date, Counter[str]] = field(default_factory=dict)

    def value(self, day: date) -> float:
        """The cost of ``day`` (0 when nothing was recorded that day)."""
        return self.costs.get(day, 0.0)


@dataclass(frozen=True)
class Anomaly:
    """A judged day over the threshold and the floor, with its drivers (largest rise first)."""

    day: date
    series: Series
    observed: float
    expected: float
    score: float
    drivers: list[dict[str, Any]]

    @property
    def excess(self) -> float:
        """How much more than expected the day cost."""
        return self.observed - self.expected


class AnomalyResult(TypedDict):
    """What the ``costs.anomalies`` task records (``ops.runs.details``)."""

    days: list[str]
    service_days_complete: list[str]
    series: int
    too_short: int
    anomalies: list[dict[str, Any]]
    new: int
    notified: int


# --- reading the series ----------------------------------------------------------------------
def ce_complete_until(conn: psycopg.Connection[Any]) -> date | None:
    """First day Cost Explorer has not completed (the start of the newest day it returned)."""
    row = conn.execute("SELECT covered_until FROM costs.coverage").fetchone()
    if not row or row[0] is None:
        return None
    covered: datetime = row[0]
    return covered.astimezone(UTC).date()


def service_series(
    conn: psycopg.Connection[Any], tag_key: str, tag_value: str, start: date, end: date
) -> list[Series]:
    """Cost Explorer's usage cost per service of the Locxia tag value, days in [start, end)."""
    rows = conn.execute(
        "SELECT service, day, sum(usd) FROM costs.daily"
        " WHERE tag_key = %s AND tag_value = %s AND charge = 'usage'"
        " AND basis = coalesce((SELECT basis FROM costs.explorer_reads"
        "                        ORDER BY read_at DESC LIMIT 1), basis)"
        " AND day >= %s AND day < %s GROUP BY service, day ORDER BY service, day",
        (tag_key, tag_value, start, end),
    ).fetchall()
    per: dict[str, dict[date, float]] = {}
    for service, day, usd in rows:
        per.setdefault(service, {})[day] = float(usd)
    return [
        Series("service", s, s, "cost-explorer", _filled(costs, end)) for s, costs in per.items()
    ]


def resource_series(conn: psycopg.Connection[Any], start: date, end: date) -> list[Series]:
    """Estimated cost per resource and UTC day, days in [start, end), with each hour's basis."""
    rows = conn.execute(
        "SELECT e.resource_id, r.resource_id, r.type, e.service,"
        "       (e.hour AT TIME ZONE 'UTC')::date AS day, e.basis, sum(e.usd), count(*)"
        "  FROM costs.estimates e JOIN metrics.resources r ON r.id = e.resource_id"
        " WHERE e.hour >= (%s::date)::timestamp AT TIME ZONE 'UTC'"
        "   AND e.hour < (%s::date)::timestamp AT TIME ZONE 'UTC'"
        " GROUP BY 1, 2, 3, 4, 5, 6",
        (start, end),
    ).fetchall()
    per: dict[int, Series] = {}
    for db_id, name, rtype, service, day, basis, usd, hours in rows:
        series = per.setdefault(
            db_id, Series("resource", name, service, "estimates", {}, db_id, rtype, {})
        )
        series.costs[day] = series.costs.get(day, 0.0) + float(usd)
        series.bases.setdefault(day, Counter())[basis] += int(hours)
    return [
        Series(
            s.scope,
            s.key,
            s.service,
            s.source,
            _filled(s.costs, end),
            s.resource_id,
            s.resource_type,
            s.bases,
        )
        for s in per.values()
    ]


def _filled(costs: Mapping[date, float], end: date) -> dict[date, float]:
    """Every day from the series' first one to ``end`` (excluded), 0 where nothing was recorded.

    Cost Explorer returns no group for a service that cost nothing that day, and a resource
    with no estimate that day cost nothing: absent days after the first are zeros.
    """
    if not costs:
        return {}
    out: dict[date, float] = {}
    day = min(costs)
    while day < end:
        out[day] = costs.get(day, 0.0)
        day += timedelta(days=1)
    return out


# --- judging and explaining ------------------------------------------------------------------
def service_drivers(day: date, excess: float, resources: Iterable[Series]) -> list[dict[str, Any]]:
    """Which resources of the service moved on ``day``, by how much, and what is left over.

    Each resource is compared with its own baseline, a missing day counting as 0 (a resource
    created this week moved by its whole cost). What the resources' rises do not cover of the
    service's ``excess`` is one driver of its own (:data:`NOT_ESTIMATED`).
    """
    moved: list[dict[str, Any]] = []
    for r in resources:
        history = {d: r.value(d) for d in window(day)}
        base = weekday_baseline(history, day, min_days=1)
        expected = base.expected if base else 0.0
        observed = r.value(day)
        moved.append(_driver("resource", r.key, observed, expected, excess, r.resource_type))
    explained = sum(d["delta"] for d in moved)
    rest = excess - explained
    if rest > 0.005:
        moved.append(_driver("not-estimated", NOT_ESTIMATED, rest, 0.0, excess))
    ranked = sorted(moved, key=lambda d: (-d["delta"], d["key"]))
    return [d for d in ranked if d["delta"] > 0][:TOP_DRIVERS]


def resource_drivers(series: Series, day: date, excess: float) -> list[dict[str, Any]]:
    """What the resource was priced as on ``day`` (most hours) against the usual in its window."""
    now = series.bases.get(day)
    if not now:
        return []
    usual: Counter[str] = Counter()
    for d in window(day):
        usual.update(series.bases.get(d, Counter()))
    basis = now.most_common(1)[0][0]
    before = usual.most_common(1)[0][0] if usual else None
    driver = _driver("basis", basis, series.value(day), series.value(day) - excess, excess)
    driver["before"] = before
    driver["hours"] = sum(now.values())
    return [driver]


def _driver(
    kind: str, key: str, observed: float, expected: float, excess: float, rtype: str | None = None
) -> dict[str, Any]:
    delta = observed - expected
    out: dict[str, Any] = {
        "kind": kind,
        "key": key,
        "observed": round(observed, 6),
        "expected": round(expected, 6),
        "delta": round(delta, 6),
        "share": round(delta / excess, 4) if excess > 0 else None,
    }
    if rtype:
        out["type"] = rtype
    return out


def find(
    services: Sequence[Series],
    resources: Sequence[Series],
    days: Sequence[date],
    *,
    threshold: float,
    floor_usd: float,
    service_until: date | None,
) -> tuple[list[Anomaly], int]:
    """Judge every series on each of ``days``: the anomalies (ranked) and how many were too short.

    Service series are judged only on days before ``service_until`` (complete CE days).
    Ranking: scope (services first), day, then the rise in USD, largest first.
    """
    found: list[Anomaly] = []
    short = 0
    by_service: dict[str, list[Series]] = {}
    for r in resources:
        by_service.setdefault(r.service, []).append(r)
    for day in days:
        judged = [s for s in services if service_until and day < service_until]
        for series in [*judged, *resources]:
            if day not in series.costs:
                continue
            base = weekday_baseline(series.costs, day)
            if base is None:
                short += 1
                continue
            verdict = judge(series.value(day), base, threshold=threshold, floor_usd=floor_usd)
            if not verdict.anomaly:
                continue
            excess = verdict.observed - base.expected
            drivers = (
                service_drivers(day, excess, by_service.get(series.key, []))
                if series.scope == "service"
                else resource_drivers(series, day, excess)
            )
            found.append(
                Anomaly(day, series, verdict.observed, base.expected, verdict.score, drivers)
            )
    found.sort(key=lambda a: (a.series.scope != "service", a.day, -a.excess, a.series.key))
    return found, short


# --- recording -------------------------------------------------------------------------------
def record(conn: psycopg.Connection[Any], anomaly: Anomaly, now: datetime) -> tuple[int, bool]:
    """Insert or refresh one anomaly (acknowledgement kept): its id and whether it is new."""
    s = anomaly.series
    row = conn.execute(
        "INSERT INTO costs.anomalies (day, scope, key, service, resource_id, source, observed,"
        " expected, score, drivers, detected_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (day, scope, key) DO UPDATE SET observed = EXCLUDED.observed,"
        " expected = EXCLUDED.expected, score = EXCLUDED.score, drivers = EXCLUDED.drivers,"
        " updated_at = EXCLUDED.updated_at"
        " RETURNING id, xmax = 0",
        (
            anomaly.day,
            s.scope,
            s.key,
            s.service,
            s.resource_id,
            s.source,
            round(anomaly.observed, 6),
            round(anomaly.expected, 6),
            anomaly.score,
            Jsonb(anomaly.drivers),
            now,
            now,
        ),
    ).fetchone()
    assert row is not None  # INSERT … RETURNING always returns the row
    return int(row[0]), bool(row[1])


def _notify(conn: psycopg.Connection[Any], anomaly_id: int, a: Anomaly, now: datetime) -> bool:
    s = a.series
    what = f"{s.scope} {s.key}" + (f" ({s.service})" if s.scope == "resource" else "")
    lines = [
        f"{what} cost {a.observed:.2f} USD on {a.day} against {a.expected:.2f} expected"
        f" (+{a.excess:.2f} USD, score {a.score:.1f}).",
        *(f"- {d['key']}: {d['delta']:+.2f} USD" for d in a.drivers),
        f"Acknowledge: locxia observe anomalies ack {anomaly_id}",
    ]
    return notify.emit(
        conn,
        "cost_anomaly",
        f"{s.scope}:{s.key}:{a.day.isoformat()}",
        f"Cost anomaly: {what} +{a.excess:.2f} USD on {a.day}",
        "\n".join(lines),
        {
            "anomaly_id": anomaly_id,
            "day": a.day.isoformat(),
            "scope": s.scope,
            "key": s.key,
            "observed": round(a.observed, 2),
            "expected": round(a.expected, 2),
            "drivers": a.drivers,
        },
        at=now,
    )


def detect(
    conn: psycopg.Connection[Any],
    today: date,
    now: datetime,
    *,
    tag_key: str,
    tag_value: str,
    threshold: float,
    floor_usd: float,
    days: int = 3,
) -> AnomalyResult:
    """Judge the ``days`` days before ``today``, record the anomalies, notify the new ones.

    Re-judging recent days catches Cost Explorer's revisions and a job that did not run;
    an anomaly already recorded is refreshed (never notified twice). One transaction.
    """
    tested = [today - timedelta(days=n) for n in range(days, 0, -1)]
    start = tested[0] - timedelta(days=WINDOW_DAYS)
    ce_until = ce_complete_until(conn)
    services = service_series(conn, tag_key, tag_value, start, min(today, ce_until or today))
    resources = resource_series(conn, start, today)
    found, short = find(
        services,
        resources,
        tested,
        threshold=threshold,
        floor_usd=floor_usd,
        service_until=ce_until,
    )
    new = notified = 0
    listed: list[dict[str, Any]] = []
    with conn.transaction():
        for a in found:
            anomaly_id, is_new = record(conn, a, now)
            new += is_new
            if is_new:
                notified += _notify(conn, anomaly_id, a, now)
            listed.append(_summary(anomaly_id, a))
    return {
        "days": [d.isoformat() for d in tested],
        "service_days_complete": [d.isoformat() for d in tested if ce_until and d < ce_until],
        "series": len(services) + len(resources),
        "too_short": short,
        "anomalies": listed,
        "new": new,
        "notified": notified,
    }


def _summary(anomaly_id: int, a: Anomaly) -> dict[str, Any]:
    return {
        "id": anomaly_id,
        "day": a.day.isoformat(),
        "scope": a.series.scope,
        "key": a.series.key,
        "observed": round(a.observed, 2),
        "expected": round(a.expected, 2),
        "score": round(a.score, 1),
        "top_driver": a.drivers[0]["key"] if a.drivers else None,
    }


# --- people ----------------------------------------------------------------------------------
def acknowledge(
    conn: psycopg.Connection[Any], anomaly_id: int, by: str, at: datetime
) -> tuple[dict[str, Any], bool]:
    """Mark anomaly ``anomaly_id`` acknowledged by ``by``: its row, and whether this call did it.

    Acknowledging twice changes nothing (the first acknowledgement stays).

    Raises:
        InputError: no anomaly has that id.
    """
    with conn.transaction():
        changed = conn.execute(
            "UPDATE costs.anomalies SET acknowledged_by = %s, acknowledged_at = %s"
            " WHERE id = %s AND acknowledged_at IS NULL",
            (by, at, anomaly_id),
        ).rowcount
        cur = conn.execute(
            "SELECT id, day, scope, key, observed, expected, acknowledged_by, acknowledged_at"
            " FROM costs.anomalies WHERE id = %s",
            (anomaly_id,),
        )
        row = cur.fetchone()
    if row is None:
        raise InputError(
            f"no cost anomaly {anomaly_id} (`locxia observe anomalies --all` lists them)"
        )
    names = [c.name for c in cur.description or []]
    return dict(zip(names, row, strict=True)), changed == 1
