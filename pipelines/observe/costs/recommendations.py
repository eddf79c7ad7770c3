"""Idle recommendations (``costs.recommendations``) with the monthly saving they would bring.

Rules, each over the last 7 days of ``metrics.datapoints`` (evidence required: datapoints
covering at least 90 % of the 7 days, so a resource discovered yesterday is not called idle):

* ``rds-idle``: an available RDS instance whose ``DatabaseConnections`` never exceeded 0 →
  stop or delete it (final snapshot first); saves the instance hours (× 2 Multi-AZ).
* ``ec2-low-cpu``: a running EC2 instance whose average ``CPUUtilization`` is below 5 % →
  stop it or move to a smaller type; saves up to its hours.
* ``ec2-stopped-volumes``: a stopped EC2 instance with volumes attached → snapshot and delete
  the volumes (or terminate); saves their GB-months.

A recommendation that no longer holds gets ``resolved_at``; one that holds again is reopened.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict

import psycopg
from psycopg.types.json import Jsonb

from infra.prices import HOURS_PER_MONTH, PriceCatalog
from pipelines.observe.metrics.resources import Resource

WINDOW = timedelta(days=7)
MIN_COVERAGE = 0.9
LOW_CPU_PERCENT = 5.0


@dataclass(frozen=True)
class Recommendation:
    """One finding."""

    resource: int
    kind: str
    action: str
    monthly_saving_usd: Decimal
    evidence: dict[str, Any]


@dataclass(frozen=True)
class Evidence:
    """Aggregates of one metric of one resource over the window."""

    datapoints: int
    first: datetime
    avg: float
    max: float


class Recommender:
    """Applies the rules to the observed resources."""

    def __init__(self, conn: psycopg.Connection[Any], catalog: PriceCatalog, now: datetime) -> None:
        self.conn = conn
        self.catalog = catalog
        self.now = now

    def _evidence(self, resource: int, metric: str, stat: str) -> Evidence | None:
        row = self.conn.execute(
            "SELECT count(*), min(ts), avg(value), max(value) FROM metrics.datapoints"
            " WHERE resource_id = %s AND metric = %s AND stat = %s AND ts >= %s AND ts < %s",
            (resource, metric, stat, self.now - WINDOW, self.now),
        ).fetchone()
        if not row or not row[0]:
            return None
        ev = Evidence(int(row[0]), row[1], float(row[2]), float(row[3]))
        covered = (self.now - ev.first) / WINDOW
        return ev if covered >= MIN_COVERAGE else None

    def _resources(self) -> list[Resource]:
        rows = self.conn.execute(
            "SELECT id, arn, type, resource_id, name, region, tags, state, attributes"
            " FROM metrics.resources WHERE tagged AND gone_at IS NULL ORDER BY id"
        ).fetchall()
        return [Resource(*r) for r in rows]

    def find(self) -> Iterator[Recommendation]:
        """Every recommendation that holds now."""
        for r in self._resources():
            if r.type == "rds:db" and r.state == "available":
                yield from self._rds_idle(r)
            elif r.type == "ec2:instance" and r.state == "running":
                yield from self._ec2_low_cpu(r)
            elif r.type == "ec2:instance" and r.state == "stopped":
                yield from self._stopped_volumes(r)

    def _rds_idle(self, r: Resource) -> Iterator[Recommendation]:
        ev = self._evidence(r.id, "DatabaseConnections", "Maximum") or self._evidence(
            r.id, "DatabaseConnections", "Average"
        )
        if ev is None or ev.max > 0:
            return
        klass, engine = (
            str(r.attributes.get("instance_class")),
            str(r.attributes.get("engine") or "postgres"),
        )
        price = self.catalog.get("rds", klass, engine)
        factor = 2 if r.attributes.get("multi_az") else 1
        saving = price.usd * HOURS_PER_MONTH * factor if price else Decimal(0)
        yield Recommendation(
            r.id,
            "rds-idle",
            f"no connections for 7 days: stop or delete {r.resource_id} (final snapshot first)",
            saving.quantize(Decimal("0.01")),
            {
                "datapoints": ev.datapoints,
                "since": ev.first.isoformat(),
                "max_connections": ev.max,
                "instance_class": klass,
                "priced": price is not None,
            },
        )

    def _ec2_low_cpu(self, r: Resource) -> Iterator[Recommendation]:
        ev = self._evidence(r.id, "CPUUtilization", "Average")
        if ev is None or ev.avg >= LOW_CPU_PERCENT:
            return
        itype = str(r.attributes.get("instance_type"))
        price = self.catalog.get("ec2", itype, "linux")
        saving = price.usd * HOURS_PER_MONTH if price else Decimal(0)
        yield Recommendation(
            r.id,
            "ec2-low-cpu",
            f"average CPU {ev.avg:.1f} % over 7 days: stop {r.resource_id} or use a smaller type",
            saving.quantize(Decimal("0.01")),
            {
                "datapoints": ev.datapoints,
                "since": ev.first.isoformat(),
                "avg_cpu": ev.avg,
                "instance_type": itype,
                "priced": price is not None,
            },
        )

    def _stopped_volumes(self, r: Resource) -> Iterator[Recommendation]:
        ids = list(r.attributes.get("volume_ids") or [])
        if not ids:
            return
        rows = self.conn.execute(
            "SELECT resource_id, attributes FROM metrics.resources"
            " WHERE type = 'ec2:volume' AND resource_id = ANY(%s) AND gone_at IS NULL",
            (ids,),
        ).fetchall()
        saving = Decimal(0)
        sizes: dict[str, int] = {}
        for vid, attrs in rows:
            gb = int(attrs.get("size_gb") or 0)
            price = self.catalog.get("ebs", str(attrs.get("volume_type") or "gp3"))
            sizes[vid] = gb
            saving += price.usd * gb if price else Decimal(0)
        yield Recommendation(
            r.id,
            "ec2-stopped-volumes",
            f"{r.resource_id} is stopped with {len(ids)} volume(s) attached: snapshot and delete"
            " them, or terminate the instance",
            saving.quantize(Decimal("0.01")),
            {"volumes": ids, "sizes_gb": sizes, "unknown_sizes": sorted(set(ids) - set(sizes))},
        )


class RecommendResult(TypedDict):
    """What ``costs.recommend`` records: open and resolved recommendations, saving per month."""

    open: int
    resolved: int
    monthly_saving_usd: float
    by_kind: dict[str, int]


def recommend(
    conn: psycopg.Connection[Any], catalog: PriceCatalog, now: datetime
) -> RecommendResult:
    """Write the current recommendations, resolve the stale ones; return the run's details."""
    found = list(Recommender(conn, catalog, now).find())
    with conn.transaction():
        for rec in found:
            conn.execute(
                "INSERT INTO costs.recommendations (resource_id, kind, action, monthly_saving_usd,"
                " evidence, first_seen, last_seen) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (resource_id, kind) DO UPDATE SET action = EXCLUDED.action,"
                " monthly_saving_usd = EXCLUDED.monthly_saving_usd, evidence = EXCLUDED.evidence,"
                " last_seen = EXCLUDED.last_seen, resolved_at = NULL",
                (
                    rec.resource,
                    rec.kind,
                    rec.action,
                    rec.monthly_saving_usd,
                    Jsonb(rec.evidence),
                    now,
                    now,
                ),
            )
        resolved = conn.execute(
            "UPDATE costs.recommendations SET resolved_at = %s WHERE resolved_at IS NULL"
            " AND NOT ((resource_id, kind) IN (SELECT * FROM unnest(%s::bigint[], %s::text[])))",
            (now, [r.resource for r in found], [r.kind for r in found]),
        ).rowcount
    return {
        "open": len(found),
        "resolved": resolved,
        "monthly_saving_usd": float(sum((r.monthly_saving_usd for r in found), Decimal(0))),
        "by_kind": {
            k: sum(1 for r in found if r.kind == k) for k in sorted({r.kind for r in found})
        },
    }
