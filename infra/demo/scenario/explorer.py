"""Cost Explorer line items for the scenario's estate, seeded in the stand-in AWS.

The gap server's Cost Explorer (:mod:`infra.demo.gaps.ce`) answers ``GetCostAndUsage`` from
line items, honouring period, filter and grouping. So the scenario computes what AWS would
bill for the estate — the price catalog's on-demand prices × 24 hours, storage prorated per
day — and seeds one ``Usage`` line per resource, service and day (:func:`seed_body`), tagged
with the Locxia tag (active) and the resource's ``Name``. :func:`cost_and_usage` shapes the
same lines as a response, for the unit tests of the figures.

The figures are consistent by construction: for every day, any grouping (per service, per
resource ``Name`` tag, per service and Locxia tag) adds up to the same total, and covers the
tagged resources only (a collector filters on the Locxia tag).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from infra.aws import AwsClients, aws_errors
from infra.demo.gaps import post_seed
from infra.demo.scenario.datapoints import bucket_gib, days_since
from infra.demo.scenario.estate import DemoResource, Estate
from infra.errors import AwsError, DemoError
from infra.prices import PriceCatalog

GroupBy = Literal["SERVICE", "TAG:Name", "SERVICE,TAG"]

#: The order of the queued responses (moto hands out one per distinct request). The collector
#: (``costs.explorer``) asks once per tag key, grouped by service and by the Locxia tag.
REQUEST_ORDER: tuple[GroupBy, ...] = ("SERVICE,TAG",)
COST_METRICS = ("AmortizedCost", "BlendedCost", "NetUnblendedCost", "UnblendedCost")
SERVICES = {
    "rds": "Amazon Relational Database Service",
    "ec2": "Amazon Elastic Compute Cloud - Compute",
    "ebs": "EC2 - Other",
    "s3": "Amazon Simple Storage Service",
}
ESTIMATED_DAYS = 3  # AWS revises the last days: they come back flagged as estimates
MARKER = "/locxia-demo/cost-explorer-queue"  # SSM parameter: digest of what was queued
_CENT = Decimal("0.0000000001")  # Cost Explorer returns amounts with 10 decimals


@dataclass(frozen=True)
class CostLine:
    """What one resource cost on one day under one Cost Explorer service."""

    day: date
    resource: str
    service: str
    usd: Decimal


def billing_days(today: date, lag_days: int = 1) -> list[date]:
    """Days Cost Explorer has: the month to date, at least the last week, up to its lag.

    Args:
        today: the day it is.
        lag_days: how many days back Cost Explorer's last day is (1: yesterday; the tests'
            week uses 2, so that hours past Cost Explorer's last day are estimated).
    """
    first = min(today.replace(day=1), today - timedelta(days=7))
    last = today - timedelta(days=lag_days)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def cost_lines(
    estate: Estate, catalog: PriceCatalog, days: Iterable[date], origin: datetime
) -> list[CostLine]:
    """Daily cost of every tagged resource, from the price catalog.

    Args:
        estate: the estate (untagged neighbours are left out, as a tag filter would).
        catalog: prices of the estate's region.
        days: the days to bill.
        origin: when the metrics window opened (bucket sizes grow from there).

    Raises:
        InputError: a class, type or storage class is not in the catalog.
    """
    out: list[CostLine] = []
    for day in days:
        month_days = Decimal(calendar.monthrange(day.year, day.month)[1])
        for resource in estate.tagged:
            for service, usd in _daily(resource, catalog, day, month_days, origin):
                out.append(CostLine(day, resource.name, service, usd.quantize(_CENT)))
    return out


def _daily(
    resource: DemoResource, catalog: PriceCatalog, day: date, month_days: Decimal, origin: datetime
) -> list[tuple[str, Decimal]]:
    hours = Decimal(24)
    if resource.kind == "rds":
        instance = catalog.require("rds", resource.size, "postgres").usd * hours
        gb_month = catalog.require("rds-storage", "gp3", "postgres").usd
        return [(SERVICES["rds"], instance + gb_month * resource.storage_gb / month_days)]
    if resource.kind == "ec2":
        instance = catalog.require("ec2", resource.size, "linux").usd * hours
        volume = catalog.require("ebs", "gp3").usd * resource.storage_gb / month_days
        return [(SERVICES["ec2"], instance), (SERVICES["ebs"], volume)]
    if resource.kind == "ebs":
        volume = catalog.require("ebs", resource.size).usd * resource.storage_gb / month_days
        return [(SERVICES["ebs"], volume)]
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    gib = Decimal(str(round(bucket_gib(resource, days_since(midnight, origin)), 6)))
    return [(SERVICES["s3"], catalog.require("s3", resource.size).usd * gib / month_days)]


def cost_and_usage(
    lines: Sequence[CostLine],
    group_by: GroupBy,
    today: date,
    tag: tuple[str, str] = ("project", "locxia"),
) -> dict[str, Any]:
    """A ``GetCostAndUsage`` response body, daily, in one of the groupings.

    ``SERVICE``, ``TAG:Name`` (per resource), or ``SERVICE,TAG``: per service and Locxia
    ``tag`` (key, value) — every line is of a tagged resource, so all share that tag value.
    """
    sums: dict[date, dict[tuple[str, ...], Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for line in lines:
        key: tuple[str, ...] = {
            "SERVICE": (line.service,),
            "TAG:Name": (f"Name${line.resource}",),
            "SERVICE,TAG": (line.service, f"{tag[0]}${tag[1]}"),
        }[group_by]
        sums[line.day][key] += line.usd
    definitions = {
        "SERVICE": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        "TAG:Name": [{"Type": "TAG", "Key": "Name"}],
        "SERVICE,TAG": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "TAG", "Key": tag[0]}],
    }[group_by]
    return {
        "GroupDefinitions": definitions,
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(1)).isoformat()},
                "Total": {},
                "Groups": [
                    {"Keys": list(key), "Metrics": _metrics(amount)}
                    for key, amount in sorted(sums[day].items())
                ],
                "Estimated": (today - day).days <= ESTIMATED_DAYS,
            }
            for day in sorted(sums)
        ],
        "DimensionValueAttributes": [],
    }


def _metrics(amount: Decimal) -> dict[str, dict[str, str]]:
    # On-demand only (no reservations, no credits): every cost metric is the same amount.
    return {m: {"Amount": f"{amount:.10f}", "Unit": "USD"} for m in COST_METRICS}


def results(
    lines: Sequence[CostLine], today: date, tag: tuple[str, str] = ("project", "locxia")
) -> list[dict[str, Any]]:
    """The responses to queue, in :data:`REQUEST_ORDER`."""
    return [cost_and_usage(lines, group_by, today, tag) for group_by in REQUEST_ORDER]


def seed_body(
    lines: Sequence[CostLine], today: date, tag: tuple[str, str] = ("project", "locxia")
) -> dict[str, Any]:
    """The Cost Explorer seed (:mod:`infra.demo.gaps.ce`): the lines, the tag active."""
    return {
        "lines": [
            {
                "day": line.day.isoformat(),
                "service": line.service,
                "record_type": "Usage",
                "tags": {tag[0]: tag[1], "Name": line.resource},
                "unblended": f"{line.usd:.10f}",
            }
            for line in lines
        ],
        "tags": [{"TagKey": tag[0], "Status": "Active", "Type": "UserDefined"}],
        "estimated_from": (today - timedelta(days=ESTIMATED_DAYS)).isoformat(),
    }


def digest(payload: Any) -> str:
    """A stable fingerprint of queued responses (to skip queueing them twice)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def queue_results(clients: AwsClients, endpoint: str, payload: dict[str, Any]) -> bool:
    """Seed ``payload`` (:func:`seed_body`) in the stand-in unless the same was seeded already.

    The fingerprint of what was queued is kept in the stand-in's own SSM Parameter Store, so
    a second run against the same server queues nothing.

    Returns:
        True when the responses were queued, False when they already were.

    Raises:
        DemoError: the stand-in refused the queue request.
        AwsError: the SSM marker could not be read or written.
    """
    ssm = clients.client("ssm", role="write")
    fingerprint = digest(payload)
    current: str | None = None
    try:
        with aws_errors("ssm", "GetParameter"):
            current = ssm.get_parameter(Name=MARKER)["Parameter"]["Value"]
    except AwsError as exc:
        if exc.code != "ParameterNotFound":
            raise
    if current == fingerprint:
        return False
    queue(endpoint, payload)
    with aws_errors("ssm", "PutParameter"):
        ssm.put_parameter(Name=MARKER, Value=fingerprint, Type="String", Overwrite=True)
    return True


def queue(endpoint: str, payload: dict[str, Any]) -> None:
    """Seed ``payload`` (:func:`seed_body`) in the Cost Explorer of the gap server at ``endpoint``.

    Raises:
        DemoError: the stand-in refused or could not be reached.
    """
    try:
        post_seed(endpoint, "ce", payload)
    except (urllib.error.URLError, OSError) as exc:
        raise DemoError(f"cannot seed Cost Explorer at {endpoint}: {exc}") from exc
