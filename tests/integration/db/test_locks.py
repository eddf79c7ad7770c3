"""Locks only the service's login can take (infra/db/locks.py, migration 0050)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from infra.db import connect, locks
from infra.db.setup import upgrade_database
from tests.conftest import ROOT
from tests.support import squatter
from tests.support.squatter import squatting


@pytest.fixture
def sessions(db_url: str) -> Iterator[list[psycopg.Connection[Any]]]:
    opened: list[psycopg.Connection[Any]] = []
    yield opened
    for conn in opened:
        conn.close()


def session(db_url: str, opened: list[psycopg.Connection[Any]]) -> psycopg.Connection[Any]:
    conn = connect(db_url, autocommit=True, application_name="locxia:test")
    opened.append(conn)
    return conn


def wait_until_free(db_url: str, name: str, timeout: float) -> float:
    """Seconds until a new session takes ``name`` (which it then holds until returning)."""
    start = time.monotonic()
    with connect(db_url, autocommit=True) as conn:
        while not locks.try_lock(conn, name):
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{name} still held after {timeout}s")
            time.sleep(0.01)
        return time.monotonic() - start


def test_two_service_sessions_exclude_each_other(db_url: str, sessions: list[Any]) -> None:
    a, b = session(db_url, sessions), session(db_url, sessions)
    assert locks.try_lock(a, locks.LEADER)
    assert not locks.try_lock(b, locks.LEADER)
    assert not locks.try_lock(a, locks.LEADER), "not re-entrant"
    holder = locks.holder(b, locks.LEADER)
    assert holder is not None and holder.pid == a.info.backend_pid
    assert holder.holder is not None and f":{os.getpid()} locxia:test" in holder.holder
    assert not locks.unlock(b, locks.LEADER), "only the holder releases"
    assert not locks.try_lock(b, locks.LEADER)
    assert locks.unlock(a, locks.LEADER)
    assert locks.holder(b, locks.LEADER) is None
    assert locks.try_lock(b, locks.LEADER)
    assert not locks.try_lock(a, locks.LEADER)
    # a name never seen before is created on first use, and is independent of the others
    assert locks.try_lock(a, "collect:brand-new")
    assert not locks.try_lock(b, "collect:brand-new")


def test_racing_sessions_never_both_win(db_url: str, sessions: list[Any]) -> None:
    """Eight sessions race for a free lock 25 times: exactly one wins each round."""
    conns = [session(db_url, sessions) for _ in range(8)]
    for round_ in range(25):
        name = f"race:{round_ % 3}"
        barrier = threading.Barrier(len(conns))
        wins: list[bool] = [False] * len(conns)

        def race(i: int, name: str, barrier: threading.Barrier, wins: list[bool]) -> None:
            barrier.wait()
            wins[i] = locks.try_lock(conns[i], name)

        threads = [
            threading.Thread(target=race, args=(i, name, barrier, wins)) for i in range(len(conns))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert sum(wins) == 1, (round_, wins)
        assert locks.unlock(conns[wins.index(True)], name)


def test_a_terminated_or_closed_holder_frees_the_lock_at_once(
    db_url: str, sessions: list[Any]
) -> None:
    a = session(db_url, sessions)
    assert locks.try_lock(a, locks.SHAPE)
    with connect(db_url, autocommit=True) as admin:  # waits until the backend has exited
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (a.info.backend_pid,))
    b = session(db_url, sessions)
    assert locks.try_lock(b, locks.SHAPE)  # at once: no poll, no lease
    b.close()  # its backend exits on its own, a few milliseconds later
    assert wait_until_free(db_url, locks.SHAPE, timeout=1.0) < 0.5


HOLDER = """
import sys, time
from infra.db import connect, locks
conn = connect(sys.argv[1], autocommit=True)
assert locks.try_lock(conn, "leader")
print("held", flush=True)
time.sleep(600)
"""


def test_a_holder_process_killed_with_sigkill_frees_the_lock(db_url: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with connect(db_url, autocommit=True) as conn:
            assert not locks.try_lock(conn, locks.LEADER)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert wait_until_free(db_url, locks.LEADER, timeout=2.0) < 0.5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_reused_pid_is_not_taken_for_the_old_holder(db_url: str, sessions: list[Any]) -> None:
    """The row names a live backend's pid but another start time: the holder is gone."""
    a, b = session(db_url, sessions), session(db_url, sessions)
    assert locks.try_lock(a, locks.LEADER)
    with connect(db_url, autocommit=True) as owner:
        owner.execute(
            "UPDATE ops.locks SET holder_started = holder_started - interval '1 day'"
            " WHERE name = 'leader'"
        )
    assert locks.holder(b, locks.LEADER) is None
    assert locks.try_lock(b, locks.LEADER)
    assert not locks.unlock(a, locks.LEADER)  # it is b's now


def test_a_lock_row_is_out_of_reach_of_grafana_and_editor_logins(
    admin_url: str, db_url: str, sessions: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = session(db_url, sessions)
    assert locks.try_lock(service, locks.LEADER)
    before = service.execute("SELECT * FROM ops.locks ORDER BY name").fetchall()
    for group in ("locxia_editor", "locxia_grafana"):
        with connect(squatter.login(admin_url, db_url, group), autocommit=True) as conn:
            foreign = squatter.Squatter(conn)
            for statement in squatter.ATTEMPTS:
                foreign.attempt(statement)
            for name in (locks.LEADER, locks.SHAPE, "publish:roofs"):
                foreign.try_mechanism(name)
            assert len(foreign.refused) == len(squatter.ATTEMPTS) + 3
    assert service.execute("SELECT * FROM ops.locks ORDER BY name").fetchall() == before
    assert locks.holder(service, locks.LEADER) is not None


def test_a_transaction_lock_waits_for_the_holder_and_honours_lock_timeout(db_url: str) -> None:
    with connect(db_url) as a, connect(db_url) as b:
        locks.lock_for_transaction(a, "publish:roofs")
        b.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            locks.lock_for_transaction(b, "publish:roofs")
        b.rollback()
        a.commit()
        locks.lock_for_transaction(b, "publish:roofs")  # free once a's transaction ended
        b.commit()


def test_partitions_are_created_while_grafana_holds_the_old_keys(
    admin_url: str, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = datetime(2031, 3, 4, tzinfo=UTC)
    with squatting(admin_url, db_url, monkeypatch, days=[day.date()]), connect(db_url) as conn:
        row = conn.execute(
            "SELECT metrics.ensure_datapoint_partitions(%s, %s)", (day, day + timedelta(hours=1))
        ).fetchone()
        conn.commit()
    assert row == (1,)


def test_racing_partition_creators_both_succeed(db_url: str) -> None:
    day = datetime(2031, 5, 6, tzinfo=UTC)
    results: list[Any] = []
    with connect(db_url) as first, connect(db_url) as second:
        assert first.execute(
            "SELECT metrics.ensure_datapoint_partitions(%s, %s)", (day, day)
        ).fetchone() == (1,)  # created, not committed: holds the partitions lock

        def create() -> None:
            results.append(
                second.execute(
                    "SELECT metrics.ensure_datapoint_partitions(%s, %s)", (day, day)
                ).fetchone()
            )
            second.commit()

        thread = threading.Thread(target=create)
        thread.start()
        time.sleep(0.5)
        assert results == []  # waiting for the first creator
        first.commit()
        thread.join(10)
    assert results == [(0,)]


def test_upgrade_runs_while_grafana_holds_the_old_migration_key(
    admin_url: str, empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        squatting(admin_url, empty_db_url, monkeypatch, probe=False),
        connect(empty_db_url) as conn,
    ):
        report = upgrade_database(conn)
    assert report.applied
    # and once the ledger exists, its lock is out of the foreign login's reach too
    with squatting(admin_url, empty_db_url, monkeypatch) as foreign:
        assert "LOCK TABLE ops.schema_migrations IN SHARE ROW EXCLUSIVE MODE" in foreign.refused


def test_concurrent_upgrades_of_an_empty_database_apply_each_migration_once(
    empty_db_url: str,
) -> None:
    from infra.db import migrate

    applied: list[list[int]] = [[], []]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def upgrade(i: int) -> None:
        try:
            with connect(empty_db_url) as conn:
                barrier.wait()
                applied[i] = [m.version for m in migrate.upgrade(conn)]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    shipped = [m.version for m in migrate.shipped()]
    assert sorted(applied[0] + applied[1]) == shipped
    with connect(empty_db_url) as conn:
        states = {s.state for s in migrate.status(conn)}
    assert states == {"applied"}
