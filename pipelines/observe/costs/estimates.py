"""Estimates: cost per resource per hour from the state history × the price catalog.

Cost Explorer lags by a day and knows nothing of today; the dashboards still need today's
spend and a per-resource view. So every complete hour is estimated per resource, with the
state and attributes in force *during that hour* (``metrics.resource_states``, written by
discovery and by shape's actions), prorated by the second as AWS bills:

* RDS: class price per hour (× 2 Multi-AZ) in every status AWS bills the instance in
  (:mod:`infra.billing`: all but ``stopped``/``starting``/``stopping`` and the "Not billed"
  ones), plus allocated storage × GB-month price / 730 whenever storage is billed;
* EC2 instance: type price per hour while ``running``;
* EBS volume: size × GB-month price / 730;
* S3 bucket: latest ``BucketSizeBytes`` datapoint × GB-month price / 730.

An hour is **final** once the resource was observed after it (or was found gone): it is
written once and never rewritten, so a run at 10:00 and one at 23:00 agree on every hour before
10:00. Hours after the latest observation are **provisional**: priced with the latest known
state and replaced by each run. A resource stops at ``gone_at``. A resource whose class is
missing from the catalog gets 0 USD and an ``unpriced:`` basis (counted in the run) rather
than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict

import psycopg

from infra.billing import ec2_instance_billed, exists, rds_billing, rds_instance_billed
from infra.costlines import CostLine, ec2_lines, in_month, rds_lines, storage_lines
from infra.prices import HOURS_PER_MONTH, PriceCatalog
from pipelines.observe.metrics.history import Segment, segments, states_between
from pipelines.observe.metrics.resources import Resource

#: Cost Explorer's SERVICE names for each resource type (budgets compare both).
SERVICE_NAMES = {
    "ec2:instance": "Amazon Elastic Compute Cloud - Compute",
    "ec2:volume": "EC2 - Other",
    "rds:db": "Amazon Relational Database Service",
    "s3:bucket": "Amazon Simple Storage Service",
}
#: S3 bills a GB of 2**30 bytes: the S3 FAQ's billing example counts "100 GB (107,374,182,400
#: bytes)" and divides byte-hours by "1,073,741,824 bytes/GB" (https://aws.amazon.com/s3/faqs/).
_GB = Decimal(2**30)


@dataclass(frozen=True)
class HourlyCost:
    """What one resource costs per hour in a state, and why: the sum of its cost lines.

    ``lines`` lists each charge (compute, storage, IOPS, throughput, Extended Support, detailed
    monitoring, log exports) with its USD per hour and basis (:mod:`infra.costlines`);
    ``priced`` is False when any line could not be priced (0 USD for it, never a guess).
    """

    usd: Decimal
    basis: str
    priced: bool = True
    lines: tuple[CostLine, ...] = ()


def _int(value: Any) -> int | None:
    """A Describe number (None when absent or 0: AWS reports 0 for none)."""
    return int(value) if isinstance(value, int | float) and value > 0 else None


def _summed(head: str, lines: list[CostLine], at: datetime | None) -> HourlyCost:
    """One HourlyCost from its lines; the basis starts with ``unpriced:`` when one is.

    With ``at`` (a past hour), monthly prices are prorated by the hours of that month.
    """
    if at is not None:
        lines = [in_month(line, at) for line in lines]
    unpriced = [line.basis for line in lines if line.kind == "unpriced"]
    parts = [line.basis for line in lines if line.kind != "unpriced"]
    basis = "; ".join([*unpriced, head, *parts]) if unpriced else "; ".join([head, *parts])
    usd = sum((line.usd for line in lines), Decimal(0))
    return HourlyCost(usd, basis, priced=not unpriced, lines=tuple(lines))


def hourly_cost(
    r: Resource, catalog: PriceCatalog, bucket_bytes: float | None, at: datetime | None = None
) -> HourlyCost:
    """The hourly cost of ``r`` in the state and attributes it carries.

    Args:
        r: the resource with the state and attributes in force for the hours priced.
        catalog: prices of the region.
        bucket_bytes: S3 only: the bucket's size.
        at: the hour priced; RDS Extended Support depends on the day (without it an
            instance on a major that enters Extended Support is unpriced for that line).
    """
    a = r.attributes
    if r.type == "rds:db":
        engine = str(a.get("engine") or "postgres")
        storage = (str(a.get("storage_type") or "gp3"), int(a.get("storage_gb") or 0),
                   _int(a.get("iops")), _int(a.get("throughput")))  # fmt: skip
        billed = rds_instance_billed(r.state)
        lines = rds_lines(
            catalog,
            instance_class=str(a.get("instance_class")),
            engine=engine,
            engine_version=a.get("engine_version"),
            multi_az=bool(a.get("multi_az")),
            storage=storage,
            log_exports=a.get("log_exports") or (),
            billed=billed,
            day=at.date() if at is not None else None,
        )
        return _summed(f"rds {'running' if billed else r.state}", lines, at)
    if r.type == "ec2:instance":
        itype = str(a.get("instance_type"))
        lines = ec2_lines(
            catalog,
            instance_type=itype,
            platform=a.get("platform"),
            monitoring=a.get("monitoring") == "enabled",
            billed=ec2_instance_billed(r.state),
        )
        return _summed(f"ec2 {itype} {r.state}", lines, at)
    if r.type == "ec2:volume":
        vtype, size = str(a.get("volume_type") or "gp3"), int(a.get("size_gb") or 0)
        lines = storage_lines(
            catalog, "ec2", vtype, size, _int(a.get("iops")), _int(a.get("throughput"))
        )
        return _summed(f"ebs {vtype}", lines, at)
    price = catalog.get("s3", "standard")
    gb = Decimal(str(bucket_bytes or 0)) / _GB
    if price is None:
        return HourlyCost(Decimal(0), "unpriced: s3 standard", priced=False)
    monthly = price.usd * gb
    line = CostLine(
        "storage",
        monthly / HOURS_PER_MONTH,
        f"s3 standard {gb:.3f} GB: {price.usd} USD/{price.unit}",
        monthly=monthly,
        per_month=True,
    )
    return _summed(line.basis, [line], at)


def _floor_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def covered_until(conn: psycopg.Connection[Any]) -> datetime | None:
    """End of the last complete day read from Cost Explorer (None before the first read)."""
    row = conn.execute("SELECT covered_until FROM costs.coverage").fetchone()
    return row[0] if row else None


#: What one estimate pass did. ``hours_estimated`` = rows written (``hours_final`` of them
#: final, never to be rewritten; ``hours_provisional`` priced with the latest known state and
#: recomputed by the next run); ``from``/``to`` (ISO) bound the hours a run may write
#: (functional form: ``from`` is a keyword).
EstimatesResult = TypedDict(
    "EstimatesResult",
    {
        "resources": int,
        "hours_estimated": int,
        "hours_final": int,
        "hours_provisional": int,
        "unpriced_resources": int,
        "ce_covered_until": str | None,
        "from": str,
        "to": str,
    },
)

_HOUR = timedelta(hours=1)
_SECONDS_PER_HOUR = Decimal(3600)
_FOREVER = datetime.max.replace(tzinfo=UTC)


def horizon(now: datetime) -> datetime:
    """The oldest hour a run writes: 00:00 UTC on the 1st of the previous month.

    Enough for the month being billed and the tail of the previous one (whose last hours
    become final only after the month has turned); older hours stay as they are.
    """
    first = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first - timedelta(days=1)).replace(day=1)


def _ceil_hour(ts: datetime) -> datetime:
    floor = _floor_hour(ts)
    return floor if floor == ts else floor + _HOUR


@dataclass(frozen=True)
class _Tracked:
    """A tagged resource as estimates see it: the row, and how far its history is known."""

    resource: Resource
    first_seen: datetime
    gone_at: datetime | None
    known_until: datetime
    """Observations reach here: hours ending at or before it are final."""


def _tracked(conn: psycopg.Connection[Any], start: datetime) -> list[_Tracked]:
    rows = conn.execute(
        "SELECT r.id, r.arn, r.type, r.resource_id, r.name, r.region, r.tags, r.state,"
        " r.attributes, r.first_seen, r.gone_at, greatest(r.last_seen,"
        " (SELECT max(since) FROM metrics.resource_states s WHERE s.resource_id = r.id))"
        " FROM metrics.resources r WHERE r.tagged AND (r.gone_at IS NULL OR r.gone_at > %s)"
        " ORDER BY r.id",
        (start,),
    ).fetchall()
    # A gone resource's history is complete: nothing after its deletion can change.
    return [
        _Tracked(Resource(*row[:9]), row[9], row[10], _FOREVER if row[10] else row[11])
        for row in rows
    ]


def _history(
    conn: psycopg.Connection[Any], t: _Tracked, start: datetime, end: datetime
) -> list[Segment]:
    """The resource's segments over [start, end); its row alone when it has no history yet.

    A resource written by something other than discovery (no ``metrics.resource_states`` row)
    is known only as it is now, since it was first seen, until it was found gone.
    """
    found = states_between(conn, t.resource.id, start, end)
    if (
        found
        or conn.execute(
            "SELECT 1 FROM metrics.resource_states WHERE resource_id = %s LIMIT 1", (t.resource.id,)
        ).fetchone()
    ):
        return found
    rows = [(t.first_seen, str(t.resource.state or "unknown"), dict(t.resource.attributes))]
    if t.gone_at is not None and t.gone_at > t.first_seen:
        rows.append((t.gone_at, "deleted", dict(t.resource.attributes)))
    return segments(rows, start, end)


def _bills_anything(rtype: str, state: str) -> bool:
    """Whether a resource of ``rtype`` in ``state`` is billed at all (it exists, RDS says so)."""
    if not exists(state):
        return False
    return rtype != "rds:db" or rds_billing(state) != "none"


@dataclass(frozen=True)
class _Hour:
    usd: Decimal
    basis: str
    priced: bool


def _price_hours(
    t: _Tracked,
    segs: list[Segment],
    catalog: PriceCatalog,
    bucket_bytes: float | None,
) -> dict[datetime, _Hour]:
    """Each hour touched by a billed segment: its hourly cost × the seconds spent in it / 3600.

    AWS bills RDS and EC2 (Linux) per second: a state change at 10:20 bills 20 minutes of the
    10:00 hour in the old state and 40 in the new one (:mod:`infra.billing`).
    """
    parts: dict[datetime, list[tuple[Decimal, HourlyCost]]] = {}
    for seg_start, seg_end, state, attrs in segs:
        if not _bills_anything(t.resource.type, state):
            continue
        in_force = replace(t.resource, state=state, attributes=attrs)
        by_day: dict[date, HourlyCost] = {}  # Extended Support depends on the day
        hour = _floor_hour(seg_start)
        while hour < seg_end:
            overlap = min(seg_end, hour + _HOUR) - max(seg_start, hour)
            fraction = Decimal(int(overlap.total_seconds())) / _SECONDS_PER_HOUR
            if fraction > 0:
                day = hour.date()
                if day not in by_day:
                    by_day[day] = hourly_cost(in_force, catalog, bucket_bytes, hour)
                parts.setdefault(hour, []).append((fraction, by_day[day]))
            hour += _HOUR
    out: dict[datetime, _Hour] = {}
    for hour, costs in parts.items():
        usd = sum((f * c.usd for f, c in costs), Decimal(0))
        if len(costs) == 1 and costs[0][0] == 1:
            basis = costs[0][1].basis
        else:
            basis = "; ".join(f"{c.basis} ({f * 60:.1f} min)" for f, c in costs)
        out[hour] = _Hour(usd, basis, all(c.priced for _, c in costs))
    return out


def estimate(
    conn: psycopg.Connection[Any], catalog: PriceCatalog, now: datetime
) -> EstimatesResult:
    """Price every provisional or missing complete hour of every tagged resource.

    Each hour is priced with the states and attributes in force *then*
    (``metrics.resource_states``), by the seconds spent in each. An hour that ends before the
    resource's latest observation (or any hour of a resource found gone) is final: written once,
    never rewritten. Later hours are provisional, priced with the latest known state, and
    replaced by the next run — as are those of a resource no longer tagged, which are dropped.
    An hour left unpriced (a price missing from the catalog) stays provisional whatever its
    state: the next run prices it once the catalog has the price (``prices --refresh``).
    """
    end = _floor_hour(now)
    start = horizon(now)
    coverage = covered_until(conn)
    tracked = _tracked(conn, start)
    sizes = _bucket_sizes(conn, now)
    # Recompute each resource from its first provisional hour (unpriced hours can sit before
    # final ones) or, when it has none, from the hour after its last final one.
    bounds = {
        rid: (last, first_open)
        for rid, last, first_open in conn.execute(
            "SELECT resource_id, max(hour) FILTER (WHERE final),"
            " min(hour) FILTER (WHERE NOT final) FROM costs.estimates WHERE hour >= %s"
            " GROUP BY resource_id",
            (start,),
        ).fetchall()
    }
    final = provisional = unpriced = 0
    with conn.transaction():
        conn.execute("DELETE FROM costs.estimates WHERE NOT final AND hour >= %s", (start,))
        for t in tracked:
            r_start = max(start, _floor_hour(t.first_seen))
            last, first_open = bounds.get(t.resource.id, (None, None))
            kept: set[datetime] = set()  # final hours inside the range: never rewritten
            if first_open is not None:
                r_start = max(r_start, first_open)
                kept = {
                    h
                    for (h,) in conn.execute(
                        "SELECT hour FROM costs.estimates WHERE resource_id = %s AND final"
                        " AND hour >= %s",
                        (t.resource.id, r_start),
                    )
                }
            elif last is not None:
                r_start = max(r_start, last + _HOUR)
            r_end = min(end, _ceil_hour(t.gone_at)) if t.gone_at else end
            if r_start >= r_end:
                continue
            segs = _history(conn, t, r_start, r_end)
            hours = _price_hours(t, segs, catalog, sizes.get(t.resource.id))
            unpriced += any(not h.priced for h in hours.values())
            rows = [
                (
                    t.resource.id,
                    hour,
                    SERVICE_NAMES[t.resource.type],
                    h.usd.quantize(Decimal("0.000001")),
                    h.basis,
                    h.priced and hour + _HOUR <= t.known_until,
                )
                for hour, h in sorted(hours.items())
                if hour not in kept
            ]
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO costs.estimates (resource_id, hour, service, usd, basis, final)"
                    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (resource_id, hour) DO NOTHING",
                    rows,
                )
            done = sum(r[5] for r in rows)
            final += done
            provisional += len(rows) - done
    return {
        "resources": len(tracked),
        "hours_estimated": final + provisional,
        "hours_final": final,
        "hours_provisional": provisional,
        "unpriced_resources": unpriced,
        "ce_covered_until": coverage.isoformat() if coverage else None,
        "from": start.isoformat(),
        "to": end.isoformat(),
    }


def _bucket_sizes(conn: psycopg.Connection[Any], now: datetime) -> dict[int, float]:
    """Latest BucketSizeBytes per bucket (S3 publishes it once a day)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (resource_id) resource_id, value FROM metrics.datapoints"
        " WHERE metric = 'BucketSizeBytes' AND stat = 'Average' AND ts > %s"
        " ORDER BY resource_id, ts DESC",
        (now - timedelta(days=7),),
    ).fetchall()
    return {int(r[0]): float(r[1]) for r in rows}
