"""Running a task from the command line: the recorded Runner, and its failure as one line.

Every command that does a job's work (``observe``, ``infra``, the feed verbs, ``jobs run``)
calls :func:`run_task`, so a run started by hand is a row in ``ops.runs`` like a scheduled
one, and a failed run always reads the same: ``TASK failed (run ID): ERROR``
(:func:`failure_line`, which the demo uses for its steps too). What could not even start —
an unknown task, arguments it does not take, a database that refuses the run's record —
is raised by the Runner and shown by :mod:`infra.cli.errors` like any other error.

Before the task starts, runs left ``running`` by killed processes are marked ``interrupted``
and each feature sweeps its leftovers (:mod:`infra.jobs.liveness`): one indexed query when
there is nothing to sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import typer

from infra.cli.errors import recorded_line
from infra.cli.state import state
from infra.errors import JobError
from infra.jobs.model import RunResult


class TaskFailed(JobError):
    """A task ran, was recorded, and failed (exit 1).

    Attributes:
        result: the recorded outcome (run id, error, the details the task left).
    """

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message)
        self.result = result


def failure_line(task: str, result: RunResult, *, job_id: str | None = None) -> str:
    """The one line a failed run becomes, wherever it ran from.

    Args:
        task: the task that ran.
        result: its recorded outcome.
        job_id: the job it ran as, when not the task's own name (``demo.publish``).

    Returns:
        ``TASK failed (run ID): ERROR`` — or ``JOB (TASK) failed ...`` — with only the first
        line of the error, passwords masked.
    """
    who = task if job_id in (None, task) else f"{job_id} ({task})"
    error = recorded_line(result.error or "") or "no error recorded"
    return f"{who} failed (run {result.run_id}): {error}"


def run_task(
    ctx: typer.Context,
    task: str,
    args: Mapping[str, Any] | None = None,
    *,
    on_failure: Callable[[RunResult], None] | None = None,
) -> RunResult:
    """Run ``task`` here, now, through the recorded Runner of the installed plugins.

    Args:
        ctx: the command's context (settings come from it).
        task: a registered task name.
        args: the task's keyword arguments.
        on_failure: shows what a failed run left (a quality report, the ``--json`` result)
            before it becomes an error line.

    Returns:
        The outcome of a run that succeeded.

    Raises:
        TaskFailed: the run failed (recorded as failed; message from :func:`failure_line`).
        JobError: the task is unknown or does not take ``args`` (nothing recorded).
        DatabaseError: the run could not be recorded.
    """
    from infra.jobs import Registry
    from infra.jobs.runner import Runner

    runner = Runner(state(ctx).settings, Registry.from_entry_points())
    try:
        runner.sweep()  # runs and leftovers of killed processes, before this one starts
        result = runner.run(task, dict(args or {}))
    finally:
        runner.close()
    if result.status != "success":
        if on_failure is not None:
            on_failure(result)
        raise TaskFailed(failure_line(task, result), result)
    return result
