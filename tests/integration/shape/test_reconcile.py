"""Scenarios through the real Terraform core, the stand-in root module and the moto server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.db import connect
from infra.errors import InputError, PlanRejected
from infra.settings import Settings
from pipelines.shape import records
from pipelines.shape.guardrails import Finding
from pipelines.shape.reconcile import Reconciler
from tests.integration.shape.conftest import NOON, WORK_DB
from tests.support.logins import approve

pytestmark = pytest.mark.slow


def _db(rds_client: Any, name: str) -> dict[str, Any]:
    return rds_client.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]


def _run_row(settings: Settings, run_id: int) -> dict[str, Any]:
    with connect(settings.require_database_url()) as conn:
        cur = conn.execute("SELECT * FROM ops.terraform_runs WHERE id = %s", (run_id,))
        row = cur.fetchone()
        assert row is not None
        return dict(zip([c.name for c in cur.description or []], row, strict=True))


def _count_runs(settings: Settings) -> int:
    with connect(settings.require_database_url()) as conn:
        row = conn.execute("SELECT count(*) FROM ops.terraform_runs").fetchone()
        assert row is not None
        return int(row[0])


def test_lifecycle_create_update_refusals_delete(
    reconciler: Reconciler,
    edit: Callable[..., Any],
    rds_client: Any,
    shape_settings: Settings,
) -> None:
    # insert a row → plan shows create → apply; NOON is inside its maintenance window
    edit("work-db", **WORK_DB, maintenance_window="wed:10:30-wed:11:30")
    created = reconciler.run(mode="apply", requested_by="alice")
    assert created.status == "applied", created
    assert [(c["instance"], c["action"]) for c in created.changes] == [("work-db", "create")]
    assert created.monthly_before == "0.00"
    assert float(created.monthly_after or 0) > 0
    assert _db(rds_client, "work-db")["DBInstanceClass"] == "db.t4g.large"
    assert created.post_apply["drift"]["open"] == 0

    # nothing changed: the tick is cheap and records nothing
    runs = _count_runs(shape_settings)
    again = reconciler.run(mode="apply", requested_by="scheduler")
    assert again.skipped and _count_runs(shape_settings) == runs

    # change class → update in place, cost goes up, AWS follows
    edit("work-db", instance_class="db.r6g.large")
    updated = reconciler.run(mode="apply", requested_by="alice")
    assert updated.status == "applied", updated
    change = updated.changes[0]
    assert change["action"] == "update"
    assert change["before"]["instance_class"] == "db.t4g.large"
    assert change["after"]["instance_class"] == "db.r6g.large"
    assert float(change["monthly_after"]) > float(change["monthly_before"])
    assert _db(rds_client, "work-db")["DBInstanceClass"] == "db.r6g.large"
    row = _run_row(shape_settings, updated.run_id or 0)
    assert row["status"] == "applied" and row["apply_log"] and row["plan_seconds"] > 0
    assert row["requested_by"] == "alice" and row["ended_at"] is not None

    # storage shrink refused before any plan
    runs = _count_runs(shape_settings)
    with pytest.raises(InputError, match=r"storage_gb: cannot shrink 100 → 50"):
        edit("work-db", storage_gb=50)
    assert _count_runs(shape_settings) == runs

    # protected + absent refused
    edit("work-db", protected=True)
    protected = reconciler.run(mode="apply", requested_by="alice")
    assert protected.status == "applied" and _db(rds_client, "work-db")["DeletionProtection"]
    with pytest.raises(InputError, match="protected instance is never absent"):
        edit("work-db", state="absent")

    # unprotected + absent → plan deletes it, with a final snapshot
    edit("work-db", protected=False)
    reconciler.run(mode="apply", requested_by="alice")
    edit("work-db", state="absent")
    deleted = reconciler.run(mode="apply", requested_by="alice")
    assert deleted.status == "applied", deleted
    assert deleted.changes[0]["action"] == "delete"
    assert rds_client.describe_db_instances()["DBInstances"] == []
    snaps = rds_client.describe_db_snapshots(DBInstanceIdentifier="work-db")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in snaps] == ["work-db-final-20261125-110000"]
    assert deleted.post_apply["final_snapshots"] == ["work-db-final-20261125-110000"]


def test_approval_holds_then_applies(
    shape_settings: Settings, edit: Callable[..., Any], rds_client: Any
) -> None:
    from pipelines.shape.jobs import after_apply

    strict = shape_settings.model_copy(update={"shape_auto_apply_usd": 10.0})
    rec = Reconciler(strict, now=lambda: NOON, after_apply=after_apply)
    try:
        edit("work-db", **WORK_DB)
        held = rec.run(mode="apply", requested_by="bob")
        assert held.status == "held"
        assert [r["rule"] for r in held.reasons] == ["cost"]
        assert rds_client.describe_db_instances()["DBInstances"] == []
        # a tick with the same inputs does not plan again while it waits
        assert rec.run(mode="apply", requested_by="scheduler").skipped
        with connect(strict.require_database_url()) as conn:
            notified = conn.execute(
                "SELECT kind, key FROM ops.notifications ORDER BY id"
            ).fetchall()
        assert notified == [("plan_held", f"terraform_run:{held.run_id}")]
        approve(strict.require_database_url(), held.run_id or 0, "carol", label="cfo")
        approved = rec.approve(held.run_id or 0)
        assert approved.status == "applied"
        assert _db(rds_client, "work-db")["DBInstanceClass"] == "db.t4g.large"
        row = _run_row(strict, held.run_id or 0)
        assert (row["approved_login"], row["approved_by"]) == ("carol", "cfo")
        assert row["plan_file"] is None
        with pytest.raises(InputError, match="not held"):
            rec.approve(held.run_id or 0)
    finally:
        rec.close()


def test_approving_a_rejected_run_raises_plan_rejected(reconciler: Reconciler) -> None:
    refused = Finding("protected", "refuse", "work-db is protected", "work-db", "module.rds.x")
    with reconciler.locked() as rec:
        run_id = records.create(
            rec,
            purpose="reconcile",
            requested_by="bob",
            inputs_hash="h",
            inputs={},
            job_run_id=None,
        )
        records.update(
            rec,
            run_id,
            status="rejected",
            decision="rejected",
            reasons=[refused.as_json()],
            ended_at="now",
        )
    with pytest.raises(PlanRejected) as raised:
        reconciler.approve(run_id)
    assert raised.value.addresses == ["module.rds.x"]
    assert raised.value.reason == "work-db is protected"
    assert raised.value.run_id == run_id


def test_held_plan_is_superseded_when_rows_change(
    shape_settings: Settings, edit: Callable[..., Any]
) -> None:
    strict = shape_settings.model_copy(update={"shape_auto_apply_usd": 10.0})
    rec = Reconciler(strict, now=lambda: NOON)
    try:
        edit("work-db", **WORK_DB)
        held = rec.run(mode="apply", requested_by="bob")
        edit("work-db", instance_class="db.t4g.medium")
        approve(strict.require_database_url(), held.run_id or 0, "carol")
        with pytest.raises(InputError, match="superseded"):
            rec.approve(held.run_id or 0)
        assert _run_row(strict, held.run_id or 0)["status"] == "superseded"
    finally:
        rec.close()


def test_drift_behind_terraforms_back_is_recorded(
    reconciler: Reconciler, edit: Callable[..., Any], rds_client: Any, shape_settings: Settings
) -> None:
    from infra.jobs import Registry
    from infra.jobs.runner import Runner

    edit("work-db", **WORK_DB)
    assert reconciler.run(mode="apply", requested_by="alice").status == "applied"
    rds_client.modify_db_instance(
        DBInstanceIdentifier="work-db", DBInstanceClass="db.r6g.2xlarge", ApplyImmediately=True
    )
    runner = Runner(shape_settings, Registry.from_entry_points())
    try:
        result = runner.run("shape.drift", {})
    finally:
        runner.close()
    assert result.status == "success", result.error
    with connect(shape_settings.require_database_url()) as conn:
        rows = conn.execute(
            "SELECT instance, attribute, expected, actual, source FROM ops.drift_findings"
            " WHERE resolved_at IS NULL"
        ).fetchall()
    assert rows == [("work-db", "instance_class", "db.t4g.large", "db.r6g.2xlarge", "describe")]
    with connect(shape_settings.require_database_url()) as conn:
        notified = conn.execute("SELECT kind, key, subject FROM ops.notifications").fetchall()
    assert notified == [
        ("drift", "work-db/instance_class/describe", "Drift on work-db: instance_class")
    ]


def test_power_states_rds_by_api_and_ec2_by_window(
    reconciler: Reconciler, edit: Callable[..., Any], rds_client: Any, ec2_client: Any
) -> None:
    edit("batch-db", **{**WORK_DB, "state": "stopped"})
    # NOON is a Wednesday 12:00 in Paris: this window is open
    edit(
        "batch-vm",
        kind="ec2",
        instance_class="m6i.large",
        storage_gb=30,
        schedule=[{"days": "mon-fri", "start": "09:00", "end": "18:00", "state": "stopped"}],
    )
    first = reconciler.run(mode="apply", requested_by="alice")
    assert first.status == "applied", first
    assert first.post_apply["power"] == {"batch-db": "stopped"}
    assert _db(rds_client, "batch-db")["DBInstanceStatus"] == "stopped"
    vms = ec2_client.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["batch-vm"]}])
    assert [i["State"]["Name"] for r in vms["Reservations"] for i in r["Instances"]] == ["stopped"]
    stopped_cost = {c["instance"]: c["monthly_after"] for c in first.changes}

    edit("batch-db", state="present")
    started = reconciler.run(mode="apply", requested_by="alice")
    assert started.status == "applied" and started.post_apply["power"] == {"batch-db": "started"}
    db_change = next(c for c in started.changes if c["instance"] == "batch-db")
    assert db_change["action"] == "power"
    assert float(db_change["monthly_after"]) > float(stopped_cost["batch-db"])
    assert _db(rds_client, "batch-db")["DBInstanceStatus"] == "available"


def test_a_grafana_login_holding_the_old_key_cannot_stop_a_reconcile(
    reconciler: Reconciler,
    edit: Callable[..., Any],
    rds_client: Any,
    shape_settings: Settings,
    admin_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 12: `pg_advisory_lock(<shape key>)` as Grafana made every reconcile busy."""
    from tests.support.squatter import squatting

    edit("work-db", **WORK_DB)
    url = shape_settings.require_database_url()
    with squatting(admin_url, url, monkeypatch) as foreign:
        assert "shape" in foreign.held
        created = reconciler.run(mode="apply", requested_by="alice")
    assert created.status == "applied", created
    assert _db(rds_client, "work-db")["DBInstanceClass"] == "db.t4g.large"
