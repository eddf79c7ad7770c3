"""Orphaned runs: killed processes' runs are marked interrupted, live ones never are."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from infra.db import connect
from infra.jobs import Registry
from infra.jobs.liveness import ProcessIdentity, grace_seconds, process_token
from infra.jobs.runner import Runner
from infra.settings import Settings
from tests.conftest import locxia_bin
from tests.support.orchestrator import wait_for


def _runs(url: str, where: str = "TRUE", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with connect(url) as conn:
        cur = conn.execute(
            "SELECT id, job_id, status, error, host, pid, process, heartbeat_at, ended_at,"
            f" parent_id FROM ops.runs WHERE {where} ORDER BY id",
            params,
        )
        names = [c.name for c in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@contextmanager
def cli_run(cli_env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[str]]:
    """``locxia ARGS`` started in the background; killed (SIGKILL) and reaped on exit."""
    proc = subprocess.Popen(
        [locxia_bin(), *args],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def _locxia(cli_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [locxia_bin(), *args], env=cli_env, capture_output=True, text=True, timeout=120
    )


def _dead_pid() -> int:
    """A pid that belonged to a process now gone (started, exited, reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# --- real processes, through the CLI ------------------------------------------------------
@pytest.mark.slow
def test_a_killed_cli_run_is_interrupted_by_the_next_cli_start(
    cli_env: dict[str, str], db_url: str
) -> None:
    steps = json.dumps([{"task": "core.noop", "args": {"sleep_seconds": 120}}])
    with cli_run(cli_env, "jobs", "run", "core.chain", "--arg", f"steps={steps}") as proc:
        rows = wait_for(lambda: len(_runs(db_url, "status = 'running'")) == 2 and _runs(db_url))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    parent, child = rows
    assert child["parent_id"] == parent["id"]
    assert parent["pid"] == proc.pid and parent["process"] and parent["heartbeat_at"]
    time.sleep(0.3)
    # killed: nothing recorded its end
    assert [r["status"] for r in _runs(db_url)] == ["running", "running"]

    done = _locxia(cli_env, "jobs", "run", "core.noop")
    assert done.returncode == 0, done.stderr

    after = {r["id"]: r for r in _runs(db_url)}
    assert after[parent["id"]]["status"] == "interrupted"
    assert after[parent["id"]]["ended_at"] is not None
    assert f"process {proc.pid}" in after[parent["id"]]["error"]
    assert "gone" in after[parent["id"]]["error"]
    assert after[child["id"]]["status"] == "interrupted"
    assert "\n" not in after[child["id"]]["error"]
    assert [r["status"] for r in after.values()][-1] == "success"


@pytest.mark.slow
def test_a_live_run_in_another_process_is_not_swept(cli_env: dict[str, str], db_url: str) -> None:
    with cli_run(cli_env, "jobs", "run", "core.noop", "--arg", "sleep_seconds=120") as proc:
        live = wait_for(lambda: _runs(db_url, "status = 'running'"))[0]
        done = _locxia(cli_env, "jobs", "run", "core.noop")
        assert done.returncode == 0, done.stderr
        assert proc.poll() is None
        assert _runs(db_url, "id = %s", (live["id"],))[0]["status"] == "running"


# --- the rules, with rows written by hand -------------------------------------------------
@pytest.fixture
def beat_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_heartbeat_seconds": 0.2})


@pytest.fixture
def runner(beat_settings: Settings) -> Iterator[Runner]:
    run = Runner(beat_settings, Registry.from_entry_points())
    yield run
    run.close()


def _insert(url: str, job: str, **columns: Any) -> int:
    columns = {"job_id": job, "task": "core.noop", "trigger": "manual", **columns}
    names = ", ".join(columns)
    marks = ", ".join(
        "now() - interval '10 minutes'" if v == "stale" else "%s" for v in columns.values()
    )
    with connect(url) as conn:
        row = conn.execute(
            f"INSERT INTO ops.runs ({names}) VALUES ({marks}) RETURNING id",
            tuple(v for v in columns.values() if v != "stale"),
        ).fetchone()
        conn.commit()
    assert row is not None
    return int(row[0])


def _status(url: str, run_id: int) -> str:
    return str(_runs(url, "id = %s", (run_id,))[0]["status"])


def test_another_hosts_run_is_swept_only_when_its_heartbeat_is_stale(
    runner: Runner, db_url: str, beat_settings: Settings
) -> None:
    stale = _insert(db_url, "stale", host="elsewhere", pid=1, heartbeat_at="stale")
    fresh = _insert(db_url, "fresh", host="elsewhere", pid=1)
    with connect(db_url) as conn:  # fresh: beat now
        conn.execute("UPDATE ops.runs SET heartbeat_at = now() WHERE id = %s", (fresh,))
        conn.commit()

    report = runner.sweep()

    assert set(report.interrupted) == {stale}
    assert _status(db_url, stale) == "interrupted"
    assert _status(db_url, fresh) == "running"
    error = _runs(db_url, "id = %s", (stale,))[0]["error"]
    assert error == (
        f"interrupted: no heartbeat from elsewhere for over {grace_seconds(beat_settings):.0f}s"
    )


def test_this_hosts_runs_are_judged_by_their_process(runner: Runner, db_url: str) -> None:
    me = ProcessIdentity.current()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        token = wait_for(lambda: process_token(sleeper.pid))
        gone = _insert(db_url, "gone", host=me.host, pid=_dead_pid())
        alive = _insert(db_url, "alive", host=me.host, pid=sleeper.pid, process=token)
        reused = _insert(db_url, "reused", host=me.host, pid=sleeper.pid, process="old-boot:1")
        mine = _insert(db_url, "mine", host=me.host, pid=me.pid, process=me.token)
        child = _insert(db_url, "gone/1:core.noop", host=me.host, pid=me.pid, parent_id=gone)

        report = runner.sweep()

        assert set(report.interrupted) == {gone, reused, child}
        assert _status(db_url, alive) == "running"
        assert _status(db_url, mine) == "running"
        errors = {r["id"]: r["error"] for r in _runs(db_url)}
        assert errors[child] == f"interrupted: its parent run {gone} was interrupted"
        assert errors[reused] == f"interrupted: its process {sleeper.pid} on {me.host} is gone"
    finally:
        sleeper.kill()
        sleeper.wait()
    assert set(runner.sweep().interrupted) == {alive}  # its process is gone now
    assert not runner.sweep().interrupted  # nothing marked twice
    assert _status(db_url, mine) == "running"


def test_a_zombie_counts_as_gone(runner: Runner, db_url: str) -> None:
    me = ProcessIdentity.current()
    zombie = subprocess.Popen(["true"])
    wait_for(lambda: os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG))
    try:
        run_id = _insert(db_url, "z", host=me.host, pid=zombie.pid, process=None)
        assert set(runner.sweep().interrupted) == {run_id}
    finally:
        zombie.wait()


def test_the_heartbeat_beats_while_the_task_runs_and_stops_after(
    runner: Runner, db_url: str
) -> None:
    result: list[Any] = []
    thread = threading.Thread(
        target=lambda: result.append(runner.run("core.noop", {"sleep_seconds": 1.2}))
    )
    thread.start()
    first = wait_for(lambda: _runs(db_url))[0]
    later = wait_for(
        lambda: [r for r in _runs(db_url) if r["heartbeat_at"] > first["heartbeat_at"]], 5
    )[0]
    thread.join(10)
    assert result[0].status == "success"
    assert later["status"] == "running"
    assert runner._beats.beats >= 2
    ended = _runs(db_url)[0]
    time.sleep(0.6)  # three intervals: no beat after the end
    assert _runs(db_url)[0]["heartbeat_at"] == ended["heartbeat_at"]
    assert runner._beats._thread is None


def test_a_failing_heartbeat_never_fails_the_task(
    runner: Runner, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import infra.jobs.runner as runner_module

    real = runner_module.connect
    attempts: list[str] = []

    def refuse_heartbeats(url: str, **kwargs: Any) -> Any:
        if kwargs.get("application_name") == "locxia:heartbeat":
            attempts.append("beat")
            raise OSError("database restarting")
        return real(url, **kwargs)

    monkeypatch.setattr(runner_module, "connect", refuse_heartbeats)
    result = runner.run("core.noop", {"sleep_seconds": 0.7})
    assert result.status == "success"
    assert len(attempts) >= 2  # it kept trying
