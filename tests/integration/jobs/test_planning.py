from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from infra.db import connect
from infra.jobs import JobSpec, Plan, PlanContext, Plugin, Registry, TriggerSpec
from infra.scheduler import sync_jobs
from infra.settings import Settings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def provide_two(ctx: PlanContext) -> Iterable[JobSpec]:
    yield JobSpec("fake.a", "core.noop", TriggerSpec.every(60), owner="fake")
    yield JobSpec("fake.b", "core.noop", TriggerSpec.every(60), {"sleep_seconds": 0}, "fake")


def provide_broken(ctx: PlanContext) -> Iterable[JobSpec]:
    yield JobSpec("broken.a", "core.noop", TriggerSpec.every(60), owner="broken")
    raise RuntimeError("table missing")


FAKE = Plugin("fake", (), provide_two)
BROKEN = Plugin("broken", (), provide_broken)


def _plan(settings: Settings, *plugins: Plugin):  # type: ignore[no-untyped-def]
    """The plan, restricted to the jobs of core, the test plugins and params.schedules.

    Feature plugins installed through entry points plan jobs of their own; they are tested
    in their own suites.
    """
    registry = Registry.from_entry_points(plugins)
    with connect(settings.require_database_url()) as conn:
        plan = registry.plan(PlanContext(settings, conn, NOW))
    owners = {"core", "schedules", *(p.name for p in plugins)}
    return Plan(tuple(j for j in plan.jobs if j.owner in owners), plan.failures)


def _schedule(url: str, sql: str) -> None:
    with connect(url) as conn:
        conn.execute(sql)
        conn.commit()


def test_plugins_and_schedules_make_the_plan(settings: Settings, db_url: str) -> None:
    _schedule(
        db_url,
        "INSERT INTO params.schedules (job, task, every_seconds, cron, enabled, args) VALUES"
        " ('fake.a', 'core.noop', 5, NULL, true, '{}'),"  # override cadence of a planned job
        " ('fake.b', 'core.noop', 5, NULL, false, '{}'),"  # disable a planned job
        " ('user.nightly', 'core.noop', NULL, '0 2 * * *', true, '{\"sleep_seconds\": 1}')",
    )
    plan = _plan(settings, FAKE)
    jobs = {j.id: j for j in plan.jobs}
    assert plan.failures == {}
    assert set(jobs) == {"core.prune-runs", "notify.deliver", "fake.a", "user.nightly"}
    assert jobs["fake.a"].trigger == TriggerSpec.every(5)
    assert jobs["fake.a"].owner == "fake"
    assert jobs["user.nightly"].owner == "schedules"
    assert jobs["user.nightly"].args == {"sleep_seconds": 1}


def test_a_failing_plugin_is_reported_and_isolated(settings: Settings) -> None:
    plan = _plan(settings, FAKE, BROKEN)
    assert plan.failures == {"broken": "RuntimeError: table missing"}
    assert {j.id for j in plan.jobs} == {"core.prune-runs", "notify.deliver", "fake.a", "fake.b"}


def _slip_in(url: str, sql: str) -> None:
    """Write rows the database would refuse: as if written before migration 0052."""
    with connect(url) as conn:
        conn.execute("ALTER TABLE params.schedules DISABLE TRIGGER guard")
        conn.execute(sql)
        conn.execute("ALTER TABLE params.schedules ENABLE TRIGGER guard")
        conn.commit()


def test_a_bad_schedule_row_does_not_hide_good_ones(settings: Settings, db_url: str) -> None:
    _slip_in(
        db_url,
        "INSERT INTO params.schedules (job, task, every_seconds, cron, timezone) VALUES"
        " ('user.bad', 'core.nope', 5, NULL, 'UTC'),"
        " ('user.badzone', 'core.noop', NULL, '0 2 * * *', 'Mars/Olympus'),"
        " ('user.good', 'core.noop', 5, NULL, 'UTC')",
    )
    plan = _plan(settings)
    assert "user.good" in {j.id for j in plan.jobs}
    assert "params.schedules[user.bad]: unknown task 'core.nope'" in plan.failures["schedules"]
    assert "params.schedules[user.badzone]" in plan.failures["schedules"]


def test_rows_that_slipped_past_the_database_are_skipped_and_reported(
    settings: Settings, db_url: str
) -> None:
    """The planner's own check: privileged tasks, undeclared args, a planned job's task."""
    _slip_in(
        db_url,
        "INSERT INTO params.schedules (job, task, every_seconds, args) VALUES"
        """ ('user.approve', 'shape.approve', 60, '{"run": 8, "actor": "cfo"}'),"""
        """ ('user.url', 'layers.transfer-url', 60, '{"url": "http://x/", "dataset": "a"}'),"""
        """ ('user.copy', 'layers.transfer-table', 60, '{"source_url": "postgresql://a/b","""
        """   "target_url": "postgresql://c/d", "table": "t"}'),"""
        """ ('user.chain', 'core.chain', 60,"""
        """   '{"steps": [{"task": "core.noop"}, {"task": "shape.approve"}]}'),"""
        """ ('user.source', 'layers.ingest', 60, '{"dataset": "a", "source": "file:///etc"}'),"""
        """ ('fake.a', 'metrics.discover', 30, '{}'),"""
        """ ('fake.b', 'core.noop', 60, '{"sleep_seconds": 1e9}'),"""
        """ ('user.ok', 'layers.ingest', 60, '{"dataset": "roads"}')""",
    )
    plan = _plan(settings, FAKE)
    jobs = {j.id: j for j in plan.jobs}
    failures = plan.failures["schedules"]
    for job in ("user.approve", "user.url", "user.copy"):
        assert job not in jobs
        assert f"params.schedules[{job}]: task " in failures and "is not schedulable" in failures
    assert "user.chain" not in jobs and "user.source" not in jobs
    assert "'steps'[1]: task 'shape.approve' is not schedulable" in failures
    assert "argument 'source' is not allowed (allowed: dataset)" in failures
    # A planned job keeps its task, arguments and cadence when its row is refused.
    assert jobs["fake.a"].task == "core.noop" and jobs["fake.a"].trigger == TriggerSpec.every(60)
    assert "job fake.a is planned with task core.noop; a row may only re-time it" in failures
    assert jobs["fake.b"].args == {"sleep_seconds": 0}
    assert jobs["user.ok"].args == {"dataset": "roads"}
    assert not any(j.task in {"shape.approve", "layers.transfer-url"} for j in plan.jobs)


def test_a_row_retimes_a_planned_job_keeping_its_arguments(settings: Settings, db_url: str) -> None:
    _schedule(
        db_url,
        "INSERT INTO params.schedules (job, task, every_seconds, args) VALUES"
        """ ('fake.b', 'core.noop', 120, '{}')""",
    )
    jobs = {j.id: j for j in _plan(settings, FAKE).jobs}
    assert jobs["fake.b"].trigger == TriggerSpec.every(120)
    assert jobs["fake.b"].args == {"sleep_seconds": 0} and jobs["fake.b"].owner == "fake"


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    sched = BackgroundScheduler(timezone="UTC")
    sched.start(paused=True)
    yield sched
    sched.shutdown(wait=False)


def test_sync_is_idempotent_and_keeps_next_run_times(scheduler: BackgroundScheduler) -> None:
    specs = [JobSpec("x.a", "core.noop", TriggerSpec.every(3600), owner="x")]
    first = sync_jobs(scheduler, specs)
    next_run = scheduler.get_job("x.a").next_run_time
    again = sync_jobs(scheduler, specs)
    assert first.added == ("x.a",) and not again.changed and again.kept == 1
    assert scheduler.get_job("x.a").next_run_time == next_run


def test_sync_replaces_changed_and_removes_unwanted(scheduler: BackgroundScheduler) -> None:
    sync_jobs(
        scheduler,
        [
            JobSpec("x.a", "core.noop", TriggerSpec.every(60), owner="x"),
            JobSpec("y.a", "core.noop", TriggerSpec.every(60), owner="y"),
        ],
    )
    report = sync_jobs(scheduler, [JobSpec("x.a", "core.noop", TriggerSpec.every(30), owner="x")])
    assert report.replaced == ("x.a",) and report.removed == ("y.a",)
    assert [j.id for j in scheduler.get_jobs()] == ["x.a"]


def test_sync_keeps_jobs_of_owners_that_failed(scheduler: BackgroundScheduler) -> None:
    sync_jobs(scheduler, [JobSpec("y.a", "core.noop", TriggerSpec.every(60), owner="y")])
    report = sync_jobs(scheduler, [], keep_owners=["y"])
    assert report.removed == () and [j.id for j in scheduler.get_jobs()] == ["y.a"]


def test_a_job_scheduled_before_the_upgrade_is_removed_when_its_row_is_rejected(
    scheduler: BackgroundScheduler, settings: Settings, db_url: str
) -> None:
    """The job store persists jobs: one planned from a row the planner now rejects goes."""
    sync_jobs(
        scheduler,
        [
            JobSpec("t.approve", "shape.approve", TriggerSpec.every(60), {"run": 8}),
            JobSpec("t.tick", "core.noop", TriggerSpec.every(60)),
        ],
    )
    with connect(db_url) as conn:
        conn.execute("ALTER TABLE params.schedules DISABLE TRIGGER guard")
        conn.execute(
            "INSERT INTO params.schedules (job, task, every_seconds, args) VALUES"
            " ('t.approve', 'shape.approve', 60, '{\"run\": 8}'), ('t.tick', 'core.noop', 60, '{}')"
        )
        conn.execute("ALTER TABLE params.schedules ENABLE TRIGGER guard")
        conn.commit()
        plan = Registry.from_entry_points().plan(PlanContext(settings, conn, NOW))
    assert "schedules" in plan.failures and "schedules" not in plan.keep_owners
    report = sync_jobs(scheduler, plan.jobs, keep_owners=plan.keep_owners)
    assert "t.approve" in report.removed
    assert scheduler.get_job("t.approve") is None and scheduler.get_job("t.tick") is not None
