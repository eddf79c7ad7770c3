"""Estimates: cost per resource per hour from uptime × the price catalog (``costs.estimates``).

Cost Explorer lags by a day and knows nothing of today; the dashboards still need today's
spend and a per-resource view. So every complete hour is estimated per resource:

* RDS: class price per hour (× 2 Multi-AZ) while ``available`` (or any running state), plus
  allocated storage × GB-month price / 730 always (a stopped instance still pays storage);
* EC2 instance: type price per hour while ``running``;
* EBS volume: size × GB-month price / 730;
* S3 bucket: latest ``BucketSizeBytes`` datapoint × GB-month price / 730.

Uptime comes from discovery: a resource counts from the hour it was first seen until it is
gone, in its last known state. Each run recomputes hours from the older of "CE coverage"
and "48 h ago", so hours CE has not covered yet are always fresh; older hours stay as they
were computed. A resource whose class is missing from the catalog gets 0 USD and an
``unpriced:`` basis (counted in the run) rather than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict

import psycopg

from infra.costlines import CostLine, ec2_lines, rds_lines, storage_lines
from infra.prices import HOURS_PER_MONTH, PriceCatalog
from pipelines.observe.metrics.resources import Resource

#: Cost Explorer's SERVICE names for each resource type (budgets compare both).
SERVICE_NAMES = {
    "ec2:instance": "Amazon Elastic Compute Cloud - Compute",
    "ec2:volume": "EC2 - Other",
    "rds:db": "Amazon Relational Database Service",
    "s3:bucket": "Amazon Simple Storage Service",
}
RECOMPUTE_HOURS = 48
_RUNNING_RDS = {"available", "backing-up", "modifying", "configuring-enhanced-monitoring"}
_GB = Decimal(1_000_000_000)


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


def _per_hour(monthly_per_gb: Decimal, gb: Decimal) -> Decimal:
    return monthly_per_gb * gb / HOURS_PER_MONTH


def _int(value: Any) -> int | None:
    """A Describe number (None when absent or 0: AWS reports 0 for none)."""
    return int(value) if isinstance(value, int | float) and value > 0 else None


def _rds_billed(state: str | None) -> bool:
    return state in _RUNNING_RDS


def _summed(head: str, lines: list[CostLine]) -> HourlyCost:
    """One HourlyCost from its lines; the basis starts with ``unpriced:`` when one is."""
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
        billed = _rds_billed(r.state)
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
        return _summed(f"rds {'running' if billed else r.state}", lines)
    if r.type == "ec2:instance":
        itype = str(a.get("instance_type"))
        lines = ec2_lines(
            catalog,
            instance_type=itype,
            platform=a.get("platform"),
            monitoring=a.get("monitoring") == "enabled",
            billed=r.state == "running",
        )
        return _summed(f"ec2 {itype} {r.state}", lines)
    if r.type == "ec2:volume":
        vtype, size = str(a.get("volume_type") or "gp3"), int(a.get("size_gb") or 0)
        lines = storage_lines(
            catalog, "ec2", vtype, size, _int(a.get("iops")), _int(a.get("throughput"))
        )
        return _summed(f"ebs {vtype}", lines)
    price = catalog.get("s3", "standard")
    gb = Decimal(str(bucket_bytes or 0)) / _GB
    if price is None:
        return HourlyCost(Decimal(0), "unpriced: s3 standard", priced=False)
    usd = _per_hour(price.usd, gb)
    line = CostLine("storage", usd, f"s3 standard {gb:.3f} GB", monthly=usd * HOURS_PER_MONTH)
    return HourlyCost(usd, line.basis, lines=(line,))


def _floor_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def covered_until(conn: psycopg.Connection[Any]) -> datetime | None:
    """End of the last complete day read from Cost Explorer (None before the first read)."""
    row = conn.execute("SELECT covered_until FROM costs.coverage").fetchone()
    return row[0] if row else None


#: What one estimate pass did; ``from``/``to`` (ISO) bound the hours recomputed (functional
#: form: ``from`` is a keyword).
EstimatesResult = TypedDict(
    "EstimatesResult",
    {
        "resources": int,
        "hours_estimated": int,
        "unpriced_resources": int,
        "ce_covered_until": str | None,
        "from": str,
        "to": str,
    },
)


def estimate(
    conn: psycopg.Connection[Any], catalog: PriceCatalog, now: datetime
) -> EstimatesResult:
    """Recompute the recent hours of every observed resource; return the run's details."""
    end = _floor_hour(now)
    coverage = covered_until(conn)
    start = end - timedelta(hours=RECOMPUTE_HOURS)
    if coverage is not None:
        start = min(start, coverage)
    rows = conn.execute(
        "SELECT id, arn, type, resource_id, name, region, tags, state, attributes, first_seen,"
        " gone_at FROM metrics.resources WHERE tagged AND (gone_at IS NULL OR gone_at > %s)",
        (start,),
    ).fetchall()
    sizes = _bucket_sizes(conn, now)
    hours = unpriced = 0
    with conn.transaction():
        # The window is recomputed from what is known now: hours estimated earlier for a
        # resource since found gone (or no longer tagged) must not survive the run.
        conn.execute("DELETE FROM costs.estimates WHERE hour >= %s AND hour < %s", (start, end))
        for row in rows:
            r = Resource(*row[:9])
            first, gone = _floor_hour(row[9]), row[10]
            r_start = max(start, first)
            r_end = min(end, _floor_hour(gone) + timedelta(hours=1)) if gone else end
            if r_start >= r_end:
                continue
            cost = hourly_cost(r, catalog, sizes.get(r.id), r_end - timedelta(hours=1))
            unpriced += not cost.priced
            cur = conn.execute(
                "INSERT INTO costs.estimates (resource_id, hour, service, usd, basis)"
                " SELECT %s, h, %s, %s, %s FROM generate_series(%s::timestamptz,"
                " %s::timestamptz - interval '1 hour', interval '1 hour') AS h"
                " ON CONFLICT (resource_id, hour) DO UPDATE SET usd = EXCLUDED.usd,"
                " service = EXCLUDED.service, basis = EXCLUDED.basis, computed_at = now()",
                (
                    r.id,
                    SERVICE_NAMES[r.type],
                    cost.usd.quantize(Decimal("0.000001")),
                    cost.basis,
                    r_start,
                    r_end,
                ),
            )
            hours += cur.rowcount
    return {
        "resources": len(rows),
        "hours_estimated": hours,
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
