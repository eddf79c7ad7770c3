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


ArgType = Literal["string", "integer", "number", "boolean", "steps"]
#: Most steps a scheduled chain may hold (a chain's steps cannot be chains themselves).
MAX_STEPS = 20


@dataclass(frozen=True)
class Arg:
    """One argument a ``params.schedules`` row may give a task, and what its value may be.

    ``pattern`` must match the whole string and mean the same to Python's ``re`` and to
    PostgreSQL's regular expressions (the database checks it too): keep to character
    classes, ``{m,n}`` and alternation. ``steps`` is a list of
    ``{"task": ..., "args": {...}}`` whose every task is itself schedulable (used by
    ``core.chain``), so a chain cannot smuggle in a task that is not.
    """

    type: ArgType
    required: bool = False
    enum: tuple[str | int, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The form stored in ``ops.schedulable_tasks.args_schema`` (read by the trigger)."""
        out: dict[str, Any] = {"type": self.type, "required": self.required}
        for key in ("enum", "minimum", "maximum", "pattern"):
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if key == "enum" else value
        return out


@dataclass(frozen=True)
class ArgSchema:
    """What a scheduled row may pass to a task: the allowed keys and their values.

    A task without one (``Task.schedulable is None``) can never be named by a row of
    ``params.schedules``; a task with an empty one can be scheduled or re-timed, with no
    arguments. The same rules run twice: here when planning, and in the database (the
    trigger of migration 0052 reads them from ``ops.schedulable_tasks``).
    """

    args: Mapping[str, Arg] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """``{"args": {name: rule}}`` as stored in the catalog."""
        return {"args": {name: arg.as_json() for name, arg in sorted(self.args.items())}}

    def check(
        self,
        args: Mapping[str, Any],
        *,
        new_job: bool,
        schema_of: Callable[[str], ArgSchema | None],
        depth: int = 0,
    ) -> None:
        """Refuse ``args`` unless every key is declared and every value fits its rule.

        Args:
            args: the row's arguments.
            new_job: the row adds a job (required arguments must be given); a row that
                re-times a planned job only adds to the planned arguments.
            schema_of: the schema of another task (for ``steps``), None if not schedulable.
            depth: how deep in a chain this is (a step cannot hold steps).

        Raises:
            JobError: naming the first argument that breaks a rule.
        """
        for name in sorted(args):
            if name not in self.args:
                allowed = ", ".join(sorted(self.args)) or "none"
                raise JobError(f"argument {name!r} is not allowed (allowed: {allowed})")
            _check_value(name, self.args[name], args[name], schema_of, depth)
        if new_job:
            missing = sorted(n for n, a in self.args.items() if a.required and n not in args)
            if missing:
                raise JobError(f"argument {missing[0]!r} is required")


def _check_value(
    name: str,
    rule: Arg,
    value: Any,
    schema_of: Callable[[str], ArgSchema | None],
    depth: int,
) -> None:
    kinds: dict[str, tuple[type, ...]] = {
        "string": (str,),
        "integer": (int,),
        "number": (int, float),
        "boolean": (bool,),
        "steps": (list,),
    }
    if (
        isinstance(value, bool)
        and rule.type != "boolean"
        or not isinstance(value, kinds[rule.type])
    ):
        raise JobError(f"argument {name!r} must be a {rule.type}")
    if rule.enum is not None and value not in rule.enum:
        raise JobError(f"argument {name!r}: {value!r} is not one of {list(rule.enum)}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if rule.minimum is not None and value < rule.minimum:
            raise JobError(f"argument {name!r}: {value} is below {rule.minimum:g}")
        if rule.maximum is not None and value > rule.maximum:
            raise JobError(f"argument {name!r}: {value} is above {rule.maximum:g}")
    if (
        rule.pattern is not None
        and isinstance(value, str)
        and not re.fullmatch(rule.pattern, value)
    ):
        raise JobError(f"argument {name!r}: {value!r} does not match {rule.pattern}")
    if rule.type == "steps":
        steps: list[Any] = value if isinstance(value, list) else []
        if depth > 0:
            raise JobError(f"argument {name!r}: a step cannot hold steps")
        if not 1 <= len(steps) <= MAX_STEPS:
            raise JobError(f"argument {name!r}: 1 to {MAX_STEPS} steps")
        for i, step in enumerate(steps):
            if not isinstance(step, dict) or set(step) - {"task", "args"}:
                raise JobError(f"argument {name!r}[{i}]: expected {{task, args}}")
            task, step_args = step.get("task"), step.get("args", {})
            schema = schema_of(task) if isinstance(task, str) else None
            if schema is None:
                raise JobError(f"argument {name!r}[{i}]: task {task!r} is not schedulable")
            if not isinstance(step_args, dict):
                raise JobError(f"argument {name!r}[{i}]: args must be an object")
            try:
                schema.check(step_args, new_job=True, schema_of=schema_of, depth=depth + 1)
            except JobError as exc:
                raise JobError(f"argument {name!r}[{i}] ({task}): {exc}") from exc


@dataclass(frozen=True)
class Task:
    """A named unit of work; ``target`` is ``"module:function"``, imported only when run.

    ``schedulable`` says whether a row of ``params.schedules`` may name the task, and with
    which arguments. None (the default) means never: the task runs only when a plugin plans
    it or a person runs it (``locxia jobs run``, ``locxia infra approve``...), so a task
    that spends above the guardrails, approves, or reaches a URL or database given in its
    arguments is simply never declared schedulable.
    """

    name: str
    target: str
    summary: str
    schedulable: ArgSchema | None = None

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
