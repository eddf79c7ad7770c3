"""Running a task and recording the run in ``ops.runs`` — the one path every job takes.

Scheduled ticks, manual ``locxia jobs run`` and chain steps all go through :class:`Runner`, so
Grafana sees every run the same way. A scheduled run first claims its row with
``INSERT ... ON CONFLICT (job_id, scheduled_at) DO NOTHING``: if two schedulers ever fired the
same tick, the database lets exactly one of them run it.

A task's failure is a recorded value (status ``failed``, one-line error, details kept), never
an exception escaping into the scheduler thread.

A run whose job declares capacity (``params.run_capacity``) runs inside a capacity window
(:mod:`infra.capacity`): raised before the task through child runs of the reconcile task,
restored after it, also when it fails; :meth:`Runner.sweep` restores the windows of runs that
died.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from infra import capacity
from infra.db import connect
from infra.errors import DatabaseError, JobError, LocxiaError
from infra.jobs.liveness import ProcessIdentity, SweepReport, sweep
from infra.jobs.model import RunChild, RunResult, TaskContext, TaskFunction, TaskResult
from infra.jobs.registry import Registry
from infra.runcost import RequestMeter, metering, run_cost
from infra.settings import Settings

log = logging.getLogger(__name__)

#: The tick a scheduled run serves; set by the scheduler's executor around each run.
SCHEDULED_AT: ContextVar[datetime | None] = ContextVar("SCHEDULED_AT", default=None)


def utcnow() -> datetime:
    """The real clock (injected everywhere else so tests never sleep)."""
    return datetime.now(UTC)


def _jsonable(details: Mapping[str, Any]) -> Jsonb:
    return Jsonb(dict(details), dumps=lambda obj: _dumps(obj))


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, default=str, sort_keys=True)


class Runner:
    """Runs registered tasks and records each run; safe to share between threads."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.now = now
        self._local = threading.local()
        self._me = ProcessIdentity.current()
        self._beats = Heartbeats(settings)

    def _conn(self) -> psycopg.Connection[Any]:
        """A per-thread autocommit connection for run records, reopened when broken."""
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = connect(
                self.settings.require_database_url(),
                autocommit=True,
                application_name="locxia:runs",
            )
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's record connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def sweep(self) -> SweepReport:
        """Mark runs whose process is gone ``interrupted`` and run every plugin's sweep.

        Uses this thread's record connection (one indexed query when nothing is orphaned).

        Raises:
            DatabaseError: the runs could not be read or marked.
        """
        try:
            report = sweep(self._conn(), self.settings, self.registry.plugins.values(), me=self._me)
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot sweep interrupted runs: {exc}") from exc
        try:  # after the runs are marked: a window whose run ended is restored now
            counts = capacity.sweep(
                self._conn(), self.settings, self.window_reconcile, now=self.now
            )
        except Exception as exc:  # never blocks the command or the service that swept
            report.failures["capacity"] = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
            log.error("capacity windows not restored: %s", report.failures["capacity"])
        else:
            if any(counts.values()):
                log.warning("capacity windows swept: %s", counts)
            report.plugins["capacity"] = counts
        return report

    def window_reconcile(self, window_id: int) -> capacity.Reconcile:
        """The reconcile a swept window's restore runs: a top-level run of its own."""
        return self._reconcile(f"capacity.window-{window_id}", "service", None)

    def run_reconcile(self, job_id: str, run_id: int) -> capacity.Reconcile:
        """The reconcile a window raises and restores with: a child run of the run it serves."""
        return self._reconcile(job_id, "chain", run_id)

    def _reconcile(self, job_id: str, trigger: str, parent_id: int | None) -> capacity.Reconcile:
        def reconcile(step: str, requested_by: str) -> RunResult:
            return self.run(
                capacity.RECONCILE_TASK,
                {"requested_by": requested_by},
                job_id=f"{job_id}/{step}",
                trigger=trigger,
                parent_id=parent_id,
            )

        return reconcile

    def run(
        self,
        task: str,
        args: Mapping[str, Any] | None = None,
        *,
        job_id: str | None = None,
        trigger: str = "manual",
        scheduled_at: datetime | None = None,
        parent_id: int | None = None,
    ) -> RunResult:
        """Run ``task`` once with ``args`` and record it.

        Returns:
            The recorded outcome; ``skipped`` when another scheduler already claimed the tick.

        Raises:
            JobError: the task is unknown (nothing is recorded: there was no run).
            DatabaseError: the run could not be recorded.
        """
        fn = self.registry.resolve(task)
        args = dict(args or {})
        job_id = job_id or task
        _check_arguments(task, fn, args)
        run_id = self._claim(job_id, task, trigger, scheduled_at, parent_id)
        if run_id is None:
            log.info("job %s tick %s already ran elsewhere; skipped", job_id, scheduled_at)
            return RunResult(None, "skipped", {})
        ctx = TaskContext(
            settings=self.settings,
            run_id=run_id,
            job_id=job_id,
            scheduled_at=scheduled_at,
            now=self.now,
            run_child=self._child_runner(job_id, run_id),
        )
        meter = RequestMeter()
        try:
            with metering(meter):
                returned = self._call(fn, ctx, run_id, args, task, parent_id)
        except (KeyboardInterrupt, SystemExit):
            self._finish(run_id, "interrupted", ctx.details, "interrupted by a signal", meter)
            raise
        except Exception as exc:
            error, details = _describe_failure(exc, ctx.details)
            self._finish(run_id, "failed", details, error, meter)
            log.warning("job %s (run %s) failed: %s", job_id, run_id, error)
            self._notify_failing(job_id, parent_id, error)
            return RunResult(run_id, "failed", details, error)
        details = {**ctx.details, **(returned or {})}
        self._finish(run_id, "success", details, None, meter)
        self._notify_failing(job_id, parent_id, None)
        return RunResult(run_id, "success", details)

    def _notify_failing(self, job_id: str, parent_id: int | None, error: str | None) -> None:
        """``job_failing`` once a job's last runs all failed; resolved by its next success.

        Counted on top-level runs (a chain's failed step fails the chain). A notification
        that cannot be recorded is logged, never turned into a failure of the run.
        """
        if parent_id is not None:
            return
        from infra import notify

        try:
            conn = self._conn()
            if error is None:
                notify.resolve(conn, "job_failing", job_id, self.now())
                return
            n = self.settings.notify_failures_in_a_row
            last = conn.execute(
                "SELECT status FROM ops.runs WHERE job_id = %s AND parent_id IS NULL"
                " AND status <> 'running' ORDER BY started_at DESC, id DESC LIMIT %s",
                (job_id, n),
            ).fetchall()
            if len(last) == n and all(row[0] == "failed" for row in last):
                notify.emit(
                    conn,
                    "job_failing",
                    job_id,
                    f"Job {job_id} failed {n} times in a row",
                    f"Last error: {error}",
                    {"job_id": job_id, "failures_in_a_row": n},
                    self.now(),
                )
        except psycopg.Error as exc:
            log.warning("job %s: cannot record its failing notification: %s", job_id, exc)

    def _call(
        self,
        fn: TaskFunction,
        ctx: TaskContext,
        run_id: int,
        args: Mapping[str, Any],
        task: str,
        parent_id: int | None,
    ) -> TaskResult | None:
        """The task itself, inside the capacity window its job declares (if any).

        The run's heartbeat beats exactly while it runs, window raise and restore included.
        """
        self._beats.add(run_id)
        try:
            with capacity.around_run(
                self.settings,
                self._conn(),
                run_id=run_id,
                job_id=ctx.job_id,
                task=task,
                parent_id=parent_id,
                reconcile=self.run_reconcile(ctx.job_id, run_id),
                details=ctx.details,
                now=self.now,
            ):
                return fn(ctx, **args)
        finally:
            self._beats.discard(run_id)

    def _child_runner(self, job_id: str, parent_id: int) -> RunChild:
        def run_child(task: str, args: Mapping[str, Any], step: str) -> RunResult:
            return self.run(
                task, args, job_id=f"{job_id}/{step}", trigger="chain", parent_id=parent_id
            )

        return run_child

    def _claim(
        self,
        job_id: str,
        task: str,
        trigger: str,
        scheduled_at: datetime | None,
        parent_id: int | None,
    ) -> int | None:
        try:
            row = (
                self._conn()
                .execute(
                    "INSERT INTO ops.runs (job_id, task, trigger, scheduled_at, parent_id,"
                    " host, pid, process, heartbeat_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp())"
                    " ON CONFLICT (job_id, scheduled_at) DO NOTHING RETURNING id",
                    (
                        job_id,
                        task,
                        trigger,
                        scheduled_at,
                        parent_id,
                        self._me.host,
                        self._me.pid,
                        self._me.token,
                    ),
                )
                .fetchone()
            )
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot record run of {job_id}: {exc}") from exc
        return None if row is None else int(row[0])

    def _finish(
        self,
        run_id: int,
        status: str,
        details: Mapping[str, Any],
        error: str | None,
        meter: RequestMeter | None = None,
    ) -> None:
        try:
            self._conn().execute(
                "UPDATE ops.runs SET status = %s, ended_at = clock_timestamp(), error = %s,"
                " details = %s WHERE id = %s",
                (status, error, _jsonable(details), run_id),
            )
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot record the end of run {run_id}: {exc}") from exc
        self._cost(run_id, details, meter)

    def _cost(self, run_id: int, details: Mapping[str, Any], meter: RequestMeter | None) -> None:
        """Write the run's cost (infra/runcost.py); a failure is logged, never raised.

        The run is recorded already: its cost is an annotation, and pricing it must never turn
        a success into an error (what could not be priced is named in ``cost_basis``).
        """
        try:
            run_cost(self._conn(), run_id, details, meter, self.settings)
        except Exception:
            log.warning("cost of run %s not recorded", run_id, exc_info=True)


class Heartbeats:
    """Refreshes ``ops.runs.heartbeat_at`` of the runs a Runner has in flight.

    One daemon thread per Runner (not per run: the service runs several at once), started
    when a run begins and ending when none is left, with its own connection opened at the
    first beat — a run shorter than one interval costs no connection at all. A beat that
    fails (database restarting) is logged and retried at the next interval: a heartbeat
    never fails the task it watches. See :mod:`infra.jobs.liveness` for who reads it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.interval = settings.run_heartbeat_seconds
        self._ids: set[int] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.beats = 0

    def add(self, run_id: int) -> None:
        """Beat for ``run_id`` until :meth:`discard`."""
        with self._cond:
            self._ids.add(run_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="locxia-heartbeat", daemon=True
                )
                self._thread.start()

    def discard(self, run_id: int) -> None:
        """Stop beating for ``run_id`` (its end is being recorded)."""
        with self._cond:
            self._ids.discard(run_id)
            if not self._ids:
                self._cond.notify_all()

    def _loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        try:
            while True:
                with self._cond:
                    if self._ids:
                        self._cond.wait(self.interval)
                    ids = sorted(self._ids)
                    if not ids:
                        self._thread = None
                        return
                conn = self._beat(conn, ids)
        finally:
            if conn is not None:
                conn.close()

    def _beat(
        self, conn: psycopg.Connection[Any] | None, ids: list[int]
    ) -> psycopg.Connection[Any] | None:
        try:
            if conn is None or conn.closed or conn.broken:
                conn = connect(
                    self.settings.require_database_url(),
                    autocommit=True,
                    application_name="locxia:heartbeat",
                )
            conn.execute(
                "UPDATE ops.runs SET heartbeat_at = clock_timestamp()"
                " WHERE id = ANY(%s) AND status = 'running'",
                (ids,),
            )
            self.beats += 1
        except Exception:  # never let a heartbeat kill or fail the task
            log.warning("heartbeat of run(s) %s not recorded; retrying", ids, exc_info=True)
        return conn


def _check_arguments(task: str, fn: TaskFunction, args: Mapping[str, Any]) -> None:
    """Reject arguments the task does not take, or of the wrong type, before a run is recorded."""
    import inspect

    try:
        inspect.signature(fn).bind(None, **args)
    except TypeError as exc:
        raise JobError(f"task {task}: bad arguments {sorted(args)}: {exc}") from exc
    wrong = argument_type_errors(fn, args)
    if wrong:
        raise JobError(f"task {task}: {'; '.join(wrong)}")


#: JSON values a plain annotation accepts (a bool is not a number here, whatever Python says).
_JSON_TYPES: dict[Any, tuple[type, ...]] = {
    int: (int,),
    float: (int, float),
    str: (str,),
    bool: (bool,),
    dict: (dict,),
    list: (list,),
}


def argument_type_errors(fn: TaskFunction, args: Mapping[str, Any]) -> list[str]:
    """One message per argument whose JSON value cannot be what the task's annotation says.

    Only plain annotations are checked (``int``, ``float``, ``str``, ``bool``, ``Mapping``,
    ``Sequence`` and their ``X | None``): enough to stop ``--arg sleep_seconds={`` (a string)
    from reaching a task that computes with it, without a schema language of its own.
    """
    import collections.abc
    import types
    import typing

    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that cannot be resolved is not the caller's fault
        return []
    wrong: list[str] = []
    for name, value in args.items():
        hint = hints.get(name)
        if hint is None:
            continue
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        accepted: list[type] = []
        for option in options:
            if option is type(None):
                accepted.append(type(None))
                continue
            origin = typing.get_origin(option) or option
            if origin in (collections.abc.Mapping, dict):
                origin = dict
            elif origin in (collections.abc.Sequence, list, tuple):
                origin = list
            if origin not in _JSON_TYPES:
                accepted = []
                break
            accepted.extend(_JSON_TYPES[origin])
        if not accepted:
            continue
        if isinstance(value, bool) and bool not in accepted:
            ok = False
        else:
            ok = isinstance(value, tuple(accepted))
        if not ok:
            wanted = " or ".join(sorted({t.__name__ for t in accepted}))
            wrong.append(f"{name} must be {wanted}, got {json_type(value)} {value!r}"[:200])
    return wrong


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (for messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _describe_failure(exc: Exception, details: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """One-line error for users; the traceback kept in details only for unexpected errors."""
    if isinstance(exc, LocxiaError):
        return str(exc), dict(details)
    lines = str(exc).strip().splitlines()
    error = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return error, {**details, "traceback": traceback.format_exc(limit=20)}


# --- the scheduler's entry point -------------------------------------------------------------
# APScheduler persists jobs with a textual reference to a module-level function, so the runner
# that scheduled jobs use is installed here by the service when it becomes leader.
_installed: Runner | None = None


def install(runner: Runner | None) -> None:
    """Make ``runner`` the one :func:`scheduled` uses (``None`` uninstalls it)."""
    global _installed
    _installed = runner


def scheduled(job_id: str, task: str, args: Mapping[str, Any], trigger: str = "schedule") -> None:
    """What every APScheduler job calls. Never raises into the scheduler for task failures.

    Args:
        job_id: the planned job's id (``ops.runs.job_id``).
        task: the registered task to run.
        args: its arguments.
        trigger: ``schedule`` for ticks (deduplicated per tick), ``manual`` for one-off runs
            requested with ``locxia jobs trigger``, ``event`` for runs woken by a change to a
            params table (neither is deduplicated).
    """
    if _installed is None:
        raise JobError("no runner installed: scheduled jobs run only inside `locxia serve`")
    tick = SCHEDULED_AT.get() if trigger == "schedule" else None
    try:
        _installed.run(task, args, job_id=job_id, trigger=trigger, scheduled_at=tick)
    except LocxiaError as exc:
        log.error("job %s could not run: %s", job_id, exc)
