"""Cost lines: every charge a resource's configuration turns on, per hour, priced from the catalog.

Both sides price the same lines: *observe* estimates each hour of a resource with the attributes
Describe gave, *shape* previews a plan's monthly delta with the attributes Terraform plans. So
the rules live here, in the core, next to the catalog; neither side imports the other.

A line is one of three kinds:

* ``priced``: catalog price × quantity (per hour, or per month / 730 — AWS's convention);
* ``unpriced``: the charge exists but the catalog has no row for it (or its quantity is
  unknown): 0 USD, a reason, and the resource counts as unpriced — never a guess;
* ``declared``: the charge exists, its unit price is known, but its volume cannot be read
  offline (CloudWatch Logs bytes a database writes): 0 USD, shown so the gap between Cost
  Explorer and the estimates is explained, not hidden.

Rules, each with its source:

* EC2 detailed monitoring is billed as CloudWatch custom metrics, prorated by the hour while the
  instance sends them (running); Amazon CloudWatch pricing https://aws.amazon.com/cloudwatch/pricing/
  ("Example: EC2 Detailed Monitoring" counts 7 metrics per instance at the per-metric-month
  price). The free tier (10 metrics per account) and the volume tiers above 10,000 metrics are
  not modelled: the first tier's price applies to every metric.
* EC2 compute is priced by ``PlatformDetails`` (DescribeInstances; values listed in the EC2 User
  Guide, "AMI billing information fields"): each platform has its own catalog variant. A platform
  without a variant, or no platform at all, is unpriced: AWS documents no default
  (``Platform`` is only "windows for Windows instances; otherwise empty").
* RDS log exports (``EnabledCloudwatchLogsExports``) are CloudWatch Logs ingestion per GB plus
  archive storage per GB-month (CloudWatch pricing, "Logs"): declared lines, the volume depends
  on the database's logging parameters and is not in Describe.
* Provisioned IOPS and throughput: io1/io2 bill every provisioned IOPS; gp3 bills only what
  exceeds its baseline (RDS below 400 GiB: 3,000 IOPS / 125 MiBps; from 400 GiB: 12,000 /
  500; EBS: 3,000 / 125) — Amazon RDS User Guide, "Amazon RDS DB instance storage"; Amazon EBS
  User Guide, "Amazon EBS General Purpose SSD volumes"; https://aws.amazon.com/rds/postgresql/pricing/
  and https://aws.amazon.com/ebs/pricing/. A stopped RDS instance still pays storage and
  provisioned IOPS (RDS User Guide, "Amazon RDS on-demand DB instances": "When your DB instance
  is stopped, you are charged for provisioned storage, including Provisioned IOPS").
* RDS Extended Support: per vCPU-hour from the day after the RDS end of standard support date,
  year-3 rate from the third year, on standby instances of Multi-AZ deployments too (RDS User
  Guide, "Amazon RDS Extended Support charges"; dates from "Release calendar for Amazon RDS for
  PostgreSQL"; rates from https://aws.amazon.com/rds/postgresql/pricing/, "Extended Support").
  It is charged with instance hours, so not while the instance is stopped (a stopped instance
  has no instance hours, same page as above).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from infra.prices import HOURS_PER_MONTH, PriceCatalog, Service

LineKind = Literal["priced", "unpriced", "declared"]

#: ``PlatformDetails`` → catalog variant of the ``ec2`` service (EC2 User Guide, "AMI billing
#: information fields"). A platform missing here is unpriced, with its name in the reason.
PLATFORM_VARIANTS = {
    "Linux/UNIX": "linux",
    "Windows": "windows",
    "Red Hat Enterprise Linux": "rhel",
    "SUSE Linux": "suse",
}
#: CloudWatch pricing page, "Example: EC2 Detailed Monitoring": 7 metrics per instance.
DETAILED_MONITORING_METRICS = 7

#: gp3 baselines (IOPS, MiBps) included in the storage price (module docstring).
_RDS_GP3_SMALL = (3000, 125)
_RDS_GP3_LARGE = (12000, 500)
_RDS_GP3_LARGE_FROM_GB = 400
_EBS_GP3 = (3000, 125)


@dataclass(frozen=True)
class SupportWindow:
    """RDS for PostgreSQL support dates of one major (release calendar)."""

    charged_from: date
    """First day of Extended Support charges (the day after the end of standard support)."""
    year3_from: date
    """First day of the year-3 rate."""
    ends: date
    """Last day of Extended Support (RDS upgrades the major itself afterwards)."""


#: "Release calendar for Amazon RDS for PostgreSQL" (RDS end of standard support, end of
#: Extended Support). PostgreSQL 11 entered Extended Support on 2024-03-01 but was charged from
#: 2024-04-01 ("Amazon RDS Extended Support charges", the page's own example).
POSTGRES_SUPPORT = {
    "11": SupportWindow(date(2024, 4, 1), date(2026, 3, 1), date(2027, 3, 31)),
    "12": SupportWindow(date(2025, 3, 1), date(2027, 3, 1), date(2028, 2, 29)),
    "13": SupportWindow(date(2026, 3, 1), date(2028, 3, 1), date(2029, 2, 28)),
    "14": SupportWindow(date(2027, 3, 1), date(2029, 3, 1), date(2030, 2, 28)),
    "15": SupportWindow(date(2028, 3, 1), date(2030, 3, 1), date(2031, 2, 28)),
    "16": SupportWindow(date(2029, 3, 1), date(2031, 3, 1), date(2032, 2, 29)),
    "17": SupportWindow(date(2030, 3, 1), date(2032, 3, 1), date(2033, 2, 28)),
}

#: vCPUs by instance size for the RDS classes Locxia prices (t4g, m6g, m7g, r6g, r7g, m6i…):
#: "Hardware specifications for DB instance classes" (RDS User Guide). Burstable micro to
#: medium have 2 vCPUs like ``large``; each size step doubles.
_VCPUS = {
    "micro": 2,
    "small": 2,
    "medium": 2,
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "12xlarge": 48,
    "16xlarge": 64,
    "24xlarge": 96,
}
_MAJOR = re.compile(r"^([0-9]{1,2})(\.|$)")


@dataclass(frozen=True)
class CostLine:
    """One charge of one resource: USD per hour, and what it is made of.

    Attributes:
        name: ``compute``, ``storage``, ``iops``, ``throughput``, ``extended-support``,
            ``detailed-monitoring``, ``log-ingestion``.
        usd: USD per hour (0 for unpriced and declared lines).
        basis: quantity × price, or why there is no figure.
        kind: priced, unpriced or declared (module docstring).
        monthly: USD per 730-hour month, unrounded (what a plan preview adds up).
    """

    name: str
    usd: Decimal
    basis: str
    kind: LineKind = "priced"
    monthly: Decimal = Decimal(0)

    def as_json(self) -> dict[str, str]:
        """The line as stored next to an estimate."""
        return {"name": self.name, "usd": str(self.usd), "basis": self.basis, "kind": self.kind}


def _line(
    catalog: PriceCatalog,
    name: str,
    key: tuple[Service, str, str],
    quantity: Decimal | int,
    what: str,
) -> CostLine:
    """Catalog price × quantity as a line; unpriced when the catalog lacks the row."""
    price = catalog.get(*key)
    if price is None:
        return CostLine(
            name, Decimal(0), f"unpriced: {what} (no {key[0]} {key[1]} price)", "unpriced"
        )
    monthly = (
        price.usd * Decimal(quantity) * (HOURS_PER_MONTH if price.unit.endswith("hour") else 1)
    )
    return CostLine(
        name,
        monthly / HOURS_PER_MONTH,
        f"{what}: {quantity} × {price.usd} USD/{price.unit}",
        monthly=monthly,
    )


def gp3_baseline(kind: Literal["rds", "ec2"], storage_gb: int) -> tuple[int, int]:
    """(IOPS, MiBps) a gp3 volume includes (module docstring)."""
    if kind == "ec2":
        return _EBS_GP3
    return _RDS_GP3_LARGE if storage_gb >= _RDS_GP3_LARGE_FROM_GB else _RDS_GP3_SMALL


def billable_performance(
    kind: Literal["rds", "ec2"],
    storage_type: str,
    storage_gb: int,
    iops: int | None,
    throughput: int | None,
) -> tuple[int, int]:
    """Provisioned (IOPS, MiBps) billed beyond the storage itself (module docstring)."""
    if storage_type in ("io1", "io2"):
        return iops or 0, 0
    if storage_type != "gp3":
        return 0, 0
    base_iops, base_mibps = gp3_baseline(kind, storage_gb)
    return max(0, (iops or base_iops) - base_iops), max(0, (throughput or base_mibps) - base_mibps)


def vcpus(instance_class: str) -> int | None:
    """The vCPUs of an RDS class (``db.r6g.xlarge`` → 4); None when the size is not known."""
    return _VCPUS.get(instance_class.rsplit(".", 1)[-1])


def major(version: str | None) -> str | None:
    """``13.4`` or ``13`` → ``13`` (PostgreSQL 10 and later number majors with one integer)."""
    found = _MAJOR.match(version or "")
    return found.group(1) if found else None


def support_band(engine: str, version: str | None, day: date) -> str | None:
    """``yr1-yr2`` or ``yr3`` when ``version`` is charged Extended Support on ``day``, else None.

    Past the end of Extended Support RDS upgrades the major itself: no surcharge.
    """
    window = POSTGRES_SUPPORT.get(major(version) or "") if engine == "postgres" else None
    if window is None or not window.charged_from <= day <= window.ends:
        return None
    return "yr3" if day >= window.year3_from else "yr1-yr2"


def storage_lines(
    catalog: PriceCatalog,
    kind: Literal["rds", "ec2"],
    storage_type: str,
    storage_gb: int,
    iops: int | None,
    throughput: int | None,
    variant: str = "",
) -> list[CostLine]:
    """Storage, provisioned IOPS and throughput above baseline (RDS: ``variant`` = engine)."""
    prefix = "rds" if kind == "rds" else "ebs"
    store: Service = "rds-storage" if kind == "rds" else "ebs"
    lines = [
        _line(
            catalog,
            "storage",
            (store, storage_type, variant),
            storage_gb,
            f"{prefix} {storage_type} {storage_gb} GB",
        ),
    ]
    extra_iops, extra_mibps = billable_performance(kind, storage_type, storage_gb, iops, throughput)
    if extra_iops:
        service: Service = "rds-iops" if kind == "rds" else "ebs-iops"
        lines.append(
            _line(
                catalog,
                "iops",
                (service, storage_type, variant),
                extra_iops,
                f"{prefix} {storage_type} {extra_iops} IOPS",
            )
        )
    if extra_mibps:
        service = "rds-throughput" if kind == "rds" else "ebs-throughput"
        lines.append(
            _line(
                catalog,
                "throughput",
                (service, storage_type, variant),
                extra_mibps,
                f"{prefix} {storage_type} {extra_mibps} MiBps",
            )
        )
    return lines


def rds_lines(
    catalog: PriceCatalog,
    *,
    instance_class: str,
    engine: str,
    engine_version: str | None,
    multi_az: bool,
    storage: tuple[str, int, int | None, int | None],
    log_exports: Iterable[str],
    billed: bool,
    day: date | None,
) -> list[CostLine]:
    """Every line of one RDS instance per hour; Multi-AZ doubles each (standby included).

    Args:
        catalog: prices of the region.
        instance_class: ``db.*`` class (compute; its vCPUs for Extended Support).
        engine: catalog variant (``postgres``).
        engine_version: ``13.4`` or ``13``: the major decides Extended Support.
        multi_az: a standby doubles every priced line.
        log_exports: ``EnabledCloudwatchLogsExports`` (declared line when any).
        storage: (type, GB, provisioned IOPS, provisioned MiBps) as Describe or the plan gives.
        billed: instance hours are billed in this state (compute, Extended Support).
        day: the day priced (Extended Support depends on it); None leaves the line unpriced.
    """
    copies = 2 if multi_az else 1
    lines: list[CostLine] = []
    if billed:
        lines.append(
            _line(
                catalog,
                "compute",
                ("rds", instance_class, engine),
                1,
                f"rds {instance_class} ({engine})",
            )
        )
        lines.extend(_extended_support(catalog, instance_class, engine, engine_version, day))
    lines += storage_lines(catalog, "rds", *storage, variant=engine)
    lines = [_times(line, copies) for line in lines]
    exports = sorted(log_exports)
    if exports:
        lines.append(_log_exports(catalog, exports))
    return lines


def _extended_support(
    catalog: PriceCatalog, klass: str, engine: str, version: str | None, day: date | None
) -> list[CostLine]:
    if day is None:
        if major(version) in POSTGRES_SUPPORT and engine == "postgres":
            return [
                CostLine(
                    "extended-support",
                    Decimal(0),
                    "unpriced: extended support needs the day priced",
                    "unpriced",
                )
            ]
        return []
    band = support_band(engine, version, day)
    if band is None:
        return []
    cpus = vcpus(klass)
    what = f"extended support {engine} {major(version)} {band}"
    if cpus is None:
        return [
            CostLine(
                "extended-support",
                Decimal(0),
                f"unpriced: {what} (vCPUs of {klass} unknown)",
                "unpriced",
            )
        ]
    return [
        _line(
            catalog,
            "extended-support",
            ("rds-extended-support", band, engine),
            cpus,
            f"{what}, {cpus} vCPU",
        )
    ]


def _log_exports(catalog: PriceCatalog, exports: list[str]) -> CostLine:
    ingest = catalog.get("cloudwatch-logs", "ingestion")
    price = f"{ingest.usd} USD/{ingest.unit}" if ingest else "no cloudwatch-logs price"
    return CostLine(
        "log-ingestion",
        Decimal(0),
        f"declared: log exports {','.join(exports)} to CloudWatch Logs at {price}"
        " (+ archive storage); volume not observable from Describe",
        "declared",
    )


def _times(line: CostLine, copies: int) -> CostLine:
    if copies == 1 or line.kind != "priced":
        return line
    return CostLine(
        line.name, line.usd * copies, f"{line.basis} x{copies}", line.kind, line.monthly * copies
    )


def ec2_lines(
    catalog: PriceCatalog,
    *,
    instance_type: str,
    platform: str | None,
    monitoring: bool,
    billed: bool,
) -> list[CostLine]:
    """Compute by platform and detailed monitoring of one running EC2 instance (none otherwise).

    The root and data volumes are their own resources (:func:`storage_lines`).
    """
    if not billed:
        return []
    variant = PLATFORM_VARIANTS.get(platform or "")
    if variant is None:
        why = f"platform {platform!r} has no catalog variant" if platform else "platform unknown"
        lines = [
            CostLine("compute", Decimal(0), f"unpriced: ec2 {instance_type} ({why})", "unpriced")
        ]
    else:
        lines = [
            _line(
                catalog,
                "compute",
                ("ec2", instance_type, variant),
                1,
                f"ec2 {instance_type} ({platform})",
            )
        ]
    if monitoring:
        lines.append(
            _line(
                catalog,
                "detailed-monitoring",
                ("cloudwatch", "metric", ""),
                DETAILED_MONITORING_METRICS,
                f"detailed monitoring {DETAILED_MONITORING_METRICS} metrics",
            )
        )
    return lines
