"""Power on every tick and back-off after failures, through the real tick (the recorded Runner
running ``shape.reconcile``), the Terraform core, the stand-in module and the moto server.

moto starts and stops at once and in any state: states AWS would be in are set through the API
(``start_db_instance`` plays AWS's seven-day restart), and the clock is injected.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import botocore.client
import pytest

from infra.db import connect
from infra.demo.standin import SHIM
from infra.jobs import Registry
from infra.jobs.model import RunResult
from infra.jobs.runner import Runner
from infra.settings import Settings
from pipelines.shape.jobs import after_apply
from pipelines.shape.reconcile import Reconciler
from tests.integration.shape.conftest import NOON, WORK_DB

pytestmark = pytest.mark.slow


class Clock:
    """The injected clock of every tick."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


@pytest.fixture
def tick(shape_settings: Settings, clock: Clock) -> Iterator[Callable[[], RunResult]]:
    """One scheduled tick of ``shape.reconcile``, recorded in ``ops.runs``, at ``clock``."""
    runner = Runner(shape_settings, Registry.from_entry_points(), now=clock)
    yield lambda: runner.run("shape.reconcile", {})
    runner.close()


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Every AWS operation this process calls, counted (the stand-in's run in Terraform's)."""
    counts: dict[str, int] = {}
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        counts[operation] = counts.get(operation, 0) + 1
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    return counts


def _status(rds_client: Any, name: str) -> str:
    return str(
        rds_client.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0][
            "DBInstanceStatus"
        ]
    )


def _events(settings: Settings) -> list[tuple[Any, ...]]:
    with connect(settings.require_database_url()) as conn:
        return conn.execute(
            "SELECT instance, from_state, action, reason, result, at FROM ops.power_events"
            " ORDER BY id"
        ).fetchall()


def test_a_database_aws_restarts_is_stopped_within_one_tick(
    tick: Callable[[], RunResult],
    clock: Clock,
    edit: Callable[..., Any],
    rds_client: Any,
    shape_settings: Settings,
    aws_calls: dict[str, int],
) -> None:
    edit("batch-db", **{**WORK_DB, "state": "stopped"})
    edit("batch-vm", kind="ec2", instance_class="m6i.large", storage_gb=30)
    first = tick()
    assert first.status == "success" and first.details["status"] == "applied", first
    assert _status(rds_client, "batch-db") == "stopped"
    assert _events(shape_settings) == [
        ("batch-db", "available", "stop", "row", "ok", NOON),
    ]

    clock.advance(days=7, minutes=1)  # AWS: "automatically started" after seven days
    rds_client.start_db_instance(DBInstanceIdentifier="batch-db")
    assert _status(rds_client, "batch-db") == "available"
    aws_calls.clear()

    began = time.perf_counter()
    second = tick()
    seconds = time.perf_counter() - began
    calls = dict(aws_calls)  # the tick's own (the checks below call AWS too)
    assert second.status == "success", second.error
    assert second.details["skipped"].startswith("inputs unchanged")  # the hash did not move
    assert second.details["power"]["acted"] == {"batch-db": "stopped"}
    assert _status(rds_client, "batch-db") == "stopped"
    assert _events(shape_settings)[-1] == (
        "batch-db", "available", "stop", "aws-auto-start", "ok", clock.at,
    )  # fmt: skip
    # the describe stays cheap: one filtered DescribeDBInstances, one DescribeInstances
    assert calls == {"DescribeDBInstances": 1, "DescribeInstances": 1, "StopDBInstance": 1}
    print(f"\nstopped again within 1 tick, {seconds:.2f} s")  # noqa: T201 (the measure)

    third = tick()  # nothing more to do: no call but the two describes
    assert third.details["power"]["acted"] == {} and len(_events(shape_settings)) == 2


def test_a_database_aws_keeps_busy_is_waited_out_then_stopped(
    tick: Callable[[], RunResult],
    clock: Clock,
    edit: Callable[..., Any],
    rds_client: Any,
    shape_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From backing-up, StopDBInstance fails (InvalidDBInstanceState): no call is made."""
    from pipelines.shape import power

    edit("batch-db", **{**WORK_DB, "state": "stopped"})
    assert tick().details["status"] == "applied"
    rds_client.start_db_instance(DBInstanceIdentifier="batch-db")
    busy = {"status": "backing-up"}
    real = power.PowerKeeper.describe_rds

    def described(self: power.PowerKeeper, names: Any) -> dict[str, power.Seen]:
        seen = real(self, names)
        return {n: power.Seen(busy["status"], s.ident) for n, s in seen.items()}

    monkeypatch.setattr(power.PowerKeeper, "describe_rds", described)  # AWS's state, not moto's
    for _ in range(3):
        clock.advance(seconds=30)
        assert tick().details["power"]["waiting"] == {"batch-db": "backing-up"}
    assert _status(rds_client, "batch-db") == "available"  # no stop was issued
    busy["status"] = "available"
    clock.advance(seconds=30)
    assert tick().details["power"]["acted"] == {"batch-db": "stopped"}
    assert [(e[1], e[2], e[4]) for e in _events(shape_settings)] == [
        ("available", "stop", "ok"),
        ("backing-up", "wait", "waiting"),  # recorded once, not every tick
        ("available", "stop", "ok"),
    ]


def test_a_failed_stop_is_retried_with_back_off(
    tick: Callable[[], RunResult],
    clock: Clock,
    edit: Callable[..., Any],
    rds_client: Any,
    shape_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from infra.errors import AwsError
    from pipelines.shape import power

    edit("batch-db", **{**WORK_DB, "state": "stopped"})
    assert tick().details["status"] == "applied"
    rds_client.start_db_instance(DBInstanceIdentifier="batch-db")
    real = power.PowerKeeper._call
    refusals = {"left": 2}

    def refusing(self: power.PowerKeeper, kind: Any, action: Any, seen: Any) -> None:
        if refusals["left"]:
            refusals["left"] -= 1
            raise AwsError(
                "InvalidDBInstanceState", "rds", "StopDBInstance", "InvalidDBInstanceState"
            )
        real(self, kind, action, seen)

    monkeypatch.setattr(power.PowerKeeper, "_call", refusing)
    tried: list[int] = []
    for second in range(0, 301, 30):
        clock.at = NOON + timedelta(seconds=second)
        report = tick().details["power"]
        if report["failed"] or report["acted"]:
            tried.append(second)
    assert tried == [0, 60, 180]  # 1 then 2 minutes after the failures
    assert _status(rds_client, "batch-db") == "stopped"
    with connect(shape_settings.require_database_url()) as conn:
        attempts = conn.execute(
            "SELECT result, attempt FROM ops.power_events WHERE reason <> 'row' ORDER BY id"
        ).fetchall()
    assert attempts == [("failed", 1), ("failed", 2), ("ok", 3)]


def test_a_plan_that_modifies_a_stopped_database_starts_it_then_stops_it_again(
    tick: Callable[[], RunResult],
    clock: Clock,
    edit: Callable[..., Any],
    rds_client: Any,
    shape_settings: Settings,
) -> None:
    edit(
        "batch-db", **{**WORK_DB, "state": "stopped"}, maintenance_window="wed:10:30-wed:11:30"
    )  # NOON inside
    assert tick().details["status"] == "applied"
    assert _status(rds_client, "batch-db") == "stopped"
    edit("batch-db", instance_class="db.r6g.large")
    clock.advance(minutes=1)
    resized = tick()
    assert resized.status == "success", resized.error
    assert resized.details["status"] == "applied", resized.details
    db = rds_client.describe_db_instances(DBInstanceIdentifier="batch-db")["DBInstances"][0]
    assert (db["DBInstanceClass"], db["DBInstanceStatus"]) == ("db.r6g.large", "stopped")
    run_id = resized.details["terraform_run"]
    with connect(shape_settings.require_database_url()) as conn:
        rows = conn.execute(
            "SELECT from_state, action, reason, result, terraform_run_id FROM ops.power_events"
            " ORDER BY id"
        ).fetchall()
    assert rows == [
        ("available", "stop", "row", "ok", run_id - 1),
        ("stopped", "start", "modify-stopped", "ok", run_id),  # before the apply
        ("available", "stop", "modify-stopped", "ok", run_id),  # after it
    ]


def test_an_ec2_type_change_on_a_stopped_instance_leaves_it_stopped(
    shape_settings: Settings, edit: Callable[..., Any], ec2_client: Any
) -> None:
    """The provider starts an instance after a type change; Terraform alone stops it again
    (aws_ec2_instance_state replaced with the type), no power pass involved here."""
    rec = Reconciler(shape_settings, now=lambda: NOON)  # no after_apply: Terraform only
    try:
        edit("batch-vm", kind="ec2", instance_class="m6i.large", storage_gb=30, state="stopped",
             maintenance_window="wed:10:30-wed:11:30")  # fmt: skip
        assert rec.run(mode="apply", requested_by="alice").status == "applied"
        edit("batch-vm", instance_class="m6i.xlarge")
        resized = rec.run(mode="apply", requested_by="alice")
        assert resized.status == "applied", resized
    finally:
        rec.close()
    found = ec2_client.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["batch-vm"]}])
    (vm,) = [i for r in found["Reservations"] for i in r["Instances"]]
    assert (vm["InstanceType"], vm["State"]["Name"]) == ("m6i.xlarge", "stopped")


def test_a_failing_apply_backs_off(
    tick: Callable[[], RunResult],
    clock: Clock,
    edit: Callable[..., Any],
    shape_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ticks every 30 s for 10 simulated minutes: tries at 0, 1, 3 and 7 minutes only."""
    edit("work-db", **WORK_DB, maintenance_window="wed:10:30-wed:11:30")  # NOON inside
    clock.at = NOON - timedelta(minutes=5)
    assert tick().details["status"] == "applied"
    monkeypatch.setenv("LOCXIA_STANDIN_SHIM", "false")  # every provisioner fails: apply fails
    edit("work-db", instance_class="db.r6g.large")
    tries: list[int] = []
    held: list[str] = []
    for second in range(0, 601, 30):
        clock.at = NOON + timedelta(seconds=second)
        result = tick()
        if result.status == "failed":
            assert "terraform apply failed" in (result.error or "")
            tries.append(second)
        else:
            held.append(result.details["skipped"])
    print(f"\ntries over 10 minutes: {len(tries)} at {tries} s")  # noqa: T201 (the measure)
    assert tries == [0, 60, 180, 420]
    assert held[-1].startswith(
        "held after 4 failures: terraform apply failed: Error: local-exec provisioner error"
    )
    assert held[-1].endswith("; next try at 2026-11-25 11:15:00 UTC")
    assert len(held) == 17 and all(h.startswith("held after ") for h in held)
    with connect(shape_settings.require_database_url()) as conn:
        view = conn.execute(
            "SELECT failures, wait_minutes, reason, retry_with FROM reporting.apply_backoff"
        ).fetchall()
    assert view == [(4, 8.0, held[-1], "locxia infra retry")]

    # a person clears it: the next tick plans again (and fails again: 1 failure, 1 minute)
    from pipelines.shape import backoff

    with connect(shape_settings.require_database_url(), autocommit=True) as conn:
        assert backoff.clear(conn) == 1
        assert backoff.clear(conn) == 0  # idempotent
    clock.advance(seconds=30)
    assert tick().status == "failed"
    with connect(shape_settings.require_database_url()) as conn:
        assert conn.execute("SELECT failures FROM ops.apply_backoff").fetchall() == [(1,)]

    # the rows change: new inputs, planned at once (not held back), the old count forgotten
    monkeypatch.setenv("LOCXIA_STANDIN_SHIM", f"{sys.executable} {SHIM}")
    edit("work-db", storage_gb=120)
    clock.advance(seconds=30)
    fixed = tick()
    assert fixed.status == "success" and not fixed.details["skipped"], fixed
    with connect(shape_settings.require_database_url()) as conn:
        assert conn.execute("SELECT count(*) FROM ops.apply_backoff").fetchone() == (0,)


def test_after_apply_records_power_with_the_runs_clock(
    shape_settings: Settings, edit: Callable[..., Any]
) -> None:
    later = NOON + timedelta(days=1)
    rec = Reconciler(
        shape_settings, now=lambda: later, after_apply=partial(after_apply, now=lambda: later)
    )
    try:
        edit("batch-db", **{**WORK_DB, "state": "stopped"})
        assert rec.run(mode="apply", requested_by="alice").post_apply["power"] == {
            "batch-db": "stopped"
        }
    finally:
        rec.close()
    assert [e[5] for e in _events(shape_settings)] == [later]
