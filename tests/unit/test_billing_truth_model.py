"""The billing-truth model itself, checked against days computed by hand from the price list.

Hand figures use the shipped eu-west-3 prices: db.r6g.large 0.263 USD/h, RDS gp3 0.133 USD
per GB-month, m6i.large 0.112 USD/h, c6i.large 0.101 USD/h, t3.medium 0.0472 USD/h, EBS gp3
0.0928 USD per GB-month, S3 Standard 0.024 USD per GB-month; November has 720 hours.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tests.support import billing_truth as bt

PRICES = bt.load_prices()
EST = {tl.name: tl for tl in bt.estate()}
D = Decimal


def _day(d: int) -> datetime:
    return datetime(2026, 11, d, tzinfo=UTC)


def test_prices_are_read_from_the_csv_text() -> None:
    assert PRICES[("rds", "db.r6g.large", "postgres")] == D("0.263")
    assert PRICES[("ebs", "gp3", "")] == D("0.0928")
    assert bt.month_hours(_day(5)) == 720


def test_an_ordinary_day_of_the_stop_window() -> None:
    # 5 November: stopped until 07:00, starting 07:00-07:09, available until 20:00, stopping
    # 20:00-20:06, stopped after: instance billed 07:09 -> 20:00 = 12 h 51 min (starting and
    # stopping bill storage only); storage all 24 h.
    by_hand = (D(12) + D(51) / 60) * D("0.263") + D(100) * D("0.133") * 24 / 720
    got = bt.total(EST["work-db"], _day(5), _day(6), PRICES)
    assert got == pytest.approx(by_hand, abs=D("1e-12"))
    assert by_hand == pytest.approx(D("3.8228833"), abs=D("1e-6"))


def test_the_storage_change_day_and_the_optimization_after_it() -> None:
    # 10 November: started 07:00, storage 100 -> 200 GB at 14:00, modifying 20 min then
    # storage-optimization through the night (no stop): billed 07:09 -> 24:00 = 16 h 51 min,
    # storage 14 h at 100 GB + 10 h at 200 GB.
    day10 = (D(16) + D(51) / 60) * D("0.263") + (D(100) * 14 + D(200) * 10) * D("0.133") / 720
    assert bt.total(EST["work-db"], _day(10), _day(11), PRICES) == pytest.approx(day10)
    # 11 November: optimizing until 20:20 (30 h after 14:20), stopping 20:20-20:26:
    # billed 00:00 -> 20:20 = 20 h 20 min; 200 GB all day.
    day11 = (D(20) + D(20) / 60) * D("0.263") + D(200) * D("0.133") * 24 / 720
    assert bt.total(EST["work-db"], _day(11), _day(12), PRICES) == pytest.approx(day11)
    # a stopped hour still pays its storage
    night = bt.total(
        EST["work-db"], _day(12) + timedelta(hours=2), _day(12) + timedelta(hours=3), PRICES
    )
    assert night == pytest.approx(D(200) * D("0.133") / 720)


def test_the_deleted_instance_stops_costing_at_its_deletion() -> None:
    etl = EST["etl"]
    assert bt.total(etl, _day(12), _day(13), PRICES) == pytest.approx(D("9.5") * D("0.101"))
    assert bt.total(etl, _day(13), _day(14), PRICES) == 0


def test_always_on_resources_and_detailed_monitoring() -> None:
    web = bt.cost(EST["web"], _day(3), _day(4), PRICES)
    assert web[bt.EC2_SERVICE] == pytest.approx(D(24) * D("0.112"))
    assert web[bt.CLOUDWATCH_SERVICE] == pytest.approx(D("2.10") / 30)  # 7 metrics x 0.30
    assert bt.cost(EST["api"], _day(3), _day(4), PRICES) == {bt.EC2_SERVICE: D(24) * D("0.0472")}
    assert bt.total(EST["data-vol"], _day(3), _day(4), PRICES) == pytest.approx(
        D(2000) * D("0.0928") / 30
    )
    assert bt.total(EST["locxia-archive"], _day(3), _day(4), PRICES) == pytest.approx(
        D(250) * D("0.024") / 30
    )


def test_ce_lines_come_from_the_same_timelines() -> None:
    lines = bt.ce_lines(EST.values(), PRICES)
    by_day: dict[str, Decimal] = {}
    for line in lines:
        if line["record_type"] == "Usage":
            assert line["tags"] == {"project": "locxia"}
            by_day[line["day"]] = by_day.get(line["day"], D(0)) + D(line["unblended"])
    assert sorted(by_day) == [date(2026, 11, d).isoformat() for d in range(1, 24)]
    day5 = sum((bt.total(tl, _day(5), _day(6), PRICES) for tl in EST.values()), D(0))
    assert by_day["2026-11-05"] == pytest.approx(day5, abs=D("1e-8"))
    day23 = sum((bt.total(tl, _day(23), _day(24), PRICES) for tl in EST.values()), D(0))
    assert by_day["2026-11-23"] == pytest.approx(day23 * bt.CE_PARTIAL_SHARE, abs=D("1e-8"))
    credits = [ln for ln in lines if ln["record_type"] == "Credit"]
    assert [(c["day"], D(c["unblended"])) for c in credits] == [("2026-11-01", D(-50))]
    taxes = {ln["day"]: D(ln["unblended"]) for ln in lines if ln["record_type"] == "Tax"}
    assert taxes["2026-11-05"] == pytest.approx(day5 * D("0.2"), abs=D("1e-8"))


def test_truth_at_10_and_23_agrees_on_the_past() -> None:
    at10, at23 = (bt.truth(EST.values(), PRICES, now) for now in bt.RUNS)
    assert at10.spend_through_yesterday == at23.spend_through_yesterday
    assert at10.forecast == at23.forecast
    assert at10.per_resource_before == at23.per_resource_before
    # 24 November, 10:00 -> 23:00: the database ran 10:00 -> 20:00 (10 h), then stopping
    # (storage only) and stopped
    db = at23.per_resource["work-db"] - at10.per_resource["work-db"]
    assert db == pytest.approx(D(10) * D("0.263") + 13 * D(200) * D("0.133") / 720)
    # the last 7 days repeat until the month ends: the formula's forecast is the month's total
    assert at10.forecast == pytest.approx(at10.month_total, rel=D("1e-9"))
    assert at10.spend_to_date == sum(at10.per_resource.values())
