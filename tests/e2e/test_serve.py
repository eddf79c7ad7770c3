"""Two `locxia serve` processes against one database: exactly-once ticks and fail-over."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from infra.db import connect
from tests.conftest import locxia_bin
from tests.integration.jobs.test_service import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def spawn(cli_env: dict[str, str]) -> Iterator[object]:
    procs: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        env = {**cli_env, "LOCXIA_LEADER_POLL_SECONDS": "0.5"}
        proc = subprocess.Popen(
            [locxia_bin(), "serve"],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _leader_pid(url: str) -> int | None:
    with connect(url) as conn:
        row = conn.execute(
            "SELECT pid FROM ops.services WHERE role = 'leader'"
            " AND heartbeat_at > now() - interval '30 seconds'"
        ).fetchone()
    return None if row is None else int(row[0])


def _runs(url: str) -> list[tuple[int, object]]:
    with connect(url) as conn:
        return conn.execute(
            "SELECT pid, scheduled_at FROM ops.runs WHERE job_id = 'e2e.tick'"
            " AND status = 'success' ORDER BY scheduled_at"
        ).fetchall()


def test_two_services_run_each_tick_once_and_fail_over(spawn, db_url: str) -> None:  # type: ignore[no-untyped-def]
    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO params.schedules (job, task, every_seconds)"
            " VALUES ('e2e.tick', 'core.noop', 1)"
        )
        conn.commit()
    a, b = spawn(), spawn()
    wait_for(lambda: _leader_pid(db_url) is not None, timeout=20)
    wait_for(lambda: len(_runs(db_url)) >= 5, timeout=20)
    runs = _runs(db_url)
    ticks = [t for _, t in runs]
    assert len(ticks) == len(set(ticks)), "a tick ran twice"
    leader = _leader_pid(db_url)
    assert {pid for pid, _ in runs} == {leader}, "only the leader runs jobs"
    # consecutive ticks are one second apart: none skipped, none doubled
    gaps = {(b_ - a_).total_seconds() for a_, b_ in zip(ticks, ticks[1:], strict=False)}
    assert gaps == {1.0}

    os.kill(leader, signal.SIGKILL)  # type: ignore[arg-type]
    killed_at = time.monotonic()
    standby = b if leader == a.pid else a
    wait_for(lambda: any(pid == standby.pid for pid, _ in _runs(db_url)), timeout=10)
    assert time.monotonic() - killed_at < 10
    after = _runs(db_url)
    assert len({t for _, t in after}) == len(after), "a tick ran twice after fail-over"

    standby.send_signal(signal.SIGTERM)
    assert standby.wait(15) == 0
    with connect(db_url) as conn:
        assert conn.execute(
            "SELECT role FROM ops.services WHERE pid = %s", (standby.pid,)
        ).fetchone() == ("stopped",)
