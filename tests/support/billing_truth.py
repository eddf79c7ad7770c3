"""The billing-truth month: a seeded estate's November 2026 and what AWS bills for it.

Issue 14's acceptance scenario. One description — each resource's **timeline** of states and
priced attributes — feeds three things:

* the state history the product reads (``metrics.resource_states``, seeded through
  ``pipelines.observe.metrics.history.record_state`` by the integration test);
* Cost Explorer's lines for every complete day (usage per service and day, tagged
  ``project=locxia``), plus a credit, daily tax and a partial newest day;
* the **truth**: what AWS bills for those timelines, computed here, independently of the
  product: prices parsed straight from ``infra/data/prices-eu-west-3.csv`` (not through
  ``infra.prices.PriceCatalog``), billable states and proration written from AWS's pages
  (cited next to each rule), per second, never by the product's ``infra.billing`` or
  ``estimates``.

Everything here is pure (no database, no AWS): ``tests/unit/test_billing_truth_model.py``
checks the model against days computed by hand.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PRICES_CSV = ROOT / "infra" / "data" / "prices-eu-west-3.csv"

MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)
MONTH_END = datetime(2026, 12, 1, tzinfo=UTC)
#: "Today": the costs job runs at 10:00 and at 23:00 of this day.
TODAY = datetime(2026, 11, 24, tzinfo=UTC)
RUNS = (TODAY + timedelta(hours=10), TODAY + timedelta(hours=23))
#: Cost Explorer's newest day (yesterday) carries only part of its usage: AWS updates cost
#: data at least once every 24 hours, so the newest day is still filling in
#: (https://docs.aws.amazon.com/cost-management/latest/userguide/ce-exploring-data.html).
CE_PARTIAL_DAY = date(2026, 11, 23)
CE_PARTIAL_SHARE = Decimal("0.55")
#: A promotional credit posted on the 1st, and VAT (20 % in France) on every day's usage.
CREDIT_DAY, CREDIT_USD = date(2026, 11, 1), Decimal("-50")
TAX_RATE = Decimal("0.20")
TAG = {"project": "locxia"}

HOUR = Decimal(3600)
#: AWS's storage "GB" for S3 is 2^30 bytes: the S3 FAQ's billing example converts byte-hours
#: with "1 GB / 1,073,741,824 bytes" (https://aws.amazon.com/s3/faqs/, "Billing").
GIB = Decimal(2**30)

#: Cost Explorer SERVICE names (the values its SERVICE dimension takes).
RDS_SERVICE = "Amazon Relational Database Service"
EC2_SERVICE = "Amazon Elastic Compute Cloud - Compute"
EBS_SERVICE = "EC2 - Other"
S3_SERVICE = "Amazon Simple Storage Service"
CLOUDWATCH_SERVICE = "AmazonCloudWatch"
TAX_SERVICE = "Tax"

#: Detailed monitoring: 7 EC2 metrics at 1-minute resolution, billed as custom metrics at
#: 0.30 USD per metric-month, prorated by the hour (Amazon CloudWatch pricing, "Example 1 -
#: EC2 Detailed Monitoring": 7 metrics x 0.30 = 2.10 USD a month per instance,
#: https://aws.amazon.com/cloudwatch/pricing/). Read from the price list when it has the row.
DETAILED_MONITORING_METRICS = 7
DETAILED_MONITORING_USD_PER_METRIC = Decimal("0.30")

Prices = dict[tuple[str, str, str], Decimal]


def load_prices(path: Path = PRICES_CSV) -> Prices:
    """``(service, item, variant) -> USD`` read from the shipped CSV as plain text."""
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    out: Prices = {}
    for row in csv.reader(lines):
        service, item, variant, _unit, usd = row
        out[(service, item, variant)] = Decimal(usd)
    return out


def month_hours(at: datetime) -> Decimal:
    """Hours in ``at``'s calendar month (720 in November).

    Storage priced per GB-month is prorated over the hours of the actual month: the EBS
    pricing page's example bills 2,000 GB for 12 hours as ``GB x price x 43,200 s / (86,400 s
    x 30-day month)`` (https://aws.amazon.com/ebs/pricing/), and the S3 FAQ divides byte-hours
    by the month's hours (744 for March) (https://aws.amazon.com/s3/faqs/).
    """
    start = datetime(at.year, at.month, 1, tzinfo=UTC)
    nxt = datetime(at.year + (at.month == 12), at.month % 12 + 1, 1, tzinfo=UTC)
    return Decimal((nxt - start).days * 24)


def rds_billed(state: str) -> bool:
    """Instance hours are billed in every state but the stop cycle's (and after deletion).

    The "Billed" column of the DB instance status table (Amazon RDS User Guide, "Viewing
    Amazon RDS DB instance status") says "Billed for storage" for ``starting``, ``stopping``
    and ``stopped``, "Billed" for ``available``, ``modifying``, ``storage-optimization``,
    ``upgrading``, ``rebooting``…; "While your DB instance is stopped, you are charged for
    provisioned storage ... but not for DB instance hours" ("Stopping an Amazon RDS DB instance
    temporarily"). Per second (https://aws.amazon.com/rds/postgresql/pricing/).
    """
    return state not in {"starting", "stopping", "stopped", "deleted"}


def ec2_billed(state: str) -> bool:
    """Linux on-demand instances are billed per second while ``running`` only.

    Amazon EC2 User Guide, "Amazon EC2 instance state changes": "pending ... not billed",
    "running ... billed", "stopping/stopped/shutting-down/terminated ... not billed" (the
    ``stopping`` to hibernate case aside).
    """
    return state == "running"


@dataclass(frozen=True)
class Change:
    """From ``at`` on, the resource is in ``state`` with ``attributes`` (all of them)."""

    at: datetime
    state: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Timeline:
    """One resource's month: its changes in time order, the first at or before the month."""

    name: str
    kind: str  # rds | ec2 | ebs | s3
    region: str
    changes: tuple[Change, ...]
    #: Gone from then on (EC2 terminated, RDS deleted): nothing is billed after it.
    gone_at: datetime | None = None

    def known_at(self, now: datetime) -> list[Change]:
        """The changes that have happened by ``now`` (what may be recorded at ``now``)."""
        return [c for c in self.changes if c.at <= now]

    def segments(
        self, start: datetime, end: datetime
    ) -> Iterator[tuple[datetime, datetime, str, dict[str, Any]]]:
        """``(from, to, state, attributes)`` covering ``[start, end)`` (until gone)."""
        stop = min(end, self.gone_at) if self.gone_at else end
        for i, change in enumerate(self.changes):
            nxt = self.changes[i + 1].at if i + 1 < len(self.changes) else stop
            lo, hi = max(change.at, start), min(nxt, stop)
            if lo < hi:
                yield lo, hi, change.state, change.attributes


def _seconds(lo: datetime, hi: datetime) -> Decimal:
    return Decimal(int((hi - lo).total_seconds()))


def rates(
    tl: Timeline, state: str, attrs: dict[str, Any], prices: Prices, hours: Decimal
) -> dict[str, Decimal]:
    """USD per hour by Cost Explorer service while ``tl`` is in ``state`` with ``attrs``."""
    if tl.kind == "rds":
        engine = str(attrs.get("engine") or "postgres")
        # Multi-AZ: "the price is double" for instance and storage (RDS pricing page,
        # "Multi-AZ deployments"); the shipped price list says the same in its header.
        factor = Decimal(2 if attrs.get("multi_az") else 1)
        gb = Decimal(attrs["storage_gb"])
        storage = prices[("rds-storage", str(attrs["storage_type"]), engine)] * gb / hours
        compute = prices[("rds", str(attrs["instance_class"]), engine)]
        usd = (compute if rds_billed(state) else Decimal(0)) + storage
        return {RDS_SERVICE: usd * factor}
    if tl.kind == "ec2":
        out = {EC2_SERVICE: Decimal(0)}
        if ec2_billed(state):
            out[EC2_SERVICE] = prices[("ec2", str(attrs["instance_type"]), "linux")]
        if attrs.get("monitoring") == "enabled":
            monthly = prices.get(("cloudwatch", "detailed-monitoring", ""))
            if monthly is None:
                monthly = DETAILED_MONITORING_USD_PER_METRIC * DETAILED_MONITORING_METRICS
            out[CLOUDWATCH_SERVICE] = monthly / hours
        return out
    if tl.kind == "ebs":  # billed while provisioned, attached or not (EBS pricing page)
        gb = Decimal(attrs["size_gb"])
        return {EBS_SERVICE: prices[("ebs", str(attrs["volume_type"]), "")] * gb / hours}
    size = Decimal(attrs["size_bytes"]) / GIB
    return {S3_SERVICE: prices[("s3", "standard", "")] * size / hours}


def cost(tl: Timeline, start: datetime, end: datetime, prices: Prices) -> dict[str, Decimal]:
    """What AWS bills for ``tl`` over ``[start, end)``, by Cost Explorer service."""
    out: dict[str, Decimal] = {}
    for lo, hi, state, attrs in tl.segments(start, end):
        for service, per_hour in rates(tl, state, attrs, prices, month_hours(lo)).items():
            out[service] = out.get(service, Decimal(0)) + per_hour * _seconds(lo, hi) / HOUR
    return out


def total(tl: Timeline, start: datetime, end: datetime, prices: Prices) -> Decimal:
    """Every service of ``cost`` added up."""
    return sum(cost(tl, start, end, prices).values(), Decimal(0))


def days(start: datetime, end: datetime) -> Iterator[datetime]:
    """Midnights (UTC) from ``start`` to ``end`` exclusive."""
    day = start
    while day < end:
        yield day
        day += timedelta(days=1)


# --------------------------------------------------------------------------------------------
# The estate
# --------------------------------------------------------------------------------------------

REGION = "eu-west-3"
SECOND_REGION = "eu-central-1"
RDS_BASE = {
    "instance_class": "db.r6g.large",
    "engine": "postgres",
    "multi_az": False,
    "storage_gb": 100,
    "storage_type": "gp3",
}
STORAGE_CHANGE = datetime(2026, 11, 10, 14, 0, tzinfo=UTC)
MODIFYING = timedelta(minutes=20)
#: Storage optimization follows every storage change and can take hours or days (Amazon RDS
#: User Guide, "Working with storage for Amazon RDS DB instances", "storage-optimization");
#: the instance cannot be stopped meanwhile, so the nightly stop waits for its end.
OPTIMIZATION = timedelta(hours=30)
ETL_DELETED = datetime(2026, 11, 12, 9, 30, tzinfo=UTC)
#: Nightly stop window: the scheduler stops at 20:00 and starts at 07:00 UTC; each transition
#: state lasts a few minutes (storage only, as ``stopped``: :func:`rds_billed`).
STOP_AT, STOPPING = timedelta(hours=20), timedelta(minutes=6)
START_AT, STARTING = timedelta(hours=7), timedelta(minutes=9)


def _work_db() -> Timeline:
    big = {**RDS_BASE, "storage_gb": 200}
    optimized_until = STORAGE_CHANGE + MODIFYING + OPTIMIZATION  # 11th, 20:20
    changes = [Change(MONTH_START, "stopped", dict(RDS_BASE))]  # stopped since the 31st
    for day in days(MONTH_START, MONTH_END):
        attrs = big if day > STORAGE_CHANGE else RDS_BASE
        busy = STORAGE_CHANGE < day + START_AT < optimized_until
        if not busy:
            changes.append(Change(day + START_AT, "starting", dict(attrs)))
            changes.append(Change(day + START_AT + STARTING, "available", dict(attrs)))
        if day.date() == STORAGE_CHANGE.date():
            changes.append(Change(STORAGE_CHANGE, "modifying", dict(big)))
            changes.append(Change(STORAGE_CHANGE + MODIFYING, "storage-optimization", dict(big)))
            continue  # no stop tonight: the instance is optimizing
        stop = max(day + STOP_AT, optimized_until) if busy else day + STOP_AT
        if busy and stop >= day + timedelta(days=1):
            continue
        changes.append(Change(stop, "stopping", dict(attrs)))
        changes.append(Change(stop + STOPPING, "stopped", dict(attrs)))
    return Timeline("work-db", "rds", REGION, tuple(changes))


def _always(name: str, kind: str, state: str, attrs: dict[str, Any], region: str) -> Timeline:
    return Timeline(name, kind, region, (Change(MONTH_START, state, attrs),))


def estate() -> list[Timeline]:
    """The billing-truth month's resources, every one tagged ``project=locxia``."""
    etl = Timeline(
        "etl",
        "ec2",
        REGION,
        (
            Change(
                MONTH_START, "running", {"instance_type": "c6i.large", "monitoring": "disabled"}
            ),
            Change(
                ETL_DELETED, "terminated", {"instance_type": "c6i.large", "monitoring": "disabled"}
            ),
        ),
        gone_at=ETL_DELETED,
    )
    return [
        _work_db(),
        _always(
            "web", "ec2", "running", {"instance_type": "m6i.large", "monitoring": "enabled"}, REGION
        ),
        _always(
            "api",
            "ec2",
            "running",
            {"instance_type": "t3.medium", "monitoring": "disabled"},
            REGION,
        ),
        etl,
        _always("data-vol", "ebs", "available", {"volume_type": "gp3", "size_gb": 2000}, REGION),
        _always("locxia-archive", "s3", "available", {"size_bytes": 250 * 2**30}, REGION),
        _always("locxia-replica", "s3", "available", {"size_bytes": 2**30}, SECOND_REGION),
    ]


# --------------------------------------------------------------------------------------------
# Cost Explorer's lines, from the same timelines
# --------------------------------------------------------------------------------------------


def _amount(usd: Decimal) -> str:
    return str(usd.quantize(Decimal("0.0000000001")))


def ce_lines(
    timelines: Iterable[Timeline],
    prices: Prices,
    partial_day: date = CE_PARTIAL_DAY,
    partial_share: Decimal = CE_PARTIAL_SHARE,
) -> list[dict[str, Any]]:
    """The contract-2 seed lines: every day of the month before ``partial_day`` complete,
    ``partial_day`` with ``partial_share`` of its usage, plus a credit and daily tax."""
    timelines = list(timelines)
    lines: list[dict[str, Any]] = []
    end = datetime(partial_day.year, partial_day.month, partial_day.day, tzinfo=UTC)
    for day in days(MONTH_START, end + timedelta(days=1)):
        share = partial_share if day == end else Decimal(1)
        per_service: dict[str, Decimal] = {}
        for tl in timelines:
            for service, usd in cost(tl, day, day + timedelta(days=1), prices).items():
                per_service[service] = per_service.get(service, Decimal(0)) + usd * share
        iso = day.date().isoformat()
        for service, usd in sorted(per_service.items()):
            lines.append(_line(iso, service, "Usage", usd, TAG))
        tax = sum(per_service.values(), Decimal(0)) * TAX_RATE
        lines.append(_line(iso, TAX_SERVICE, "Tax", tax, {}))  # tax carries no resource tag
        if day.date() == CREDIT_DAY:
            # Credits applied to the project's usage are grouped under its tag: the worst case
            # for a reader that does not filter RECORD_TYPE (its 1st goes negative).
            lines.append(_line(iso, RDS_SERVICE, "Credit", CREDIT_USD, TAG))
    return lines


def _line(
    day: str, service: str, record_type: str, usd: Decimal, tags: dict[str, str]
) -> dict[str, Any]:
    return {
        "day": day,
        "service": service,
        "record_type": record_type,
        "tags": dict(tags),
        "unblended": _amount(usd),
    }


# --------------------------------------------------------------------------------------------
# The truth figures a run at ``now`` must show
# --------------------------------------------------------------------------------------------


@dataclass
class Truth:
    """What AWS bills, as the product's figures define them at ``now`` (contract 3)."""

    now: datetime
    per_resource: dict[str, Decimal] = field(default_factory=dict)  # month start -> now
    per_resource_before: dict[str, Decimal] = field(default_factory=dict)  # -> today 00:00
    per_resource_month: dict[str, Decimal] = field(default_factory=dict)  # whole month
    daily: dict[date, Decimal] = field(default_factory=dict)  # complete days before today
    spend_to_date: Decimal = Decimal(0)  # month start -> last complete hour
    spend_through_yesterday: Decimal = Decimal(0)
    forecast: Decimal = Decimal(0)  # contract 3's formula applied to the true days
    month_total: Decimal = Decimal(0)  # what the month actually costs


RUN_RATE_DAYS = 7


def truth(timelines: Iterable[Timeline], prices: Prices, now: datetime) -> Truth:
    """The true figures at ``now``: usage only (no credit, no tax), per second."""
    timelines = list(timelines)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    out = Truth(now)
    for tl in timelines:
        out.per_resource[tl.name] = total(tl, MONTH_START, hour, prices)
        out.per_resource_before[tl.name] = total(tl, MONTH_START, today, prices)
        out.per_resource_month[tl.name] = total(tl, MONTH_START, MONTH_END, prices)
    for day in days(MONTH_START, today):
        end = day + timedelta(days=1)
        out.daily[day.date()] = sum((total(tl, day, end, prices) for tl in timelines), Decimal(0))
    out.spend_through_yesterday = sum(out.daily.values(), Decimal(0))
    out.spend_to_date = sum(out.per_resource.values(), Decimal(0))
    recent = [out.daily[(today - timedelta(days=i)).date()] for i in range(1, RUN_RATE_DAYS + 1)]
    days_left = (MONTH_END - today).days
    out.forecast = out.spend_through_yesterday + sum(recent, Decimal(0)) / RUN_RATE_DAYS * days_left
    out.month_total = sum(out.per_resource_month.values(), Decimal(0))
    return out
