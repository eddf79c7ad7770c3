from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import pytest

from infra.db import connect
from infra.errors import JobError
from infra.jobs import JobSpec, PlanContext, Plugin, Registry, TriggerSpec
from infra.service import Service
from infra.settings import Settings


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> float:
    """Poll until ``predicate`` is true; return how long it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def _count(url: str, job: str) -> int:
    with connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM ops.runs WHERE job_id = %s AND status = 'success'", (job,)
        ).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def serving(settings: Settings, *plugins: Plugin) -> Iterator[Service]:
    """A leading service in a thread; no periodic re-plan, so only NOTIFY changes its jobs."""
    quiet = settings.model_copy(update={"replan_seconds": 3600, "leader_poll_seconds": 0.2})
    svc = Service(quiet, Registry.from_entry_points(plugins))
    thread = threading.Thread(target=svc.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: svc.state.role == "leader")
        yield svc
    finally:
        svc.stop.set()
        thread.join(10)
    assert not thread.is_alive(), "service did not stop within 10 s"


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    with serving(settings) as svc:
        yield svc


def test_a_params_change_is_scheduled_within_seconds(service: Service, db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO params.schedules (job, task, every_seconds)"
            " VALUES ('t.tick', 'core.noop', 1)"
        )
        conn.commit()
    took = wait_for(lambda: _count(db_url, "t.tick") >= 1, timeout=5)
    assert service.state.notifications >= 1
    assert took < 5
    with connect(db_url) as conn:
        conn.execute("UPDATE params.schedules SET enabled = false WHERE job = 't.tick'")
        conn.commit()
    wait_for(lambda: service.state.replans >= 3)
    settled = _count(db_url, "t.tick")
    time.sleep(1.5)
    assert _count(db_url, "t.tick") == settled  # disabled: no more runs


def test_leader_records_itself_and_stops_cleanly(service: Service, db_url: str) -> None:
    with connect(db_url) as conn:
        row = conn.execute("SELECT role FROM ops.services WHERE id = %s", (service.id,)).fetchone()
    assert row == ("leader",)
    service.stop.set()
    wait_for(lambda: service.state.role == "standby")
    with connect(db_url) as conn:
        wait_for(
            lambda: (
                conn.execute(
                    "SELECT role FROM ops.services WHERE id = %s", (service.id,)
                ).fetchone()
                == ("stopped",)
            )
        )


def test_runs_of_a_dead_process_are_marked_interrupted_when_leading(
    settings: Settings, db_url: str
) -> None:
    import subprocess

    from infra.jobs.liveness import ProcessIdentity

    me = ProcessIdentity.current()
    dead = subprocess.Popen(["true"])
    dead.wait()
    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO ops.runs (job_id, task, trigger, scheduled_at, host, pid, process)"
            " VALUES ('orphan', 'core.noop', 'schedule', now(), %s, %s, NULL),"
            " ('cli', 'core.noop', 'manual', NULL, %s, %s, %s)",
            (me.host, dead.pid, me.host, me.pid, me.token),
        )
        conn.commit()
    with serving(settings), connect(db_url) as conn:
        rows = dict(
            conn.execute(
                "SELECT job_id, status FROM ops.runs WHERE job_id IN ('orphan', 'cli')"
            ).fetchall()
        )
    assert rows == {"orphan": "interrupted", "cli": "running"}


def _schedule_yearly(service: Service, db_url: str, job: str) -> None:
    """Plan ``job`` (a no-op due once a year) and wait until the service has it."""
    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO params.schedules (job, task, cron) VALUES (%s, 'core.noop', '0 0 1 1 *')",
            (job,),
        )
        conn.commit()
    wait_for(lambda: service.state.replans >= 2)


def test_trigger_runs_a_planned_job_now_without_moving_it(service: Service, db_url: str) -> None:
    from infra.jobs.trigger import request_run, wait_for_run

    _schedule_yearly(service, db_url, "t.yearly")
    with connect(db_url, autocommit=True) as conn:
        run = wait_for_run(conn, "t.yearly", request_run(conn, "t.yearly"), timeout=10)
        unknown_after = request_run(conn, "t.nope")
        with pytest.raises(JobError, match="no scheduled job 't.nope'"):
            wait_for_run(conn, "t.nope", unknown_after, timeout=10)
        outcomes = conn.execute("SELECT job_id, outcome FROM ops.run_requests ORDER BY id")
        assert outcomes.fetchall() == [("t.yearly", "started"), ("t.nope", "unknown job")]
    assert run["status"] == "success"
    assert service._scheduler.get_job("t.yearly").next_run_time.month == 1


def test_trigger_without_a_leader_says_so(db_url: str) -> None:
    from infra.jobs.trigger import request_run

    with connect(db_url, autocommit=True) as conn, pytest.raises(JobError, match="no `locxia"):
        request_run(conn, "anything")


def test_a_notify_from_a_read_only_role_runs_nothing(service: Service, db_url: str) -> None:
    """NOTIFY cannot be restricted; the payload must never be trusted."""
    _schedule_yearly(service, db_url, "t.yearly")
    seen = service.state.notifications
    with connect(db_url, autocommit=True) as conn:
        conn.execute("SET ROLE locxia_grafana")
        conn.execute(
            """SELECT pg_notify('locxia_control', '{"action": "run", "job": "t.yearly"}')"""
        )
        with pytest.raises(Exception, match="permission denied"):
            conn.execute("INSERT INTO ops.run_requests (job_id) VALUES ('t.yearly')")
    wait_for(lambda: service.state.notifications > seen)
    time.sleep(1)
    assert _count(db_url, "t.yearly") == 0


def provide_waking(ctx: PlanContext) -> Iterable[JobSpec]:
    yield JobSpec(
        "wake.probe",
        "core.noop",
        TriggerSpec.crontab("0 0 1 1 *"),
        owner="wake",
        wake_on=("schedules",),
    )


def test_a_wake_on_job_runs_within_seconds_of_a_change(settings: Settings, db_url: str) -> None:
    with serving(settings, Plugin("wake", (), provide_waking)):
        assert _count(db_url, "wake.probe") == 0
        with connect(db_url) as conn:
            conn.execute(
                "INSERT INTO params.schedules (job, task, every_seconds)"
                " VALUES ('other.job', 'core.noop', 3600)"
            )
            conn.commit()
        wait_for(lambda: _count(db_url, "wake.probe") == 1, timeout=10)
        with connect(db_url) as conn:
            row = conn.execute("SELECT trigger FROM ops.runs WHERE job_id = 'wake.probe'")
            assert row.fetchone() == ("event",)


def test_a_burst_of_notifications_is_one_replan_without_a_wait(
    service: Service, db_url: str
) -> None:
    """A 40-row insert notifies 40 times in one commit: drained at once, acted on once."""
    wait_for(lambda: service.state.replans >= 1)
    before_replans, before_notes = service.state.replans, service.state.notifications
    with connect(db_url) as conn:
        conn.execute(
            "INSERT INTO params.schedules (job, task, cron, enabled)"
            " SELECT 't.burst' || i, 'core.noop', '0 0 1 1 *', false FROM generate_series(1, 40) i"
        )
        conn.commit()
    wait_for(lambda: service.state.notifications >= before_notes + 40)
    time.sleep(0.5)  # anything left over would re-plan again within this
    assert service.state.replans - before_replans == 1


def test_a_trigger_is_acted_on_without_a_debounce(service: Service, db_url: str) -> None:
    """Trigger → done of a no-op job stays well under the 200 ms a fixed debounce added."""
    from infra.jobs.trigger import request_run, wait_for_run

    _schedule_yearly(service, db_url, "t.now")
    took = []
    with connect(db_url, autocommit=True) as conn:
        for _ in range(5):
            start = time.monotonic()
            wait_for_run(conn, "t.now", request_run(conn, "t.now"), timeout=10)
            took.append(time.monotonic() - start)
    assert sorted(took)[2] < 0.15, took


def test_a_grafana_login_holding_the_old_keys_cannot_stop_the_leader(
    settings: Settings, admin_url: str, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: `SELECT pg_advisory_lock(<leader key>)` as Grafana stopped every service."""
    from tests.support.squatter import squatting

    with squatting(admin_url, db_url, monkeypatch) as foreign, serving(settings) as svc:
        assert "leader" in foreign.held
        assert svc.state.role == "leader"
        _schedule_yearly(svc, db_url, "t.after-squat")
        assert svc._scheduler.get_job("t.after-squat") is not None


def test_a_row_that_slipped_in_never_runs(settings: Settings, db_url: str) -> None:
    """Scheduled before the database refused it (the job store keeps it across restarts),
    a privileged row is dropped at the next plan and never runs; the good row beside it does.
    """
    with connect(db_url) as conn:
        conn.execute("ALTER TABLE params.schedules DISABLE TRIGGER guard")
        conn.execute(
            "INSERT INTO params.schedules (job, task, every_seconds, args) VALUES"
            " ('t.approve', 'shape.approve', 1, '{\"run\": 8, \"actor\": \"cfo\"}'),"
            " ('t.chain', 'core.chain', 1, '{\"steps\": [{\"task\": \"shape.approve\"}]}'),"
            " ('t.tick', 'core.noop', 1, '{}')"
        )
        conn.execute("ALTER TABLE params.schedules ENABLE TRIGGER guard")
        conn.commit()
    with serving(settings) as svc:
        wait_for(lambda: _count(db_url, "t.tick") >= 2, timeout=10)
        assert (
            "params.schedules[t.approve]: task shape.approve is not schedulable"
            in (svc.state.last_plan_failures["schedules"])
        )
    with connect(db_url) as conn:
        ran = conn.execute(
            "SELECT count(*) FROM ops.runs WHERE job_id IN ('t.approve', 't.chain')"
            " OR task = 'shape.approve'"
        ).fetchone()
        recorded = conn.execute(
            "SELECT error FROM ops.runs WHERE job_id = 'service.plan' AND status = 'failed'"
        ).fetchone()
    assert ran == (0,)
    assert recorded is not None and "t.chain" in recorded[0]
