"""Every bad parameter row is rejected with a clear message and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from infra.db import connect
from infra.errors import InputError
from infra.prices import PriceCatalog
from pipelines.shape import store

BASE = {
    "kind": "rds",
    "instance_class": "db.t4g.large",
    "storage_gb": 100,
    "engine": "postgres",
    "engine_version": "16",
}
NIGHT = {"days": "mon-fri", "start": "20:00", "end": "06:00", "instance_class": "db.r6g.xlarge"}


def _set(url: str, name: str, changes: dict[str, Any]) -> store.Change:
    with connect(url) as conn:
        catalog = PriceCatalog.load(conn, "eu-west-3")
        conn.rollback()
        return store.set_instance(
            conn, name, changes, actor="tester", catalog=catalog, now=datetime.now(UTC)
        )


def _snapshot(url: str) -> tuple[list[Any], int]:
    with connect(url) as conn:
        rows = conn.execute("SELECT * FROM params.instances ORDER BY name").fetchall()
        history = conn.execute("SELECT count(*) FROM params.history").fetchone()
    assert history is not None
    return rows, int(history[0])


# (id, setup changes on work-db before the bad one, name, bad changes, expected message)
CASES: list[tuple[str, list[dict[str, Any]], str, dict[str, Any], str]] = [
    (
        "unknown-class",
        [],
        "new-db",
        {**BASE, "instance_class": "db.r6g.2xlrage"},
        r"params.instances\[new-db\].instance_class: 'db.r6g.2xlrage' is not in the rds price",
    ),
    (
        "negative-storage",
        [],
        "new-db",
        {**BASE, "storage_gb": -5},
        r"storage_gb: -5 GB is outside 20–65536 GB",
    ),
    (
        "storage-not-a-number",
        [],
        "new-db",
        {**BASE, "storage_gb": "lots"},
        r"storage_gb: 'lots': expected a whole number",
    ),
    (
        "shrink",
        [BASE],
        "work-db",
        {"storage_gb": 80},
        r"work-db\].storage_gb: cannot shrink 100 → 80",
    ),
    (
        "grow-under-10-percent",
        [BASE],
        "work-db",
        {"storage_gb": 105},
        r"storage_gb: RDS storage grows by at least 10 % \(100 → ≥ 110\)",
    ),
    (
        "second-storage-change-within-6h",
        [BASE, {"storage_gb": 120}],
        "work-db",
        {"storage_gb": 200},
        r"storage_gb: storage changed at .*one change per 6 h",
    ),
    ("name-with-quotes", [], "work'db", BASE, r"invalid name \"work'db\""),
    ("name-with-semicolons", [], "x; DROP TABLE params.instances; --", BASE, r"invalid name"),
    (
        "protected-and-absent",
        [{**BASE, "protected": True}],
        "work-db",
        {"state": "absent"},
        r"state: a protected instance is never absent",
    ),
    (
        "overlapping-windows",
        [],
        "new-db",
        {
            **BASE,
            "schedule": [
                NIGHT,
                {"days": "fri", "start": "23:00", "end": "23:30", "state": "stopped"},
            ],
        },
        r"schedule: windows 'mon-fri 20:00-06:00' and 'fri 23:00-23:30' overlap",
    ),
    (
        "unknown-engine",
        [],
        "new-db",
        {**BASE, "engine": "mysql"},
        r"engine: unknown engine 'mysql'",
    ),
    (
        "unknown-kind",
        [],
        "new-db",
        {**BASE, "kind": "lambda"},
        r"kind: 'lambda': expected one of rds, ec2",
    ),
    (
        "ec2-with-engine",
        [],
        "new-vm",
        {**BASE, "kind": "ec2", "instance_class": "m6i.large"},
        r"for RDS only",
    ),
    (
        "window-hour-25",
        [],
        "new-db",
        {**BASE, "schedule": [{**NIGHT, "start": "25:00"}]},
        r"start '25:00': expected HH:MM",
    ),
    (
        "unknown-time-zone",
        [],
        "new-db",
        {**BASE, "timezone": "Mars/Olympus"},
        r"timezone: unknown time zone 'Mars/Olympus'",
    ),
    (
        "class-does-not-fit-kind",
        [],
        "new-vm",
        {"kind": "ec2", "instance_class": "db.t4g.large", "storage_gb": 20},
        r"'db.t4g.large' does not fit kind ec2",
    ),
    (
        "kind-change",
        [BASE],
        "work-db",
        {"kind": "ec2", "instance_class": "m6i.large", "engine": None, "engine_version": None},
        r"kind: kind cannot change \(rds → ec2\)",
    ),
    (
        "window-class-unknown",
        [],
        "new-db",
        {**BASE, "schedule": [{**NIGHT, "instance_class": "db.x9.huge"}]},
        r"'db.x9.huge' is not in the rds price catalog",
    ),
    (
        "aws-tag-key",
        [],
        "new-db",
        {**BASE, "tags": {"aws:owner": "me"}},
        r"tags: invalid tag key 'aws:owner'",
    ),
    (
        "window-without-effect",
        [],
        "new-db",
        {**BASE, "schedule": [{"days": "sat", "start": "00:00", "end": "06:00"}]},
        r"a window must set instance_class or state",
    ),
]


@pytest.mark.parametrize(
    ("setup", "name", "changes", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_row_is_rejected_and_changes_nothing(
    db_url: str, setup: list[dict[str, Any]], name: str, changes: dict[str, Any], message: str
) -> None:
    for step in setup:
        _set(db_url, "work-db", step)
    before = _snapshot(db_url)
    with pytest.raises(InputError, match=message) as caught:
        _set(db_url, name, changes)
    assert "\n" not in str(caught.value)
    assert _snapshot(db_url) == before


def test_at_least_fifteen_cases() -> None:
    assert len(CASES) >= 15


def test_unknown_column_is_rejected() -> None:
    with pytest.raises(InputError, match="'colour' is not an editable column"):
        store.parse_assignments(["colour=blue"])


# The database refuses the same rows when they are typed in psql, around the CLI.
SQL_CASES = [
    ("unknown-class", "INSERT", {**BASE, "instance_class": "db.r6g.2xlrage"}, "price catalog"),
    ("negative-storage", "INSERT", {**BASE, "storage_gb": -5}, "storage_in_range|rds_min_storage"),
    ("bad-name", "INSERT", {**BASE, "name": "x'; drop"}, "name_is_safe"),
    (
        "protected-absent",
        "INSERT",
        {**BASE, "protected": True, "state": "absent"},
        "protected_never_absent",
    ),
    ("unknown-engine", "INSERT", {**BASE, "engine": "mysql"}, "engine_known"),
    ("bad-time-zone", "INSERT", {**BASE, "timezone": "Mars/Olympus"}, "unknown time zone"),
    ("malformed-window", "INSERT", {**BASE, "schedule": '[{"start": "9"}]'}, "schedule_is_valid"),
    ("shrink", "UPDATE", {"storage_gb": 80}, "cannot shrink 100 → 80"),
    ("grow-under-10-percent", "UPDATE", {"storage_gb": 105}, "at least 10 %"),
    ("rename", "UPDATE", {"name": "other-db"}, "name and kind cannot change"),
]


@pytest.mark.parametrize(
    ("op", "values", "message"), [c[1:] for c in SQL_CASES], ids=[c[0] for c in SQL_CASES]
)
def test_database_refuses_bad_rows_written_in_sql(
    db_url: str, op: str, values: dict[str, Any], message: str
) -> None:
    from psycopg import sql

    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO params.instances (name, kind, instance_class, storage_gb, engine,"
            " engine_version) VALUES ('work-db', 'rds', 'db.t4g.large', 100, 'postgres', '16')"
        )
        conn.commit()
    before = _snapshot(db_url)
    row = {"name": "new-db", **values} if op == "INSERT" else values
    if op == "INSERT":
        stmt = sql.SQL("INSERT INTO params.instances ({}) VALUES ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, row)),
            sql.SQL(", ").join(map(sql.Placeholder, row)),
        )
    else:
        stmt = sql.SQL("UPDATE params.instances SET {} WHERE name = 'work-db'").format(
            sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in row
            )
        )
    with connect(db_url) as conn, pytest.raises(psycopg.errors.CheckViolation, match=message):
        conn.execute(stmt, row)
    assert _snapshot(db_url) == before


def test_storage_cooldown_ends_after_six_hours(db_url: str) -> None:
    _set(db_url, "work-db", BASE)
    _set(db_url, "work-db", {"storage_gb": 120})
    with connect(db_url) as conn:  # pretend the change happened 7 h ago
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE params.instances SET storage_changed_at = now() - interval '7 hours'")
        conn.commit()
    change = _set(db_url, "work-db", {"storage_gb": 200})
    assert change.after.storage_gb == 200
