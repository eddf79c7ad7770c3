"""Separation of duties, by the database: who may approve a held plan, and what is recorded.

The held runs here are rows as a reconcile leaves them (``records.create`` + ``update``); the
changes to ``params.instances`` are made through ``store.set_instance`` as distinct logins,
because ``session_user`` is what the database trusts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from infra.db import connect
from infra.errors import ApprovalRefused, InputError, JobError
from infra.jobs import Registry
from infra.jobs.runner import Runner
from infra.prices import PriceCatalog
from infra.settings import Settings
from pipelines.shape import approval, records, store
from pipelines.shape.jobs import after_apply
from pipelines.shape.reconcile import Reconciler
from tests.integration.shape.conftest import NOON
from tests.support.logins import approve, as_login, login

WORK_DB = {
    "kind": "rds",
    "instance_class": "db.t4g.large",
    "storage_gb": 100,
    "engine": "postgres",
    "engine_version": "16",
}


def _owner(db_url: str) -> str:
    with connect(db_url) as conn:
        row = conn.execute("SELECT session_user").fetchone()
    assert row is not None
    return str(row[0])


def _edit(db_url: str, who: str, name: str, label: str = "tester", **changes: Any) -> None:
    """Change a row as login ``who`` (who inherits the owner's privileges on the tables)."""
    with as_login(db_url, who, _owner(db_url)) as conn:
        catalog = PriceCatalog.load(conn, "eu-west-3")
        conn.rollback()
        store.set_instance(conn, name, changes, actor=label, catalog=catalog, now=datetime.now(UTC))


def _run(db_url: str, status: str, *instances: str) -> int:
    """A reconcile run with ``status`` whose plan changes ``instances``."""
    with connect(db_url, autocommit=True) as conn:
        run_id = records.create(
            conn, purpose="reconcile", requested_by="scheduler", inputs_hash="h",
            inputs={}, job_run_id=None,
        )  # fmt: skip
        records.update(
            conn,
            run_id,
            status=status,
            decision="needs_approval" if status == "held" else "auto_apply",
            changes=[{"instance": i, "action": "update"} for i in instances]
            + [{"instance": "untouched", "action": "no-op"}],
            ended_at=None if status == "held" else "now",
        )
    return run_id


def _approve(db_url: str, run_id: int, who: str, *roles: str, label: str = "cfo") -> None:
    with as_login(db_url, who, *roles, autocommit=True) as conn:
        approval.record(conn, run_id, label)


def _approval_of(db_url: str, run_id: int) -> tuple[Any, ...]:
    with connect(db_url) as conn:
        row = conn.execute(
            "SELECT approved_login, approved_by, approved_at IS NOT NULL"
            " FROM ops.terraform_runs WHERE id = %s",
            (run_id,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_an_editor_login_cannot_approve(db_url: str) -> None:
    _edit(db_url, "alice", "work-db", **WORK_DB)
    run_id = _run(db_url, "held", "work-db")
    with pytest.raises(ApprovalRefused) as refused:
        _approve(db_url, run_id, "bob", "locxia_editor")
    assert str(refused.value) == (
        f"run {run_id}: approving needs the locxia_approver role (login bob has not)"
    )
    with pytest.raises(ApprovalRefused, match="login nobody_else has not"):
        _approve(db_url, run_id, "nobody_else")
    assert _approval_of(db_url, run_id) == (None, None, False)


def test_the_author_of_the_change_cannot_approve_the_plan_it_caused(db_url: str) -> None:
    _edit(db_url, "alice", "work-db", **WORK_DB)
    _edit(db_url, "dave", "other-db", **WORK_DB)
    run_id = _run(db_url, "held", "work-db", "other-db")
    # alice is an approver too, and labels herself as someone else: still the author
    login(db_url, "alice", "locxia_approver")
    with pytest.raises(ApprovalRefused) as refused:
        _approve(db_url, run_id, "alice", label="cfo")
    assert str(refused.value) == (
        f"run {run_id}: alice changed params.instances[work-db] and cannot approve the plan"
        " it caused"
    )
    assert _approval_of(db_url, run_id) == (None, None, False)


def test_another_approver_can_and_the_login_is_recorded_beside_the_label(db_url: str) -> None:
    _edit(db_url, "alice", "work-db", label="carol", **WORK_DB)  # alice even signs as carol
    run_id = _run(db_url, "held", "work-db")
    _approve(db_url, run_id, "carol", "locxia_approver", label="cfo")
    assert _approval_of(db_url, run_id) == ("carol", "cfo", True)
    with pytest.raises(InputError, match=f"run {run_id} is already approved by login carol"):
        _approve(db_url, run_id, "erin", "locxia_approver")


def test_authors_are_the_changes_since_the_last_applied_run(db_url: str) -> None:
    """A change the last applied run already made real, or to an instance the plan does not
    change, does not make its login an author of the next plan."""
    _edit(db_url, "alice", "work-db", **WORK_DB)
    _edit(db_url, "alice", "other-db", **WORK_DB)
    _run(db_url, "applied", "work-db", "other-db")
    _edit(db_url, "dave", "work-db", instance_class="db.r6g.large")
    _edit(db_url, "alice", "other-db", instance_class="db.r6g.large")
    run_id = _run(db_url, "held", "work-db")
    with connect(db_url) as conn:
        authors = conn.execute("SELECT * FROM ops.plan_authors(%s)", (run_id,)).fetchall()
    assert authors == [("dave", "work-db")]
    _approve(db_url, run_id, "alice", "locxia_approver")
    assert _approval_of(db_url, run_id)[0] == "alice"


def test_only_held_runs_can_be_approved(db_url: str) -> None:
    applied = _run(db_url, "applied", "work-db")
    with pytest.raises(InputError, match=f"run {applied} is applied, not held for approval"):
        _approve(db_url, applied, "carol", "locxia_approver")
    with pytest.raises(InputError, match="run 999999: no such reconcile run"):
        _approve(db_url, 999999, "carol", "locxia_approver")


def test_no_login_can_write_an_approval_around_the_function(db_url: str) -> None:
    """An approver holds EXECUTE on ops.approve_plan and nothing else: no UPDATE of the row."""
    run_id = _run(db_url, "held", "work-db")
    with as_login(db_url, "carol", "locxia_approver") as conn:
        with pytest.raises(Exception, match="permission denied"):
            conn.execute(
                "UPDATE ops.terraform_runs SET approved_login = 'carol' WHERE id = %s", (run_id,)
            )
    assert _approval_of(db_url, run_id) == (None, None, False)


def test_the_approval_wakes_the_reconcile(db_url: str) -> None:
    run_id = _run(db_url, "held", "work-db")
    with connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN locxia_params")
        _approve(db_url, run_id, "carol", "locxia_approver")
        notes = [n.payload for n in listener.notifies(timeout=2, stop_after=1)]
    assert notes == [f'{{"table" : "instances", "op" : "APPROVE", "key" : "{run_id}"}}']


# --- the apply, with the stand-in Terraform module and the moto server -------------------------
def _held(settings: Settings, edit: Any) -> tuple[Settings, int]:
    strict = settings.model_copy(update={"shape_auto_apply_usd": 10.0})
    edit("work-db", **WORK_DB)
    rec = Reconciler(strict, now=lambda: NOON, after_apply=after_apply)
    try:
        held = rec.run(mode="apply", requested_by="bob")
    finally:
        rec.close()
    assert held.status == "held" and held.run_id is not None
    return strict, held.run_id


@pytest.mark.slow
def test_shape_approve_with_a_forged_actor_applies_nothing(
    shape_settings: Settings, edit: Any, rds_client: Any
) -> None:
    """The task the issue's scheduled row ran: whatever its arguments, no recorded approval,
    no apply."""
    strict, run_id = _held(shape_settings, edit)
    runner = Runner(strict, Registry.from_entry_points())
    try:
        with pytest.raises(JobError):
            runner.run("shape.approve", {"run": run_id, "actor": "cfo"})
        bare = runner.run("shape.approve", {"run": run_id})
    finally:
        runner.close()
    assert bare.status == "failed"
    assert f"run {run_id}: no approval recorded by the database" in (bare.error or "")
    assert rds_client.describe_db_instances()["DBInstances"] == []
    with connect(strict.require_database_url()) as conn:
        row = conn.execute(
            "SELECT status, approved_login, approved_by FROM ops.terraform_runs WHERE id = %s",
            (run_id,),
        ).fetchone()
    assert row == ("held", None, None)


@pytest.mark.slow
def test_the_service_applies_what_an_approver_login_approved(
    shape_settings: Settings, edit: Any, rds_client: Any
) -> None:
    """carol has locxia_approver and nothing else: the next reconcile applies her approval."""
    strict, run_id = _held(shape_settings, edit)
    approve(strict.require_database_url(), run_id, "carol", label="cfo")
    rec = Reconciler(strict, now=lambda: NOON, after_apply=after_apply)
    try:
        outcome = rec.run(mode="apply", requested_by="scheduler")
    finally:
        rec.close()
    assert (outcome.run_id, outcome.status) == (run_id, "applied")
    assert rds_client.describe_db_instances()["DBInstances"][0]["DBInstanceClass"] == (
        "db.t4g.large"
    )
    assert _approval_of(strict.require_database_url(), run_id) == ("carol", "cfo", True)
