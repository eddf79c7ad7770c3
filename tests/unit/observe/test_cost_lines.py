"""Cost lines the modules turn on, each priced from the catalog by its documented rule.

Expected figures are computed here from the prices each test puts in its catalog and the rule's
source (cited next to each test), not copied from the code's output.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from infra.costlines import POSTGRES_SUPPORT, billable_performance, support_band, vcpus
from infra.errors import InputError
from infra.prices import HOURS_PER_MONTH, Price, PriceCatalog
from pipelines.observe.costs.estimates import hourly_cost
from pipelines.observe.metrics.resources import Resource
from pipelines.shape import storage
from pipelines.shape.model import InstanceSpec
from pipelines.shape.sizing import Sizing
from pipelines.shape.validation import check_support

D = date(2026, 11, 1)
ROWS = [
    ("rds", "db.r6g.xlarge", "postgres", "hour", "0.526"),
    ("rds-storage", "io1", "postgres", "gb-month", "0.145"),
    ("rds-iops", "io1", "postgres", "iops-month", "0.116"),
    ("rds-storage", "gp3", "postgres", "gb-month", "0.133"),
    ("rds-iops", "gp3", "postgres", "iops-month", "0.023"),
    ("rds-throughput", "gp3", "postgres", "mibps-month", "0.093"),
    ("rds-extended-support", "yr1-yr2", "postgres", "vcpu-hour", "0.100"),
    ("rds-extended-support", "yr3", "postgres", "vcpu-hour", "0.200"),
    ("ec2", "m6i.large", "linux", "hour", "0.112"),
    ("ec2", "m6i.large", "windows", "hour", "0.204"),
    ("ebs", "gp3", "", "gb-month", "0.0928"),
    ("ebs-iops", "gp3", "", "iops-month", "0.0058"),
    ("ebs-throughput", "gp3", "", "mibps-month", "0.0464"),
    ("ebs", "io2", "", "gb-month", "0.145"),
    ("ebs-iops", "io2", "", "iops-month", "0.0754"),
    ("cloudwatch", "metric", "", "metric-month", "0.30"),
    ("cloudwatch-logs", "ingestion", "", "gb", "0.57"),
]
CATALOG = PriceCatalog(
    "eu-west-3", [Price("eu-west-3", *r[:4], Decimal(r[4]), "t", D) for r in ROWS]
)
P = {(r[0], r[1], r[2]): Decimal(r[4]) for r in ROWS}
AT = datetime(2026, 12, 6, 10, tzinfo=UTC)


def _res(rtype: str, state: str, **attrs: Any) -> Resource:
    return Resource(1, "arn:x", rtype, "r-1", "r-1", "eu-west-3", {}, state, attrs)  # type: ignore[arg-type]


def _by_name(cost: Any) -> dict[str, Decimal]:
    return {line.name: line.usd for line in cost.lines}


def test_detailed_monitoring_is_seven_metrics_prorated_hourly_while_running() -> None:
    # CloudWatch pricing, "Example: EC2 Detailed Monitoring": 7 metrics per instance, each at
    # the per-metric-month price, prorated by the hour.
    r = _res(
        "ec2:instance",
        "running",
        instance_type="m6i.large",
        platform="Linux/UNIX",
        monitoring="enabled",
    )
    cost = hourly_cost(r, CATALOG, None, AT)
    metric = 7 * P[("cloudwatch", "metric", "")] / HOURS_PER_MONTH
    assert _by_name(cost) == {
        "compute": P[("ec2", "m6i.large", "linux")],
        "detailed-monitoring": metric,
    }
    assert cost.usd == pytest.approx(P[("ec2", "m6i.large", "linux")] + metric) and cost.priced
    basic = hourly_cost(
        _res(
            "ec2:instance",
            "running",
            instance_type="m6i.large",
            platform="Linux/UNIX",
            monitoring="disabled",
        ),
        CATALOG,
        None,
        AT,
    )
    assert "detailed-monitoring" not in _by_name(basic)
    stopped = hourly_cost(
        _res(
            "ec2:instance",
            "stopped",
            instance_type="m6i.large",
            platform="Linux/UNIX",
            monitoring="enabled",
        ),
        CATALOG,
        None,
        AT,
    )
    assert stopped.usd == 0 and stopped.lines == ()


@pytest.mark.parametrize(
    ("platform", "priced", "usd"),
    [
        ("Linux/UNIX", True, P[("ec2", "m6i.large", "linux")]),
        ("Windows", True, P[("ec2", "m6i.large", "windows")]),
        ("Red Hat Enterprise Linux", False, Decimal(0)),  # no rhel row in this catalog
        ("Windows with SQL Server Standard", False, Decimal(0)),  # no variant at all
        (None, False, Decimal(0)),  # PlatformDetails missing: AWS documents no default
    ],
    ids=["linux", "windows", "rhel-not-in-catalog", "unknown-platform", "missing"],
)
def test_platform_picks_the_catalog_variant_or_is_unpriced(
    platform: str | None, priced: bool, usd: Decimal
) -> None:
    r = _res("ec2:instance", "running", instance_type="m6i.large", platform=platform)
    cost = hourly_cost(r, CATALOG, None, AT)
    assert cost.priced is priced and cost.usd == usd
    if not priced:
        assert cost.basis.startswith("unpriced:") and "m6i.large" in cost.basis


def test_rds_io1_iops_are_billed_running_or_stopped_and_doubled_multi_az() -> None:
    # RDS pricing: every provisioned io1 IOPS per IOPS-month; a stopped instance still pays
    # storage and provisioned IOPS (RDS User Guide, on-demand DB instances); Multi-AZ doubles.
    attrs = {
        "instance_class": "db.r6g.xlarge",
        "engine": "postgres",
        "engine_version": "16.4",
        "storage_type": "io1",
        "storage_gb": 200,
        "iops": 3000,
        "multi_az": True,
    }
    running = hourly_cost(_res("rds:db", "available", **attrs), CATALOG, None, AT)
    storage = 2 * 200 * P[("rds-storage", "io1", "postgres")] / HOURS_PER_MONTH
    iops = 2 * 3000 * P[("rds-iops", "io1", "postgres")] / HOURS_PER_MONTH
    compute = 2 * P[("rds", "db.r6g.xlarge", "postgres")]
    assert _by_name(running) == pytest.approx(
        {"compute": compute, "storage": storage, "iops": iops}
    )
    stopped = hourly_cost(_res("rds:db", "stopped", **attrs), CATALOG, None, AT)
    assert _by_name(stopped) == pytest.approx({"storage": storage, "iops": iops})


def test_gp3_bills_only_above_its_baseline() -> None:
    # RDS gp3 from 400 GiB includes 12,000 IOPS / 500 MiBps; EBS gp3 3,000 / 125.
    attrs = {
        "instance_class": "db.r6g.xlarge",
        "engine": "postgres",
        "engine_version": "16",
        "storage_type": "gp3",
        "storage_gb": 500,
        "iops": 15000,
        "throughput": 600,
    }
    lines = _by_name(hourly_cost(_res("rds:db", "available", **attrs), CATALOG, None, AT))
    assert lines["iops"] == pytest.approx(
        3000 * P[("rds-iops", "gp3", "postgres")] / HOURS_PER_MONTH
    )
    assert lines["throughput"] == pytest.approx(
        100 * P[("rds-throughput", "gp3", "postgres")] / HOURS_PER_MONTH
    )
    vol = _res("ec2:volume", "in-use", volume_type="gp3", size_gb=100, iops=3000, throughput=125)
    assert set(_by_name(hourly_cost(vol, CATALOG, None, AT))) == {"storage"}
    io2 = _res("ec2:volume", "in-use", volume_type="io2", size_gb=100, iops=2000)
    assert _by_name(hourly_cost(io2, CATALOG, None, AT))["iops"] == pytest.approx(
        2000 * P[("ebs-iops", "io2", "")] / HOURS_PER_MONTH
    )


@pytest.mark.parametrize("kind", ["rds", "ec2"])
@pytest.mark.parametrize("gb", [100, 399, 400, 1000])
@pytest.mark.parametrize("iops", [None, 3000, 12000, 20000])
@pytest.mark.parametrize("mibps", [None, 125, 500, 800])
def test_one_baseline_rule_on_both_sides(
    kind: Any, gb: int, iops: int | None, mibps: int | None
) -> None:
    for stype in ("gp2", "gp3", "io1", "io2"):
        assert billable_performance(kind, stype, gb, iops, mibps) == storage.billable(
            kind, stype, gb, iops, mibps
        )


@pytest.mark.parametrize(
    ("version", "day", "band"),
    [
        ("16.4", date(2026, 12, 6), None),
        ("13.4", date(2026, 2, 28), None),  # last day of standard support
        ("13.4", date(2026, 3, 1), "yr1-yr2"),
        ("12", date(2027, 3, 1), "yr3"),
        ("11.22", date(2024, 3, 15), None),  # PG 11: enrolled 2024-03-01, charged from 04-01
        ("11.22", date(2027, 4, 1), None),  # after the end of Extended Support
    ],
    ids=["16-standard", "13-last-standard-day", "13-year1", "12-year3", "11-grace", "11-ended"],
)
def test_extended_support_band_follows_the_release_calendar(
    version: str, day: date, band: str | None
) -> None:
    assert support_band("postgres", version, day) == band


def test_extended_support_is_per_vcpu_hour_on_both_copies_while_billed() -> None:
    # "Amazon RDS Extended Support charges": per vCPU-hour, standby of Multi-AZ included.
    attrs = {
        "instance_class": "db.r6g.xlarge",
        "engine": "postgres",
        "engine_version": "13.4",
        "storage_type": "gp3",
        "storage_gb": 100,
        "multi_az": True,
    }
    cost = hourly_cost(_res("rds:db", "available", **attrs), CATALOG, None, AT)
    assert vcpus("db.r6g.xlarge") == 4
    assert (
        _by_name(cost)["extended-support"]
        == 2 * 4 * P[("rds-extended-support", "yr1-yr2", "postgres")]
    )
    stopped = hourly_cost(_res("rds:db", "stopped", **attrs), CATALOG, None, AT)
    assert "extended-support" not in _by_name(stopped)
    undated = hourly_cost(_res("rds:db", "available", **attrs), CATALOG, None)
    assert not undated.priced and "extended support" in undated.basis


def test_log_exports_are_a_declared_line_that_does_not_unprice() -> None:
    attrs = {
        "instance_class": "db.r6g.xlarge",
        "engine": "postgres",
        "engine_version": "16.4",
        "storage_type": "gp3",
        "storage_gb": 100,
        "log_exports": ["postgresql", "upgrade"],
    }
    cost = hourly_cost(_res("rds:db", "available", **attrs), CATALOG, None, AT)
    (line,) = [x for x in cost.lines if x.name == "log-ingestion"]
    assert line.kind == "declared" and line.usd == 0 and cost.priced
    assert "postgresql,upgrade" in line.basis and "0.57 USD/gb" in line.basis


def test_plan_preview_prices_the_same_lines_per_month() -> None:
    s = Sizing(
        "rds",
        "db.r6g.xlarge",
        200,
        "io1",
        iops=3000,
        engine="postgres",
        engine_version="13",
        log_exports=("postgresql",),
    )
    expected = (
        P[("rds", "db.r6g.xlarge", "postgres")] * 730
        + 4 * P[("rds-extended-support", "yr1-yr2", "postgres")] * 730
        + 200 * P[("rds-storage", "io1", "postgres")]
        + 3000 * P[("rds-iops", "io1", "postgres")]
    )
    assert s.monthly(CATALOG, "present", AT) == expected.quantize(Decimal("0.01"))
    vm = Sizing("ec2", "m6i.large", 50, "gp3", monitoring=True)
    assert vm.monthly(CATALOG, "present", AT) == (
        P[("ec2", "m6i.large", "linux")] * 730
        + 7 * P[("cloudwatch", "metric", "")]
        + 50 * P[("ebs", "gp3", "")]
    ).quantize(Decimal("0.01"))
    with pytest.raises(InputError, match="extended support"):
        s.monthly(CATALOG, "present")


def _spec(version: str) -> InstanceSpec:
    return InstanceSpec.parse(
        {
            "name": "work-db",
            "kind": "rds",
            "instance_class": "db.r6g.xlarge",
            "storage_gb": 100,
            "engine": "postgres",
            "engine_version": version,
        }
    )


def test_choosing_a_major_in_extended_support_is_refused_keeping_one_is_not() -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    with pytest.raises(InputError, match=r"engine_version: postgres 13 is in RDS Extended"):
        check_support(None, _spec("13"), now)
    with pytest.raises(InputError, match="since 2026-03-01"):
        check_support(_spec("16"), _spec("13"), now)
    check_support(_spec("13"), _spec("13"), now)  # running on it: priced, not refused
    check_support(None, _spec("16"), now)
    assert POSTGRES_SUPPORT["13"].charged_from == date(2026, 3, 1)
