"""The vocabulary of scheduled work: tasks, triggers, job specs, plugins, contexts.

A **task** is a named function (``metrics.collect``) that does one kind of work. A **job** is a
task bound to arguments and a trigger (``metrics.collect.rds-default`` every 5 minutes). Jobs
are never listed in code: each **plugin** (declared under the ``locxia.jobs`` entry point)
names its tasks and derives its jobs from the parameter tables in ``provide``; users add or
override jobs with rows in ``params.schedules``. Everything here is a frozen value validated
at construction, so a bad row is rejected before anything is scheduled.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from infra.errors import JobError

if TYPE_CHECKING:
    import psycopg

    from infra.aws import AwsClients
    from infra.settings import Settings

#: What a task returns: JSON-able keys merged over ``TaskContext.details`` and recorded in
#: ``ops.runs.details``. Each task declares its own ``TypedDict`` (``CollectResult``...):
#: plain dicts at run time, so the runner stores them and ``--json`` prints them unchanged,
#: while mypy checks the keys the report, the dashboards and the CLI read.
TaskResult = Mapping[str, object]
#: A task: ``fn(ctx, **args) -> TaskResult | None`` (its arguments are checked by name
#: against ``args`` before the run is recorded).
TaskFunction = Callable[..., TaskResult | None]

NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,79}$")
JOB_ID = re.compile(r"^[a-z][a-z0-9_.:/-]{0,119}$")


@dataclass(frozen=True)
class TriggerSpec:
    """When a job runs: every N seconds, or a 5-field cron expression in a time zone."""

    kind: Literal["interval", "cron"]
    every_seconds: int | None = None
    cron: str | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.kind == "interval":
            if self.every_seconds is None or self.every_seconds < 1 or self.cron is not None:
                raise JobError("an interval trigger needs every_seconds >= 1 and no cron")
        elif self.kind == "cron":
            if not self.cron or len(self.cron.split()) != 5 or self.every_seconds is not None:
                raise JobError(f"cron trigger needs 5 fields, got {self.cron!r}")
        else:
            raise JobError(f"unknown trigger kind {self.kind!r}")

    @classmethod
    def every(cls, seconds: int) -> TriggerSpec:
        """An interval trigger."""
        return cls("interval", every_seconds=seconds)

    @classmethod
    def crontab(cls, expr: str, timezone: str = "UTC") -> TriggerSpec:
        """A cron trigger (``"30 3 * * *"``) evaluated in ``timezone``."""
        return cls("cron", cron=expr, timezone=timezone)

    def describe(self) -> str:
        """Human form: ``every 300s`` or ``cron 30 3 * * * (Europe/Paris)``."""
        if self.kind == "interval":
            return f"every {self.every_seconds}s"
        return f"cron {self.cron} ({self.timezone})"

    def build(self) -> Any:
        """The APScheduler trigger (imported lazily: the service pays for it, the CLI not).

        Raises:
            JobError: the cron expression or time zone is invalid.
        """
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        try:
            if self.kind == "interval":
                return IntervalTrigger(seconds=self.every_seconds, timezone="UTC")
            return CronTrigger.from_crontab(str(self.cron), timezone=self.timezone)
        except (ValueError, LookupError) as exc:
            raise JobError(f"invalid trigger {self.describe()}: {exc}") from exc


@dataclass(frozen=True)
class JobSpec:
    """A task bound to arguments and a trigger, owned by the plugin that planned it."""

    id: str
    task: str
    trigger: TriggerSpec
    args: Mapping[str, Any] = field(default_factory=dict)
    owner: str = "schedules"
    description: str = ""
    wake_on: tuple[str, ...] = ()
    """params tables whose change runs this job at once (besides its trigger)."""

    def __post_init__(self) -> None:
        if not JOB_ID.match(self.id):
            raise JobError(f"invalid job id {self.id!r} (lowercase, digits, . _ : / -)")
        if not NAME.match(self.task):
            raise JobError(f"job {self.id}: invalid task name {self.task!r}")
        try:
            json.dumps(dict(self.args), sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise JobError(f"job {self.id}: arguments must be JSON ({exc})") from exc

    @property
    def fingerprint(self) -> str:
        """Changes exactly when what or when the job runs changes (drives re-scheduling)."""
        payload = json.dumps(
            [
                self.task,
                self.trigger.kind,
                self.trigger.every_seconds,
                self.trigger.cron,
                self.trigger.timezone,
                dict(self.args),
            ],
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Task:
    """A named unit of work; ``target`` is ``"module:function"``, imported only when run."""

    name: str
    target: str
    summary: str

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise JobError(f"invalid task name {self.name!r}")
        if ":" not in self.target:
            raise JobError(f"task {self.name}: target must be 'module:function'")


class RunChild(Protocol):
    """Runs a task as a child of the current run (used by chains)."""

    def __call__(self, task: str, args: Mapping[str, Any], step: str) -> RunResult:
        """Run ``task`` with ``args``; ``step`` names it under the parent job id."""
        ...


@dataclass(frozen=True)
class TaskContext:
    """What a task receives besides its arguments: settings, identity, clock, connections."""

    settings: Settings
    run_id: int
    job_id: str
    scheduled_at: datetime | None
    now: Callable[[], datetime]
    run_child: RunChild
    details: dict[str, Any] = field(default_factory=dict)
    """Filled by the task as it goes; recorded even when the task fails half-way (what it
    returns is merged over it when it succeeds)."""

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A new connection to the Locxia database (the caller closes it)."""
        from infra.db import connect

        return connect(
            self.settings.require_database_url(),
            application_name=f"locxia:{self.job_id}",
            **kwargs,
        )

    def aws(self) -> AwsClients:
        """A client factory configured from settings."""
        from infra.aws import AwsClients

        return AwsClients(self.settings)


@dataclass(frozen=True)
class PlanContext:
    """What a plugin's ``provide`` receives to derive jobs from the parameter tables."""

    settings: Settings
    conn: psycopg.Connection[Any]
    now: datetime


@dataclass(frozen=True)
class SweepContext:
    """What a plugin's ``sweep`` receives to clean the leftovers of killed processes.

    Called by :func:`infra.jobs.liveness.sweep` after orphaned runs were marked
    ``interrupted``, so a feature can trust ``ops.runs.status``: a run still ``running`` has
    a live process (or a fresh heartbeat on another host).
    """

    settings: Settings
    conn: psycopg.Connection[Any]
    """Autocommit connection to the Locxia database."""
    host: str
    """This machine's host name (as recorded in ``ops.runs.host``)."""
    pid: int
    """This process."""
    alive: Callable[[int, str | None], bool]
    """``alive(pid, token)``: whether that process still runs on this host (unknown → True)."""


#: A plugin's cleanup: returns counts (``{"terraform_runs_failed": 1, "bytes": 4096}``),
#: logged when not all zero. Must be cheap when there is nothing to clean (it runs before
#: every CLI task) and must never redo work (no re-apply, no re-publish).
Sweep = Callable[[SweepContext], Mapping[str, int]]


@dataclass(frozen=True)
class Plugin:
    """A feature's contribution to the scheduler: its tasks, how it plans jobs, its sweep."""

    name: str
    tasks: tuple[Task, ...]
    provide: Callable[[PlanContext], Iterable[JobSpec]] | None = None
    sweep: Sweep | None = None


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run as recorded in ``ops.runs``."""

    run_id: int | None
    status: Literal["success", "failed", "skipped"]
    details: Mapping[str, Any]
    error: str | None = None
