"""The ``core`` plugin: tasks every installation has.

No-op, chains, run-record retention, and notification delivery (``infra.notify``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypedDict

from infra.errors import JobError
from infra.jobs.model import (
    Arg,
    ArgSchema,
    JobSpec,
    PlanContext,
    Plugin,
    Task,
    TaskContext,
    TriggerSpec,
)


class NoopResult(TypedDict):
    """What ``core.noop`` records."""

    slept_seconds: float


class ChainResult(TypedDict):
    """What ``core.chain`` records: how many steps ran, and each step's run id."""

    steps: int
    step_runs: list[int | None]


class PruneRunsResult(TypedDict):
    """What ``core.prune-runs`` records: rows deleted, and the ISO cutoff used."""

    deleted: int
    cutoff: str


def noop(ctx: TaskContext, sleep_seconds: float = 0.0) -> NoopResult:
    """Do nothing (optionally for a while): a heartbeat, and the unit of orchestration benches."""
    if sleep_seconds:
        time.sleep(sleep_seconds)
    return {"slept_seconds": sleep_seconds}


def chain(ctx: TaskContext, steps: Sequence[Mapping[str, Any]]) -> ChainResult:
    """Run ``steps`` (``[{"task": ..., "args": {...}}, ...]``) in order as child runs.

    Stops at the first failed step; each step is its own row in ``ops.runs`` whose
    ``parent_id`` is this run, so a chain's progress is visible while it runs.

    Raises:
        JobError: a step is malformed, or failed (naming the step).
    """
    done: list[int | None] = []
    for index, step in enumerate(steps, start=1):
        task = step.get("task")
        if not isinstance(task, str):
            raise JobError(f"chain step {index}: missing 'task'")
        result = ctx.run_child(task, step.get("args") or {}, f"{index}:{task}")
        done.append(result.run_id)
        ctx.details["steps_done"] = len(done)
        if result.status == "failed":
            raise JobError(f"chain step {index} ({task}) failed: {result.error}")
    return {"steps": len(done), "step_runs": done}


def prune_runs(ctx: TaskContext, keep_days: int | None = None) -> PruneRunsResult:
    """Delete finished run records older than ``keep_days`` (default: settings)."""
    days = keep_days or ctx.settings.runs_retention_days
    cutoff = ctx.now() - timedelta(days=days)
    with ctx.connect() as conn:
        cur = conn.execute(
            "DELETE FROM ops.runs WHERE parent_id IS NULL AND status <> 'running'"
            " AND started_at < %s",
            (cutoff,),
        )
        return {"deleted": cur.rowcount, "cutoff": cutoff.isoformat()}


def provide_jobs(ctx: PlanContext) -> Iterable[JobSpec]:
    """Housekeeping every installation runs."""
    yield JobSpec(
        "core.prune-runs",
        "core.prune-runs",
        TriggerSpec.crontab("30 3 * * *", "Europe/Paris"),
        owner="core",
        description="delete run records older than LOCXIA_RUNS_RETENTION_DAYS",
    )
    yield JobSpec(
        "notify.deliver",
        "notify.deliver",
        TriggerSpec.every(60),
        owner="core",
        description="send due notifications to params.notification_rules (quiet hours, retries)",
    )


plugin = Plugin(
    name="core",
    tasks=(
        Task(
            "core.noop",
            "infra.jobs.builtin:noop",
            "do nothing; for heartbeats and tests",
            schedulable=ArgSchema({"sleep_seconds": Arg("number", minimum=0, maximum=60)}),
        ),
        # A chain is schedulable only with steps that are themselves schedulable.
        Task(
            "core.chain",
            "infra.jobs.builtin:chain",
            "run several tasks in order",
            schedulable=ArgSchema({"steps": Arg("steps", required=True)}),
        ),
        # Re-timed only: a row choosing keep_days could erase the run history.
        Task(
            "core.prune-runs",
            "infra.jobs.builtin:prune_runs",
            "expire old run records",
            schedulable=ArgSchema(),
        ),
        # Re-timed only: it reaches the targets params.notification_rules name, no others.
        Task(
            "notify.deliver",
            "infra.notify:deliver_task",
            "send due notifications (webhook, e-mail)",
            schedulable=ArgSchema(),
        ),
    ),
    provide=provide_jobs,
)
