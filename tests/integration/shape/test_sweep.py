"""Terraform runs left ``planning``/``applying`` by a killed process, settled by the sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.db import connect
from infra.demo.standin import SHIM
from infra.jobs import Registry
from infra.jobs.runner import Runner
from infra.settings import Settings
from pipelines.shape import records
from pipelines.shape.jobs import after_apply
from pipelines.shape.reconcile import Reconciler, try_shape_lock
from pipelines.shape.runner import EmbeddedTerraform
from tests.conftest import locxia_bin
from tests.integration.shape.conftest import NOON, WORK_DB
from tests.support.orchestrator import wait_for

pytestmark = pytest.mark.slow


def _tf_row(settings: Settings, run_id: int | None = None) -> dict[str, Any] | None:
    with connect(settings.require_database_url()) as conn:
        if run_id is None:
            found = conn.execute("SELECT max(id) FROM ops.terraform_runs").fetchone()
            run_id = found[0] if found else None
            if run_id is None:
                return None
        return records.get(conn, run_id)


def _sweep(settings: Settings) -> dict[str, Any]:
    runner = Runner(settings, Registry.from_entry_points())
    try:
        return dict(runner.sweep().plugins.get("shape", {}))
    finally:
        runner.close()


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler records anything."""


class DiesOnApply(EmbeddedTerraform):
    """The embedded core, except that the process 'dies' when apply is about to start."""

    def run(self, workdir: Path, args: list[str]) -> tuple[int, str, str]:
        if args and args[0] == "apply":
            raise Killed
        return super().run(workdir, args)


class Recording(EmbeddedTerraform):
    commands: list[str] = []  # noqa: RUF012 - shared on purpose: the sweep makes its own

    def run(self, workdir: Path, args: list[str]) -> tuple[int, str, str]:
        Recording.commands.append(args[0])
        return super().run(workdir, args)


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc/<pid>/task/*/children, see proc(5))."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = {int(k) for k in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += sorted(kids - found)
            found |= kids
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def test_an_apply_killed_after_terraform_finished_is_reconciled_to_applied(
    cli_env: dict[str, str],
    shape_settings: Settings,
    standin_dir: Path,
    moto_endpoint: str,
    edit: Callable[..., Any],
    rds_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    edit("work-db", **WORK_DB)
    env = {
        **cli_env,
        "LOCXIA_TERRAFORM_DIR": str(standin_dir),
        "LOCXIA_AWS_ENDPOINT_URL": moto_endpoint,
        "LOCXIA_STANDIN_SHIM": f"{sys.executable} {SHIM}",
        "LOCXIA_STANDIN_ENDPOINT": moto_endpoint,
    }
    cli = subprocess.Popen(
        [locxia_bin(), "infra", "apply"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        row = wait_for(
            lambda: (r := _tf_row(shape_settings)) and r["status"] == "applying" and r, 120
        )
        workers = wait_for(lambda: _descendants(cli.pid), 120)  # the core applying, in its worker
        os.kill(cli.pid, signal.SIGKILL)  # the CLI dies; its Terraform worker goes on
        cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate(timeout=30)
    wait_for(lambda: all(_gone(p) for p in workers), timeout=180)
    assert _tf_row(shape_settings, row["id"])["status"] == "applying"  # type: ignore[index]
    assert rds_client.describe_db_instances(DBInstanceIdentifier="work-db")["DBInstances"]

    Recording.commands.clear()
    monkeypatch.setattr("pipelines.shape.sweep.backend_for", lambda settings: Recording())
    counts = _sweep(shape_settings)

    assert counts == {"terraform_runs_applied": 1, "terraform_runs_failed": 0, "unresolved": 0}
    settled = _tf_row(shape_settings, row["id"])
    assert settled is not None
    assert settled["status"] == "applied" and settled["ended_at"] is not None
    assert "reconciled after an interruption" in settled["error"]
    assert "reconciled after an interruption" in settled["apply_log"]
    assert Recording.commands == ["show"]  # read the state; nothing planned or applied again
    with connect(shape_settings.require_database_url()) as conn:
        job = conn.execute(
            "SELECT status FROM ops.runs WHERE id = %s", (settled["job_run_id"],)
        ).fetchone()
    assert job == ("interrupted",)
    assert not (standin_dir / ".locxia" / f"run-{row['id']}.tfplan").exists()
    assert _sweep(shape_settings) == {}  # settled once


def test_an_apply_killed_before_terraform_changed_anything_is_failed(
    shape_settings: Settings, reconciler: Reconciler, edit: Callable[..., Any]
) -> None:
    edit("work-db", **WORK_DB, maintenance_window="wed:10:30-wed:11:30")  # NOON is inside
    assert reconciler.run(mode="apply", requested_by="alice").status == "applied"
    edit("work-db", instance_class="db.t4g.xlarge")
    dying = Reconciler(
        shape_settings, now=lambda: NOON, backend=DiesOnApply(), after_apply=after_apply
    )
    with pytest.raises(Killed):
        dying.run(mode="apply", requested_by="alice")
    row = _tf_row(shape_settings)
    assert row is not None and row["status"] == "applying"

    assert _sweep(shape_settings) == {
        "terraform_runs_applied": 0,
        "terraform_runs_failed": 1,
        "unresolved": 0,
    }
    failed = _tf_row(shape_settings, row["id"])
    assert failed is not None and failed["status"] == "failed"
    assert failed["error"].startswith(
        "interrupted while applying; work-db: instance_class is db.t4g.large in the state,"
        " db.t4g.xlarge planned"
    )
    # failed is not conclusive: the next reconcile plans and applies again
    again = reconciler.run(mode="apply", requested_by="scheduler")
    assert again.status == "applied" and again.run_id != row["id"]


def test_planning_rows_fail_and_busy_or_live_ones_are_left_alone(
    shape_settings: Settings,
) -> None:
    url = shape_settings.require_database_url()
    with connect(url, autocommit=True) as conn:
        live = conn.execute(
            "INSERT INTO ops.runs (job_id, task, trigger, host, pid, process, heartbeat_at)"
            " VALUES ('shape.reconcile', 'shape.reconcile', 'manual', %s, %s, %s, now())"
            " RETURNING id",
            _me(),
        ).fetchone()
        assert live is not None
        kept = records.create(
            conn,
            purpose="reconcile",
            requested_by="t",
            inputs_hash="a",
            inputs={},
            job_run_id=live[0],
        )
        planning = records.create(
            conn,
            purpose="reconcile",
            requested_by="t",
            inputs_hash="b",
            inputs={},
            job_run_id=None,
        )
        with connect(url, autocommit=True) as holder:  # a reconcile is running elsewhere
            assert try_shape_lock(holder)
            assert _sweep(shape_settings) == {}
            assert records.get(conn, planning)["status"] == "planning"  # type: ignore[index]

        assert _sweep(shape_settings) == {
            "terraform_runs_applied": 0,
            "terraform_runs_failed": 1,
            "unresolved": 0,
        }
        done = records.get(conn, planning)
        assert done is not None and done["status"] == "failed"
        assert done["error"].startswith("interrupted while planning; nothing was applied")
        assert records.get(conn, kept)["status"] == "planning"  # type: ignore[index]


def _me() -> tuple[str, int, str | None]:
    from infra.jobs.liveness import ProcessIdentity

    me = ProcessIdentity.current()
    return me.host, me.pid, me.token
