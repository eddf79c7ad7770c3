"""Capacity windows end to end: PostgreSQL, the moto server, the Terraform core, the Runner.

A job declares 2 Dask workers of a priced EC2 type in ``params.run_capacity``; its run is
wrapped in a window that inserts worker rows, reconciles through shape (plan, guardrails, cost
delta, apply), runs, and removes them — also when the run fails, when the plan waits for an
approval that never comes, and after the process that held it died (the sweep).
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import boto3
import pytest

from infra import capacity
from infra.capacity.windows import RESTORE_LOCK
from infra.db import connect, locks
from infra.jobs import Registry
from infra.jobs.runner import Runner
from infra.settings import Settings
from tests.support import capacity_tasks
from tests.support.logins import approve

pytestmark = pytest.mark.slow

M6I_LARGE_HOURLY = Decimal("0.112")  # infra/data/prices-eu-west-3.csv


def _declare(url: str, job: str = "layers.big", workers: int = 2) -> None:
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO params.run_capacity (job, dask_workers, worker_type, note)"
            " VALUES (%s, %s, 'm6i.large', 'national layer')",
            (job, workers),
        )
        conn.commit()


def _runner(settings: Settings) -> Runner:
    return Runner(settings, Registry.from_entry_points(extra=[capacity_tasks.plugin]))


def _alive_workers(endpoint: str) -> dict[str, str]:
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="eu-west-3")
    out: dict[str, str] = {}
    for res in ec2.describe_instances()["Reservations"]:
        for inst in res["Instances"]:
            name = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}.get("Name", "")
            if name.startswith("cap") and inst["State"]["Name"] != "terminated":
                out[name] = inst["State"]["Name"]
    return out


def _one(url: str, query: str, *args: object) -> Any:
    with connect(url) as conn:
        row = conn.execute(query, args).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def _window(url: str) -> dict[str, Any]:
    with connect(url) as conn:
        rows = capacity.listing(conn)
    assert len(rows) == 1
    return rows[0]


def _worker_rows(url: str) -> int:
    return int(_one(url, "SELECT count(*) FROM params.instances WHERE purpose = 'dask-worker'"))


@pytest.fixture
def fast(shape_settings: Settings) -> Settings:
    return shape_settings.model_copy(update={"capacity_wait_seconds": 120.0})


def test_a_declared_run_gets_its_workers_and_they_are_gone_after(
    fast: Settings, moto_endpoint: str
) -> None:
    url = fast.require_database_url()
    _declare(url)
    runner = _runner(fast)
    try:
        result = runner.run("captest.look", job_id="layers.big")
    finally:
        runner.close()
    assert result.status == "success", result.error
    w = _window(url)
    names = [f"cap{w['id']}-w1", f"cap{w['id']}-w2"]
    # the plan showed the two workers created, with the monthly cost delta they bring
    plan = result.details["capacity"]["plan"]
    creates = sorted(c["instance"] for c in plan["changes"] if c["action"] == "create")
    assert creates == names
    assert Decimal(plan["monthly_delta"]) > 0
    assert Decimal(plan["monthly_delta"]) == Decimal(plan["monthly_after"]) - Decimal(
        plan["monthly_before"]
    )
    # the run ran while both were running, and they are gone after
    assert result.details["workers_seen"] == names
    assert _alive_workers(moto_endpoint) == {}
    assert _worker_rows(url) == 0
    assert w["state"] == "restored" and w["added"] == names
    assert w["available_at"] is not None and w["restored_at"] >= w["available_at"]
    assert len(w["raise_runs"]) >= 1 and len(w["restore_runs"]) >= 1
    # priced: each worker at least AWS's 60 s minimum of m6i.large, and added to the run
    lines = w["cost_basis"]["lines"]
    assert [line["item"] for line in lines] == names
    assert all(line["billed_seconds"] >= 60 for line in lines)
    assert w["cost_usd"] >= (2 * M6I_LARGE_HOURLY * 60 / 3600).quantize(Decimal("1e-8"))
    basis = _one(url, "SELECT cost_basis FROM ops.runs WHERE id = %s", result.run_id)
    assert Decimal(basis["capacity"]["usd"]) == w["cost_usd"]
    # audited like a person's edit, under the window's name
    who = _one(
        url,
        "SELECT array_agg(DISTINCT changed_by || ':' || op) FROM params.history"
        " WHERE table_name = 'instances' AND row_key = ANY(%s)",
        names,
    )
    assert sorted(who) == [
        f"capacity-window:{w['id']}:{op}" for op in ("DELETE", "INSERT", "UPDATE")
    ]  # inserted, set absent for the restore, deleted once gone
    # the raise and restore reconciles are recorded runs inside the run
    steps = _one(
        url,
        "SELECT array_agg(job_id ORDER BY id) FROM ops.runs WHERE parent_id = %s",
        result.run_id,
    )
    assert set(steps) == {"layers.big/capacity-raise", "layers.big/capacity-restore"}


def test_a_failing_run_restores_too(fast: Settings, moto_endpoint: str) -> None:
    url = fast.require_database_url()
    _declare(url)
    runner = _runner(fast)
    try:
        result = runner.run("captest.fail", job_id="layers.big")
    finally:
        runner.close()
    assert result.status == "failed"
    assert result.error == "partition 3 of 8 failed: invalid geometry"
    assert len(result.details["workers_seen"]) == 2
    w = _window(url)
    assert w["state"] == "restored"
    assert w["reason"].startswith("the run failed: partition 3 of 8")
    assert _alive_workers(moto_endpoint) == {}
    assert _worker_rows(url) == 0


def test_a_plan_above_the_limit_waits_held_then_fails_restored(
    shape_settings: Settings, moto_endpoint: str
) -> None:
    settings = shape_settings.model_copy(
        update={"capacity_wait_seconds": 5.0, "shape_auto_apply_usd": 50.0}
    )
    url = settings.require_database_url()
    _declare(url)
    runner = _runner(settings)
    started = time.monotonic()
    try:
        result = runner.run("captest.look", job_id="layers.big")
    finally:
        runner.close()
    waited = time.monotonic() - started
    assert result.status == "failed"
    w = _window(url)
    held = w["plan"]["terraform_run"]
    assert result.error == (
        f"capacity window {w['id']}: not available within 5 s: plan {held} still held for"
        f" approval (`locxia infra approve {held}`)"
    )
    assert "workers_seen" not in result.details  # the task never ran
    assert waited >= 5
    assert w["state"] == "restored" and w["available_at"] is None
    assert w["cost_usd"] == 0  # nothing was ever created
    assert _one(url, "SELECT status FROM ops.terraform_runs WHERE id = %s", held) in (
        "held",
        "superseded",
    )
    assert _alive_workers(moto_endpoint) == {}
    assert _worker_rows(url) == 0


def test_an_approval_while_held_lets_the_run_go(
    shape_settings: Settings, moto_endpoint: str
) -> None:
    settings = shape_settings.model_copy(
        update={"capacity_wait_seconds": 120.0, "shape_auto_apply_usd": 50.0}
    )
    url = settings.require_database_url()
    _declare(url)
    approved: list[int] = []

    def approver() -> None:  # another login, as `locxia infra approve RUN` would
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not approved:
            with connect(url) as conn:
                row = conn.execute(
                    "SELECT id FROM ops.terraform_runs WHERE status = 'held'"
                ).fetchone()
            if row:
                approve(url, int(row[0]))
                approved.append(int(row[0]))
            time.sleep(0.3)

    thread = threading.Thread(target=approver)
    thread.start()
    runner = _runner(settings)
    try:
        result = runner.run("captest.look", job_id="layers.big")
    finally:
        runner.close()
        thread.join()
    assert result.status == "success", result.error
    assert len(result.details["workers_seen"]) == 2
    w = _window(url)
    assert approved and approved[0] in w["raise_runs"]
    assert w["state"] == "restored"
    assert _alive_workers(moto_endpoint) == {}


def test_a_window_whose_run_died_is_restored_by_the_sweep(
    fast: Settings, moto_endpoint: str
) -> None:
    """What a kill -9 leaves: a window running for a run no process will finish."""
    url = fast.require_database_url()
    _declare(url, job="layers.dead")
    runner = _runner(fast)
    try:
        with connect(url, autocommit=True) as conn:
            run_id = _one(
                url,
                "INSERT INTO ops.runs (job_id, task, trigger, host, pid)"
                " VALUES ('layers.dead', 'core.noop', 'manual', 'elsewhere', 1) RETURNING id",
            )
            decl = capacity.declared(conn, "layers.dead")
            assert decl is not None
            windows = capacity.Windows(fast, now=runner.now)
            wid = windows.open(conn, run_id, "layers.dead", decl)
            windows.raise_capacity(conn, wid, runner.run_reconcile("layers.dead", run_id))
        assert len(_alive_workers(moto_endpoint)) == 2
        report = runner.sweep()  # the run still looks alive (another host, fresh)
        assert report.plugins["capacity"] == {"restored": 0, "failed": 0, "busy": 0}
        with connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE ops.runs SET status = 'interrupted', ended_at = now(),"
                " error = 'interrupted: its process 1 on elsewhere is gone' WHERE id = %s",
                (run_id,),
            )
        with connect(url, autocommit=True) as other:  # another process restoring: left to it
            assert locks.try_lock(other, RESTORE_LOCK)
            busy = runner.sweep()
            assert busy.plugins["capacity"] == {"restored": 0, "failed": 0, "busy": 1}
        report = runner.sweep()  # its session ended: the lock is free again
        assert report.plugins["capacity"] == {"restored": 1, "failed": 0, "busy": 0}
        again = runner.sweep()  # idempotent: nothing left to do
        assert again.plugins["capacity"] == {"restored": 0, "failed": 0, "busy": 0}
    finally:
        runner.close()
    w = _window(url)
    assert w["state"] == "restored"
    assert w["reason"] == "swept: run interrupted: interrupted: its process 1 on elsewhere is gone"
    assert _alive_workers(moto_endpoint) == {}
    assert _worker_rows(url) == 0
    basis = _one(url, "SELECT cost_basis FROM ops.runs WHERE id = %s", run_id)
    assert basis["capacity"]["window"] == w["id"] and basis["capacity"]["swept"] is True
    with connect(url, autocommit=True) as conn:  # restoring twice is harmless
        out = capacity.Windows(fast, now=runner.now).restore(
            conn, w["id"], runner.window_reconcile(w["id"]), "again"
        )
    assert out["state"] == "restored"


def _window_around_now() -> str:
    """A weekly maintenance window (UTC) open now, so a class change is on time."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    return f"{start:%a}:{start:%H:%M}-{end:%a}:{end:%H:%M}".lower()


def test_a_database_class_for_the_run_is_put_back(fast: Settings, moto_endpoint: str) -> None:
    url = fast.require_database_url()
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO params.instances (name, kind, instance_class, storage_gb, engine,"
            " engine_version, maintenance_window)"
            " VALUES ('work-db', 'rds', 'db.t4g.large', 100, 'postgres', '16', %s)",
            (_window_around_now(),),
        )
        conn.execute(
            "INSERT INTO params.run_capacity (job, database, database_class)"
            " VALUES ('layers.pg', 'work-db', 'db.r6g.large')"
        )
        conn.commit()
    rds = boto3.client("rds", endpoint_url=moto_endpoint, region_name="eu-west-3")

    def aws_class() -> str:
        return str(
            rds.describe_db_instances(DBInstanceIdentifier="work-db")["DBInstances"][0][
                "DBInstanceClass"
            ]
        )

    runner = _runner(fast)
    try:
        first = runner.run("shape.reconcile")
        assert first.status == "success" and first.details["status"] == "applied", first
        assert aws_class() == "db.t4g.large"
        result = runner.run("captest.look", job_id="layers.pg")
    finally:
        runner.close()
    assert result.status == "success", result.error
    w = _window(url)
    assert w["state"] == "restored"
    assert w["previous"] == {"work-db": {"instance_class": ["db.t4g.large", "db.r6g.large"]}}
    plan = w["plan"]
    assert [(c["instance"], c["action"]) for c in plan["changes"]] == [("work-db", "update")]
    assert Decimal(plan["monthly_delta"]) > 0
    assert aws_class() == "db.t4g.large"
    assert _one(url, "SELECT instance_class FROM params.instances WHERE name = 'work-db'") == (
        "db.t4g.large"
    )
    (line,) = w["cost_basis"]["lines"]
    assert line["item"] == "work-db" and line["billed_seconds"] >= 600  # RDS: 10 min minimum
    assert Decimal(line["usd_per_hour"]) > 0
