"""Downtime, windows and the storage cooldown through the Terraform core, stand-in and moto."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from infra.db import connect
from infra.errors import InputError
from infra.prices import PriceCatalog
from infra.settings import Settings
from pipelines.shape import downtime, store
from pipelines.shape.jobs import after_apply, describe_rds
from pipelines.shape.reconcile import Reconciler
from tests.integration.shape.conftest import NOON, WORK_DB
from tests.support.logins import approve, as_login

pytestmark = pytest.mark.slow

SUNDAY_0310 = datetime(2026, 11, 29, 3, 10, tzinfo=UTC)  # inside sun:03:00-sun:04:00
WINDOW = "sun:03:00-sun:04:00"


@contextmanager
def _reconciler(settings: Settings, now: datetime) -> Iterator[Reconciler]:
    rec = Reconciler(settings, now=lambda: now, after_apply=after_apply, describe_rds=describe_rds)
    try:
        yield rec
    finally:
        rec.close()


def _class(rds_client: Any) -> str:
    return str(rds_client.describe_db_instances()["DBInstances"][0]["DBInstanceClass"])


def _status(settings: Settings, run_id: int | None) -> str:
    with connect(settings.require_database_url()) as conn:
        row = conn.execute("SELECT status FROM ops.terraform_runs WHERE id = %s", (run_id,))
        found = row.fetchone()
        assert found is not None
        return str(found[0])


def test_class_change_is_held_outside_the_window_and_applied_inside_it(
    shape_settings: Settings, edit: Callable[..., Any], rds_client: Any
) -> None:
    edit("work-db", **WORK_DB, maintenance_window=WINDOW, backup_window="01:00-01:30")
    with _reconciler(shape_settings, NOON) as rec:
        assert rec.run(mode="apply", requested_by="alice").status == "applied"
        edit("work-db", instance_class="db.r6g.large")
        held = rec.run(mode="apply", requested_by="alice")
        assert held.status == "held", held
        [reason] = held.reasons
        assert reason["rule"] == "downtime"
        assert reason["message"] == (
            "work-db: instance_class db.t4g.large → db.r6g.large causes downtime; held until"
            " the maintenance window sun:03:00-sun:04:00 UTC opens (2026-11-29 03:00 UTC),"
            " or approve it to apply at once"
        )
        assert _class(rds_client) == "db.t4g.large"
        assert rec.run(mode="apply", requested_by="scheduler").skipped  # still outside
    with _reconciler(shape_settings, SUNDAY_0310) as rec:
        inside = rec.run(mode="apply", requested_by="scheduler")
    assert inside.status == "applied", inside
    assert inside.reasons == []
    assert _class(rds_client) == "db.r6g.large"
    assert _status(shape_settings, held.run_id) == "superseded"
    with connect(shape_settings.require_database_url()) as conn:
        found = conn.execute(
            "SELECT inputs -> 'instances' -> 'work-db' FROM ops.terraform_runs WHERE id = %s",
            (inside.run_id,),
        ).fetchone()
    assert found is not None  # what Terraform received (the module passes both to RDS)
    assert (found[0]["maintenance_window"], found[0]["backup_window"]) == (WINDOW, "01:00-01:30")


def test_an_approved_downtime_change_applies_at_once(
    shape_settings: Settings, edit: Callable[..., Any], rds_client: Any
) -> None:
    edit("work-db", **WORK_DB, maintenance_window=WINDOW)
    with _reconciler(shape_settings, NOON) as rec:
        rec.run(mode="apply", requested_by="alice")
        edit("work-db", multi_az=True)
        held = rec.run(mode="apply", requested_by="alice")
        assert [r["rule"] for r in held.reasons] == ["downtime"]
        approve(shape_settings.require_database_url(), held.run_id or 0, "carol")
        applied = rec.approve(held.run_id or 0)
    assert applied.status == "applied", applied
    assert rds_client.describe_db_instances()["DBInstances"][0]["MultiAZ"] is True


def test_without_a_window_a_downtime_change_waits_for_an_approval(
    shape_settings: Settings, edit: Callable[..., Any], rds_client: Any
) -> None:
    edit("work-db", **WORK_DB)
    with _reconciler(shape_settings, SUNDAY_0310) as rec:
        rec.run(mode="apply", requested_by="alice")
        edit("work-db", instance_class="db.r6g.large")
        held = rec.run(mode="apply", requested_by="alice")
    assert held.status == "held"
    assert "no maintenance_window is set: held until approved" in held.reasons[0]["message"]
    assert _class(rds_client) == "db.t4g.large"


def _backdate_storage_edit(settings: Settings, name: str) -> None:
    """Move the edit-time storage clock back (the database alone moves it, so as its owner)."""
    with connect(settings.require_database_url(), autocommit=True) as conn:
        conn.execute("ALTER TABLE params.instances DISABLE TRIGGER guard")
        conn.execute(
            "UPDATE params.instances SET storage_changed_at = '2020-01-01' WHERE name = %s",
            (name,),
        )
        conn.execute("ALTER TABLE params.instances ENABLE TRIGGER guard")


def test_a_storage_change_waits_six_hours_after_the_last_one_applied(
    shape_settings: Settings, edit: Callable[..., Any], rds_client: Any
) -> None:
    now = datetime.now(UTC)
    edit("work-db", **WORK_DB)
    with _reconciler(shape_settings, now) as rec:
        rec.run(mode="apply", requested_by="alice")
        edit("work-db", storage_gb=200)
        assert rec.run(mode="apply", requested_by="alice").status == "applied"
        _backdate_storage_edit(shape_settings, "work-db")
        edit("work-db", storage_gb=250)
        held = rec.run(mode="apply", requested_by="alice")
    assert held.status == "held", held
    [reason] = held.reasons
    assert reason["rule"] == "storage-cooldown"
    assert "AWS allows the next one after" in reason["message"]
    assert rds_client.describe_db_instances()["DBInstances"][0]["AllocatedStorage"] == 200
    # an approval cannot shorten it: AWS would refuse the call
    approve(shape_settings.require_database_url(), held.run_id or 0, "carol")
    with _reconciler(shape_settings, now + timedelta(hours=1)) as rec:
        waiting = rec.approve(held.run_id or 0)
    assert waiting.status == "held" and "waits for the storage cooldown" in (waiting.skipped or "")
    assert rds_client.describe_db_instances()["DBInstances"][0]["AllocatedStorage"] == 200
    with _reconciler(shape_settings, now + timedelta(hours=6, minutes=5)) as rec:
        later = rec.run(mode="apply", requested_by="scheduler")
    assert (later.run_id, later.status) == (held.run_id, "applied"), later
    assert rds_client.describe_db_instances()["DBInstances"][0]["AllocatedStorage"] == 250


def test_a_storage_change_held_alone_applies_by_itself_after_the_cooldown(
    shape_settings: Settings, edit: Callable[..., Any], rds_client: Any
) -> None:
    now = datetime.now(UTC)
    edit("work-db", **WORK_DB)
    with _reconciler(shape_settings, now) as rec:
        rec.run(mode="apply", requested_by="alice")
        edit("work-db", storage_gb=200)
        rec.run(mode="apply", requested_by="alice")
        _backdate_storage_edit(shape_settings, "work-db")
        edit("work-db", storage_gb=250)
        held = rec.run(mode="apply", requested_by="alice")
        assert [r["rule"] for r in held.reasons] == ["storage-cooldown"]
        assert rec.run(mode="apply", requested_by="scheduler").skipped
    with _reconciler(shape_settings, now + timedelta(hours=6, minutes=5)) as rec:
        later = rec.run(mode="apply", requested_by="scheduler")
    assert later.status == "applied" and later.run_id != held.run_id, later
    assert _status(shape_settings, held.run_id) == "superseded"
    assert rds_client.describe_db_instances()["DBInstances"][0]["AllocatedStorage"] == 250


def test_describe_reads_status_and_pending_storage(
    shape_settings: Settings, edit: Callable[..., Any], rds_client: Any
) -> None:
    edit("work-db", **WORK_DB)
    with _reconciler(shape_settings, NOON) as rec:
        rec.run(mode="apply", requested_by="alice")
    found = describe_rds(shape_settings, ["work-db", "nowhere"])
    assert found == {"work-db": downtime.RdsStatus("available", frozenset())}


BAD = [
    ("maintenance_window", "sun 03:00-sun 04:00"),
    ("maintenance_window", "sun:03:00-sun:03:15"),
    ("maintenance_window", "Sun:03:00-Sun:04:00"),  # the database keeps lowercase only
    ("maintenance_window", "03:00-04:00"),
    ("backup_window", "01:00-01:10"),
    ("backup_window", "1:00-2:00"),
    ("backup_window", "03:30-04:30"),  # overlaps the maintenance window below
]


@pytest.mark.parametrize(("column", "value"), BAD, ids=[v for _, v in BAD])
def test_the_database_refuses_bad_windows(
    shape_settings: Settings, edit: Callable[..., Any], column: str, value: str
) -> None:
    edit("work-db", **WORK_DB, maintenance_window=WINDOW)
    with connect(shape_settings.require_database_url()) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                f"UPDATE params.instances SET {column} = %s WHERE name = 'work-db'", (value,)
            )


def test_an_ec2_row_has_no_backup_window_in_the_database(
    shape_settings: Settings, edit: Callable[..., Any]
) -> None:
    edit("vm", kind="ec2", instance_class="m6i.large", storage_gb=20, maintenance_window=WINDOW)
    with connect(shape_settings.require_database_url()) as conn:
        with pytest.raises(psycopg.errors.CheckViolation, match="backup_window_rds_only"):
            conn.execute("UPDATE params.instances SET backup_window = '01:00-01:30'")


WINDOWS = {**WORK_DB, "maintenance_window": "Sat:22:00-Sat:23:00", "backup_window": "02:00-02:30"}


def test_an_editor_sets_windows_and_bad_ones_are_one_line(shape_settings: Settings) -> None:
    url = shape_settings.require_database_url()
    with as_login(url, "erin", "locxia_editor") as conn:
        catalog = PriceCatalog.load(conn, shape_settings.aws_region)
        conn.rollback()
        change = store.set_instance(
            conn,
            "work-db",
            WINDOWS,
            actor="erin",
            catalog=catalog,
            now=NOON,
        )
        assert change.after.row()["maintenance_window"] == "sat:22:00-sat:23:00"
        with pytest.raises(InputError) as info:
            store.set_instance(
                conn,
                "work-db",
                {"backup_window": "22:30-23:30"},
                actor="erin",
                catalog=catalog,
                now=NOON,
            )
    assert str(info.value) == (
        "params.instances[work-db].backup_window: backup window 22:30-23:30 overlaps"
        " maintenance window sat:22:00-sat:23:00 (AWS: they must not conflict)"
    )
