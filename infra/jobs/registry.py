"""Plugins discovered from the ``locxia.jobs`` entry point, and the plan of jobs they derive.

A feature plugs in by declaring, in ``pyproject.toml``::

    [project.entry-points."locxia.jobs"]
    metrics = "pipelines.observe.jobs:plugin"

The scheduler never names a feature. Planning is fault-isolated per plugin: when one plugin's
``provide`` fails, the failure is returned as a value (recorded by the service in ``ops.runs``)
and the jobs that plugin planned before are kept rather than silently dropped.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from infra.errors import JobError, LocxiaError
from infra.jobs.model import (
    ArgSchema,
    JobSpec,
    PlanContext,
    Plugin,
    Task,
    TaskFunction,
    TriggerSpec,
)

if TYPE_CHECKING:
    import psycopg

ENTRY_POINT_GROUP = "locxia.jobs"
SCHEDULES_OWNER = "schedules"


@dataclass(frozen=True)
class Plan:
    """The jobs that should exist now, and what could not be planned (per owner)."""

    jobs: tuple[JobSpec, ...]
    failures: dict[str, str] = field(default_factory=dict)
    complete: frozenset[str] = frozenset()
    """Owners in ``failures`` whose jobs are nevertheless all known: rows were rejected one
    by one, so their jobs must be synced (a rejected row's job removed), not kept."""

    @property
    def keep_owners(self) -> tuple[str, ...]:
        """Owners whose jobs could not be derived: the scheduler keeps theirs as they were."""
        return tuple(o for o in self.failures if o not in self.complete)


class Registry:
    """Tasks and plugins by name; built once per process."""

    def __init__(self, plugins: Iterable[Plugin]) -> None:
        self.plugins: dict[str, Plugin] = {}
        self.tasks: dict[str, Task] = {}
        for plugin in plugins:
            if plugin.name in self.plugins or plugin.name == SCHEDULES_OWNER:
                raise JobError(f"two job plugins are named {plugin.name!r}")
            self.plugins[plugin.name] = plugin
            for task in plugin.tasks:
                if task.name in self.tasks:
                    raise JobError(f"task {task.name!r} is declared by two plugins")
                self.tasks[task.name] = task

    @classmethod
    def from_entry_points(cls, extra: Iterable[Plugin] = ()) -> Registry:
        """Load every installed plugin (plus ``extra``, e.g. from tests).

        Raises:
            JobError: a plugin cannot be imported or is not a :class:`Plugin`.
        """
        plugins: list[Plugin] = []
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                obj = ep.load()
            except Exception as exc:
                raise JobError(f"job plugin {ep.name} ({ep.value}) failed to load: {exc}") from exc
            if not isinstance(obj, Plugin):
                raise JobError(f"job plugin {ep.name} ({ep.value}) is not a Plugin")
            plugins.append(obj)
        plugins.extend(extra)
        return cls(plugins)

    def resolve(self, name: str) -> TaskFunction:
        """Import and return the function behind task ``name``.

        Raises:
            JobError: unknown task, or its target cannot be imported.
        """
        task = self.tasks.get(name)
        if task is None:
            known = ", ".join(sorted(self.tasks)) or "none"
            raise JobError(f"unknown task {name!r} (known: {known})")
        module_name, attr = task.target.split(":", 1)
        try:
            fn: TaskFunction = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise JobError(f"task {name}: cannot import {task.target}: {exc}") from exc
        return fn

    def plan(self, ctx: PlanContext) -> Plan:
        """Every job wanted now: plugin jobs, overridden or extended by ``params.schedules``."""
        jobs: dict[str, JobSpec] = {}
        failures: dict[str, str] = {}
        for plugin in self.plugins.values():
            if plugin.provide is None:
                continue
            try:
                planned = list(plugin.provide(ctx))
                for spec in planned:
                    self._check(spec, plugin.name)
            except Exception as exc:  # one plugin's fault must not unschedule the others
                ctx.conn.rollback()
                failures[plugin.name] = _one_line(exc)
                continue
            jobs.update((spec.id, spec) for spec in planned)
        complete: set[str] = set()
        try:
            rejected = _apply_schedules(ctx, jobs, self.tasks)
            if rejected:
                # Reported, and synced like any plan: a rejected row's job must not stay
                # scheduled from an earlier plan (the job store persists across restarts).
                failures[SCHEDULES_OWNER] = f"JobError: {'; '.join(rejected)}"
                complete.add(SCHEDULES_OWNER)
        except LocxiaError as exc:
            ctx.conn.rollback()
            failures[SCHEDULES_OWNER] = _one_line(exc)
        return Plan(tuple(sorted(jobs.values(), key=lambda j: j.id)), failures, frozenset(complete))

    def schedulable(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every task a schedule row may name: ``{task: (plugin, args schema as JSON)}``."""
        return {
            task.name: (plugin.name, task.schedulable.as_json())
            for plugin in self.plugins.values()
            for task in plugin.tasks
            if task.schedulable is not None
        }

    def sync_catalog(self, conn: psycopg.Connection[Any]) -> int:
        """Make ``ops.schedulable_tasks`` list exactly :meth:`schedulable`; return its size.

        The database's check of ``params.schedules`` reads this table, so it says what the
        installed plugins declare. Editors cannot write it; ``locxia db upgrade`` (the
        schema owner) fills it. Runs in the caller's transaction.
        """
        wanted = self.schedulable()
        conn.execute(
            "DELETE FROM ops.schedulable_tasks WHERE NOT (task = ANY(%s))", (list(wanted),)
        )
        for task, (plugin, schema) in sorted(wanted.items()):
            conn.execute(
                "INSERT INTO ops.schedulable_tasks (task, plugin, args_schema)"
                " VALUES (%s, %s, %s) ON CONFLICT (task) DO UPDATE"
                " SET plugin = EXCLUDED.plugin, args_schema = EXCLUDED.args_schema"
                " WHERE (ops.schedulable_tasks.plugin, ops.schedulable_tasks.args_schema)"
                " IS DISTINCT FROM (EXCLUDED.plugin, EXCLUDED.args_schema)",
                (task, plugin, Jsonb(schema)),
            )
        return len(wanted)

    def _check(self, spec: JobSpec, owner: str) -> None:
        if spec.owner != owner:
            raise JobError(f"plugin {owner} planned job {spec.id} owned by {spec.owner}")
        if spec.task not in self.tasks:
            raise JobError(f"job {spec.id} names unknown task {spec.task!r}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _apply_schedules(
    ctx: PlanContext, jobs: dict[str, JobSpec], tasks: dict[str, Task]
) -> list[str]:
    """Merge ``params.schedules``: a row re-times a planned job of the same id, else adds one.

    Only tasks declared schedulable (``Task.schedulable``) may be named, with arguments their
    schema allows; a row overriding a planned job must name the planned task and only adds
    schema-allowed arguments to the planned ones. The database checks the same rules on
    every write (migration 0052); this check is the second line, for rows written before
    it or around it. A bad row is skipped and reported; it never prevents the other rows
    from being applied, and it never runs.

    Returns:
        One ``params.schedules[job]: why`` line per row skipped (all good rows are merged).
    """
    rows = ctx.conn.execute(
        "SELECT job, task, every_seconds, cron, timezone, args, enabled"
        " FROM params.schedules ORDER BY job"
    ).fetchall()
    ctx.conn.rollback()
    planned = dict(jobs)
    bad: list[str] = []
    for job, task, every, cron, tz, args, enabled in rows:
        if not enabled:
            jobs.pop(job, None)
            continue
        try:
            schema = _schedulable(tasks, task)
            base = planned.get(job)
            if base is not None and base.task != task:
                raise JobError(
                    f"job {job} is planned with task {base.task}; a row may only re-time it"
                )
            if not isinstance(args, dict):
                raise JobError("args must be a JSON object")
            schema.check(
                args,
                new_job=base is None,
                schema_of=lambda name: tasks[name].schedulable if name in tasks else None,
            )
            trigger = TriggerSpec.every(every) if every else TriggerSpec.crontab(cron, tz)
            trigger.build()  # validates cron fields and time zone now, not at run time
            owner = base.owner if base else SCHEDULES_OWNER
            merged_args = {**(base.args if base else {}), **args}
            jobs[job] = JobSpec(job, task, trigger, merged_args, owner, "params.schedules")
        except LocxiaError as exc:
            bad.append(f"params.schedules[{job}]: {exc}")
    return bad


def _schedulable(tasks: dict[str, Task], name: str) -> ArgSchema:
    task = tasks.get(name)
    if task is None:
        raise JobError(f"unknown task {name!r}")
    if task.schedulable is None:
        raise JobError(f"task {name} is not schedulable from params.schedules (never run)")
    return task.schedulable
