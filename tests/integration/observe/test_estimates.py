"""Estimates price each past hour with the state in force then, and never rewrite a known hour.

The truth each test compares with is computed here, independently of the code under test:
hours in each state × the price parsed from the shipped CSV (infra/data/prices-eu-west-3.csv).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from infra.db import connect
from infra.prices import PriceCatalog
from pipelines.observe.costs.estimates import estimate
from pipelines.observe.metrics.history import record_state, states_between

CSV = Path(__file__).parents[3] / "infra" / "data" / "prices-eu-west-3.csv"
DAY = datetime(2026, 11, 18, tzinfo=UTC)
H = timedelta(hours=1)
DB = {"instance_class": "db.t4g.large", "engine": "postgres", "storage_gb": 100,
      "storage_type": "gp3", "multi_az": False}  # fmt: skip


def _csv_price(service: str, item: str, variant: str) -> Decimal:
    with CSV.open() as fh:
        for row in csv.reader(line for line in fh if not line.startswith("#")):
            if row[:3] == [service, item, variant]:
                return Decimal(row[4])
    raise AssertionError(f"{service} {item} not in {CSV.name}")


def _db_truth(running: bool, storage_gb: int) -> Decimal:
    storage = _csv_price("rds-storage", "gp3", "postgres") * storage_gb / 730
    return storage + (_csv_price("rds", "db.t4g.large", "postgres") if running else 0)


def _q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.000001"))


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(db_url) as c:
        yield c


def _resource(
    conn: psycopg.Connection[Any], rtype: str, name: str, first: datetime, attrs: dict[str, Any]
) -> int:
    arn = (
        f"arn:aws:rds:eu-west-3:123456789012:db:{name}"
        if rtype == "rds:db"
        else f"arn:aws:ec2:eu-west-3:123456789012:instance/{name}"
    )
    row = conn.execute(
        "INSERT INTO metrics.resources (arn, type, resource_id, name, region, tags, tagged,"
        " state, attributes, first_seen, last_seen) VALUES (%s, %s, %s, %s, 'eu-west-3',"
        ' \'{"project": "locxia"}\', true, NULL, %s, %s, %s) RETURNING id',
        (arn, rtype, name, name, Jsonb(attrs), first, first),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _observe(
    conn: psycopg.Connection[Any], rid: int, at: datetime, state: str, **attrs: Any
) -> None:
    """What discovery does: record the state, and the sighting."""
    record_state(conn, rid, at, state, {**DB, **attrs}, "discovery")
    conn.execute(
        "UPDATE metrics.resources SET state = %s, last_seen = greatest(last_seen, %s)"
        " WHERE id = %s",
        (state, at, rid),
    )
    conn.commit()


def _hours(conn: psycopg.Connection[Any], rid: int) -> dict[datetime, tuple[Decimal, bool]]:
    rows = conn.execute(
        "SELECT hour, usd, final FROM costs.estimates WHERE resource_id = %s ORDER BY hour",
        (rid,),
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_a_nightly_stop_window_prices_the_same_at_10_and_at_23(
    conn: psycopg.Connection[Any],
) -> None:
    rid = _resource(conn, "rds:db", "work-db", DAY - 2 * H * 24, DB)
    _observe(conn, rid, DAY - 2 * H * 24, "available")
    _observe(conn, rid, DAY - 4 * H, "stopped")  # 20:00 the day before
    _observe(conn, rid, DAY + 7 * H, "available")  # 07:00
    _observe(conn, rid, DAY + 9 * H + timedelta(minutes=55), "available")  # a sighting
    catalog = PriceCatalog.load(conn, "eu-west-3")
    at_10 = estimate(conn, catalog, DAY + 10 * H)
    morning = _hours(conn, rid)

    _observe(conn, rid, DAY + 20 * H, "stopped")
    _observe(conn, rid, DAY + 22 * H + timedelta(minutes=55), "stopped")
    at_23 = estimate(conn, catalog, DAY + 23 * H)
    evening = _hours(conn, rid)

    def running(hour: datetime) -> bool:
        return not (DAY - 4 * H <= hour < DAY + 7 * H or hour >= DAY + 20 * H)

    before_10 = [h for h in evening if h < DAY + 10 * H]
    assert before_10 == sorted(morning)  # the same hours, from the first sighting on
    for hour in before_10:
        assert evening[hour][0] == morning[hour][0], hour
        assert evening[hour][0] == _q(_db_truth(running(hour), 100)), hour
        assert evening[hour][1]
    # at 10:00, the hours ending by the 09:55 sighting were final; 09:00 was provisional
    assert [h for h, (_, final) in morning.items() if not final] == [DAY + 9 * H]
    for hour in (h for h in evening if h >= DAY + 10 * H):
        assert evening[hour][0] == _q(_db_truth(running(hour), 100)), hour
    assert at_10["hours_provisional"] == 1
    assert (at_23["hours_final"], at_23["hours_provisional"]) == (13, 1)  # 09:00…21:00; 22:00
    assert at_23["hours_estimated"] == 14  # hours already final are not written again


def test_provisional_hours_take_the_latest_state_and_are_recomputed(
    conn: psycopg.Connection[Any],
) -> None:
    rid = _resource(conn, "rds:db", "work-db", DAY, DB)
    _observe(conn, rid, DAY, "available")
    _observe(conn, rid, DAY + 3 * H, "stopped")
    catalog = PriceCatalog.load(conn, "eu-west-3")
    first = estimate(conn, catalog, DAY + 6 * H)
    assert (first["hours_final"], first["hours_provisional"]) == (3, 3)
    assert _hours(conn, rid)[DAY + 4 * H] == (_q(_db_truth(False, 100)), False)

    _observe(conn, rid, DAY + 4 * H + timedelta(minutes=20), "available")  # started at 04:20
    estimate(conn, catalog, DAY + 6 * H)
    hours = _hours(conn, rid)
    storage, compute = _db_truth(False, 100), _csv_price("rds", "db.t4g.large", "postgres")
    assert hours[DAY + 3 * H] == (_q(storage), True)
    # a state change at 04:20 bills 40 minutes of that hour as running (per-second billing)
    assert hours[DAY + 4 * H] == (_q(storage + compute * 40 / 60), False)  # after 04:20: latest
    assert hours[DAY + 5 * H] == (_q(storage + compute), False)


def test_storage_optimization_is_priced_running_at_the_new_size(
    conn: psycopg.Connection[Any],
) -> None:
    rid = _resource(conn, "rds:db", "work-db", DAY, DB)
    _observe(conn, rid, DAY, "available")
    grown = DAY + 5 * H
    # what shape records right after AWS accepted the storage change, then discovery
    record_state(conn, rid, grown, "modifying", {**DB, "storage_gb": 200}, "shape:apply")
    _observe(conn, rid, grown + timedelta(minutes=10), "storage-optimization", storage_gb=200)
    _observe(conn, rid, grown + 30 * H, "available", storage_gb=200)
    estimate(conn, PriceCatalog.load(conn, "eu-west-3"), DAY + 48 * H)
    hours = _hours(conn, rid)
    assert len(hours) == 48
    for hour, (usd, final) in hours.items():
        assert final is (hour + H <= grown + 30 * H)  # later hours: the latest state, for now
        assert usd == _q(_db_truth(True, 100 if hour < grown else 200)), hour
    seen = states_between(conn, rid, grown, grown + 31 * H)
    assert [s[2] for s in seen] == ["modifying", "storage-optimization", "available"]


def test_a_resource_deleted_mid_month_has_no_hours_after_deletion(
    conn: psycopg.Connection[Any],
) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    gone = datetime(2026, 11, 10, 14, 30, tzinfo=UTC)
    rid = _resource(conn, "rds:db", "old-db", start, DB)
    _observe(conn, rid, start, "available")
    record_state(conn, rid, gone, "deleted", DB, "discovery")
    conn.execute("UPDATE metrics.resources SET gone_at = %s WHERE id = %s", (gone, rid))
    conn.commit()
    result = estimate(
        conn, PriceCatalog.load(conn, "eu-west-3"), datetime(2026, 11, 20, tzinfo=UTC)
    )
    hours = _hours(conn, rid)
    assert max(hours) == datetime(2026, 11, 10, 14, tzinfo=UTC)
    assert len(hours) == 9 * 24 + 15
    assert hours[max(hours)][0] == _q(_db_truth(True, 100) / 2)  # 30 minutes before deletion
    assert sum(u for u, _ in hours.values()) == sum(
        (_q(_db_truth(True, 100)) for _ in range(9 * 24 + 14)), _q(_db_truth(True, 100) / 2)
    )
    assert result["hours_provisional"] == 0  # nothing after a deletion can change


def test_hours_of_a_resource_no_longer_tagged_are_dropped_unless_final(
    conn: psycopg.Connection[Any],
) -> None:
    rid = _resource(conn, "ec2:instance", "i-1", DAY, {"instance_type": "t3.large"})
    record_state(conn, rid, DAY, "running", {"instance_type": "t3.large"}, "discovery")
    conn.execute("UPDATE metrics.resources SET last_seen = %s WHERE id = %s", (DAY + 4 * H, rid))
    conn.commit()
    catalog = PriceCatalog.load(conn, "eu-west-3")
    estimate(conn, catalog, DAY + 10 * H)
    assert sorted(_hours(conn, rid)) == [DAY + h * H for h in range(10)]
    conn.execute("UPDATE metrics.resources SET tagged = false WHERE id = %s", (rid,))
    conn.commit()
    estimate(conn, catalog, DAY + 10 * H)
    hours = _hours(conn, rid)
    assert sorted(hours) == [DAY + h * H for h in range(4)]  # known hours stay as they were
    assert all(final for _, final in hours.values())
    truth = _q(_csv_price("ec2", "t3.large", "linux"))
    assert {usd for usd, _ in hours.values()} == {truth}


def test_a_resource_without_history_is_priced_as_it_is_now(
    conn: psycopg.Connection[Any],
) -> None:
    rid = _resource(conn, "ec2:instance", "i-2", DAY, {"instance_type": "t3.large"})
    conn.execute("UPDATE metrics.resources SET state = 'running' WHERE id = %s", (rid,))
    conn.commit()
    result = estimate(conn, PriceCatalog.load(conn, "eu-west-3"), DAY + 5 * H)
    assert result["hours_provisional"] == 5
    assert {usd for usd, _ in _hours(conn, rid).values()} == {
        _q(_csv_price("ec2", "t3.large", "linux"))
    }
