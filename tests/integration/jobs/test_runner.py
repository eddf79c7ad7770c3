from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.db import connect
from infra.errors import InputError, JobError
from infra.jobs import Plugin, Registry, Task, TaskContext
from infra.jobs.runner import Runner
from infra.settings import Settings


def boom(ctx: TaskContext) -> None:
    ctx.details["api_calls"] = 2
    raise RuntimeError("exploded\nsecond line")


def refuse(ctx: TaskContext) -> None:
    raise InputError("cannot shrink 500 → 400", where="params.instances[work-db].storage_gb")


TEST_PLUGIN = Plugin(
    "testing",
    (
        Task("test.boom", f"{__name__}:boom", "fails unexpectedly"),
        Task("test.refuse", f"{__name__}:refuse", "fails with a domain error"),
    ),
)


@pytest.fixture
def runner(settings: Settings) -> Iterator[Runner]:
    r = Runner(settings, Registry.from_entry_points([TEST_PLUGIN]))
    yield r
    r.close()


def _row(url: str, run_id: int | None) -> tuple[Any, ...]:
    with connect(url) as conn:
        row = conn.execute(
            "SELECT status, error, details, ended_at IS NOT NULL, trigger, parent_id"
            " FROM ops.runs WHERE id = %s",
            (run_id,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_success_is_recorded_with_details(runner: Runner, db_url: str) -> None:
    result = runner.run("core.noop", {"sleep_seconds": 0.01})
    assert result.status == "success"
    status, error, details, ended, trigger, _ = _row(db_url, result.run_id)
    assert (status, error, ended, trigger) == ("success", None, True, "manual")
    assert details == {"slept_seconds": 0.01}


def test_unexpected_failure_keeps_details_and_traceback(runner: Runner, db_url: str) -> None:
    result = runner.run("test.boom")
    status, error, details, ended, *_ = _row(db_url, result.run_id)
    assert (status, error, ended) == ("failed", "RuntimeError: exploded", True)
    assert details["api_calls"] == 2
    assert "Traceback" in details["traceback"]


def test_domain_failure_is_one_line_without_traceback(runner: Runner, db_url: str) -> None:
    result = runner.run("test.refuse")
    _, error, details, *_ = _row(db_url, result.run_id)
    assert error == "params.instances[work-db].storage_gb: cannot shrink 500 → 400"
    assert "traceback" not in details


def test_unknown_task_or_bad_args_record_nothing(runner: Runner, db_url: str) -> None:
    with pytest.raises(JobError, match="unknown task"):
        runner.run("nope")
    with pytest.raises(JobError, match="bad arguments"):
        runner.run("core.noop", {"colour": "red"})
    with connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM ops.runs").fetchone() == (0,)


def test_a_tick_runs_once_even_if_fired_twice(runner: Runner, db_url: str) -> None:
    tick = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    first = runner.run("core.noop", job_id="j", trigger="schedule", scheduled_at=tick)
    second = runner.run("core.noop", job_id="j", trigger="schedule", scheduled_at=tick)
    assert (first.status, second.status) == ("success", "skipped")
    with connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM ops.runs").fetchone() == (1,)


def test_chain_records_each_step_under_its_parent(runner: Runner, db_url: str) -> None:
    steps = [{"task": "core.noop"}, {"task": "test.boom"}, {"task": "core.noop"}]
    result = runner.run("core.chain", {"steps": steps}, job_id="c")
    assert result.status == "failed"
    assert result.error == "chain step 2 (test.boom) failed: RuntimeError: exploded"
    with connect(db_url) as conn:
        children = conn.execute(
            "SELECT job_id, status, trigger FROM ops.runs WHERE parent_id = %s ORDER BY id",
            (result.run_id,),
        ).fetchall()
    assert children == [("c/1:core.noop", "success", "chain"), ("c/2:test.boom", "failed", "chain")]
