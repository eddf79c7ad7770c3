"""Hours priced from the state history: segments, the seconds in each, billed states."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from infra.prices import Price, PriceCatalog
from pipelines.observe.costs.estimates import _price_hours, _Tracked, horizon
from pipelines.observe.metrics.history import segments
from pipelines.observe.metrics.resources import Resource

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
EC2_HOURLY = Decimal("0.0944")
DB_HOURLY = Decimal("0.150")
GB_MONTH = Decimal("0.133")


def _catalog() -> PriceCatalog:
    rows = [
        ("ec2", "t3.large", "linux", "hour", EC2_HOURLY),
        ("rds", "db.t4g.large", "postgres", "hour", DB_HOURLY),
        ("rds-storage", "gp3", "postgres", "gb-month", GB_MONTH),
    ]
    return PriceCatalog(
        "eu-west-3",
        [
            Price("eu-west-3", s, i, v, u, usd, "test", date(2026, 11, 1))
            for s, i, v, u, usd in rows
        ],
    )


def _q(value: Decimal | int) -> Decimal:
    """To the micro-dollar ``costs.estimates`` stores."""
    return Decimal(value).quantize(Decimal("0.000001"))


def _tracked(rtype: str) -> _Tracked:
    r = Resource(1, "arn:x", rtype, "x", "x", "eu-west-3")  # type: ignore[arg-type]
    return _Tracked(r, T0, None, T0)


def test_segments_cut_a_range_by_the_rows_in_force() -> None:
    rows = [
        (T0 - timedelta(days=1), "running", {}),
        (T0 + timedelta(minutes=20), "stopped", {}),
        (T0 + timedelta(hours=5), "running", {}),
    ]
    got = segments(rows, T0, T0 + timedelta(hours=2))
    assert got == [
        (T0, T0 + timedelta(minutes=20), "running", {}),
        (T0 + timedelta(minutes=20), T0 + timedelta(hours=2), "stopped", {}),
    ]
    assert segments(rows, T0 - timedelta(days=3), T0 - timedelta(days=2)) == []


def test_a_state_change_at_10_20_bills_20_minutes_of_that_hour() -> None:
    ten = T0 + timedelta(hours=1)
    segs = segments(
        [
            (T0, "running", {"instance_type": "t3.large"}),
            (ten + timedelta(minutes=20), "stopped", {"instance_type": "t3.large"}),
        ],
        T0,
        ten + timedelta(hours=2),
    )
    hours = _price_hours(_tracked("ec2:instance"), segs, _catalog(), None)
    assert sorted(hours) == [T0, ten, ten + timedelta(hours=1)]
    assert hours[T0].usd == EC2_HOURLY
    assert _q(hours[ten].usd) == _q(EC2_HOURLY * 1200 / 3600)
    assert hours[ten + timedelta(hours=1)].usd == 0  # stopped: the instance exists, unbilled


@pytest.mark.parametrize(
    ("status", "compute"),
    [("storage-optimization", True), ("upgrading", True), ("stopped", False), ("starting", False)],
    ids=str,
)
def test_rds_hours_follow_the_documented_billing(status: str, compute: bool) -> None:
    attrs = {"instance_class": "db.t4g.large", "storage_gb": 100, "storage_type": "gp3"}
    segs = segments([(T0, status, attrs)], T0, T0 + timedelta(hours=1))
    hours = _price_hours(_tracked("rds:db"), segs, _catalog(), None)
    storage = GB_MONTH * 100 / Decimal(730)
    assert _q(hours[T0].usd) == _q(storage + (DB_HOURLY if compute else 0))


def test_nothing_is_billed_while_creating_or_after_deletion() -> None:
    attrs = {"instance_class": "db.t4g.large", "storage_gb": 100, "storage_type": "gp3"}
    rows = [
        (T0, "creating", attrs),
        (T0 + timedelta(minutes=30), "available", attrs),
        (T0 + timedelta(minutes=45), "deleted", attrs),
    ]
    hours = _price_hours(
        _tracked("rds:db"), segments(rows, T0, T0 + timedelta(hours=3)), _catalog(), None
    )
    assert list(hours) == [T0]
    assert _q(hours[T0].usd) == _q((DB_HOURLY + GB_MONTH * 100 / Decimal(730)) / 4)


def test_the_horizon_is_the_first_of_the_previous_month() -> None:
    assert horizon(datetime(2026, 11, 20, 10, tzinfo=UTC)) == datetime(2026, 10, 1, tzinfo=UTC)
    assert horizon(datetime(2026, 1, 1, 0, 30, tzinfo=UTC)) == datetime(2025, 12, 1, tzinfo=UTC)
