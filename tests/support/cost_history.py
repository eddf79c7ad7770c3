"""A seeded history of daily costs with weekly seasonality and noise, for the anomaly detector.

Five tagged resources in four Cost Explorer services, plus one CE service with no resource:

* ``batch-ec2`` — a batch instance: about 12 USD on weekdays (15 on Mondays), 2 at weekends;
* ``web-ec2`` — always on, 5.5 USD a day;
* ``main-db`` — an RDS instance, 20 USD a day;
* ``zone-bucket`` — S3, 0.30 USD a day growing 0.5 % a day (a trend, not an anomaly);
* ``tiny-vol`` — an EBS volume of 0.05 USD a day (``EC2 - Other``), far below any floor;
* CloudWatch — 0.40 USD a day in Cost Explorer only.

Each resource's day is its level × (1 + N(0, 3 %)) spread over 24 hourly estimates; each CE
service's day is the sum of its resources × 1.08 (data transfer and the like, which the
estimates do not model) × (1 + N(0, 3 %)). ``spike`` multiplies one CE service's day by a
factor, the extra cost carried by one of its resources' estimates (someone ran a bigger job).
Deterministic for a given ``seed``. Everything is written as rows (no clock involved):
``costs.estimates``, ``costs.daily`` for the Locxia tag value, and a Cost Explorer read whose
complete days end at ``coverage_end``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg

EC2 = "Amazon Elastic Compute Cloud - Compute"
EC2_OTHER = "EC2 - Other"
RDS = "Amazon Relational Database Service"
S3 = "Amazon Simple Storage Service"
CLOUDWATCH = "AmazonCloudWatch"
NOISE = 0.03
UNMODELLED = 1.08


@dataclass(frozen=True)
class Spike:
    """One CE service's day multiplied by ``factor``; ``resource`` carries the extra."""

    day: date
    service: str
    factor: float
    resource: str


@dataclass
class History:
    """The seeded days, per resource and per CE service, in USD."""

    first: date
    last: date
    resources: dict[str, dict[date, float]] = field(default_factory=dict)
    services: dict[str, dict[date, float]] = field(default_factory=dict)


#: name → (type, CE service, daily level by weekday function)
RESOURCES: dict[str, tuple[str, str]] = {
    "batch-ec2": ("ec2:instance", EC2),
    "web-ec2": ("ec2:instance", EC2),
    "main-db": ("rds:db", RDS),
    "zone-bucket": ("s3:bucket", S3),
    "tiny-vol": ("ec2:volume", EC2_OTHER),
}


def _level(name: str, day: date, first: date) -> float:
    weekday = day.weekday()
    if name == "batch-ec2":
        return 2.0 if weekday >= 5 else (15.0 if weekday == 0 else 12.0)
    if name == "web-ec2":
        return 5.5
    if name == "main-db":
        return 20.0
    if name == "zone-bucket":
        return 0.30 * 1.005 ** (day - first).days
    return 0.05


def generate(first: date, last: date, seed: int = 16, spikes: tuple[Spike, ...] = ()) -> History:
    """Daily costs from ``first`` to ``last`` included."""
    rng = random.Random(seed)
    history = History(first, last)
    day = first
    while day <= last:
        for name, (_, service) in RESOURCES.items():
            usd = max(_level(name, day, first) * (1 + rng.gauss(0, NOISE)), 0.0)
            history.resources.setdefault(name, {})[day] = usd
            per = history.services.setdefault(service, {})
            per[day] = per.get(day, 0.0) + usd
        history.services.setdefault(CLOUDWATCH, {})[day] = 0.40 / UNMODELLED
        for per in history.services.values():
            per[day] *= UNMODELLED * (1 + rng.gauss(0, NOISE))
        day += timedelta(days=1)
    for spike in spikes:
        before = history.services[spike.service][spike.day]
        history.services[spike.service][spike.day] = before * spike.factor
        history.resources[spike.resource][spike.day] += before * (spike.factor - 1)
    return history


def seed(
    conn: psycopg.Connection[Any],
    history: History,
    *,
    tag_key: str = "project",
    tag_value: str = "locxia",
    coverage_end: date | None = None,
) -> dict[str, int]:
    """Write ``history`` (estimates hour by hour, CE days, one CE read); resource ids by name."""
    ids: dict[str, int] = {}
    seen = datetime.combine(history.first, time(), UTC)
    for name, (rtype, _) in RESOURCES.items():
        row = conn.execute(
            "INSERT INTO metrics.resources (arn, type, resource_id, name, region, tags, tagged,"
            " state, first_seen, last_seen) VALUES (%s, %s, %s, %s, 'eu-west-3', %s, true,"
            " 'running', %s, %s) RETURNING id",
            (
                f"arn:aws:test:::{name}",
                rtype,
                name,
                name,
                f'{{"{tag_key}": "{tag_value}"}}',
                seen,
                seen,
            ),
        ).fetchone()
        assert row is not None
        ids[name] = int(row[0])
    with conn.cursor().copy(
        "COPY costs.estimates (resource_id, hour, service, usd, basis) FROM STDIN"
    ) as copy:
        for name, days in history.resources.items():
            service = RESOURCES[name][1]
            for day, usd in days.items():
                start = datetime.combine(day, time(), UTC)
                basis = (
                    f"{name} standard"
                    if usd < 2 * _level(name, day, history.first)
                    else (f"{name} large")
                )
                for hour in range(24):
                    copy.write_row(
                        (ids[name], start + timedelta(hours=hour), service, usd / 24, basis)
                    )
    with conn.cursor().copy(
        "COPY costs.daily (day, service, tag_key, tag_value, usd, estimated, basis, charge)"
        " FROM STDIN"
    ) as copy:
        for service, days in history.services.items():
            for day, usd in days.items():
                copy.write_row((day, service, tag_key, tag_value, usd, False, "usage", "usage"))
    end = coverage_end or history.last + timedelta(days=1)
    conn.execute(
        "INSERT INTO costs.explorer_reads (read_at, basis, first_day, end_day, newest_day,"
        " covered_until) VALUES (%s, 'usage', %s, %s, %s, %s)",
        (
            datetime.combine(end, time(7), UTC),
            history.first,
            end + timedelta(days=1),
            end,
            datetime.combine(end, time(), UTC),
        ),
    )
    conn.commit()
    return ids
