"""``locxia serve``: one leader runs the scheduler, the others stand by.

Leadership is the session lock ``leader`` of :mod:`infra.db.locks`, taken by the backend of a
dedicated connection; no other login can take it (an advisory lock could be held by any
login, Grafana's included). When the leader dies — even by SIGKILL — its connection closes,
its backend leaves ``pg_stat_activity``, and the first standby to poll (every
``leader_poll_seconds``) takes over with the same persistent job store. No clock-based lease,
no split brain: the database is the single arbiter, and ``ops.runs``' unique (job, tick)
guards the rare overlap during a network partition.

The leader LISTENs on ``locxia_params``: a change to any parameter table re-plans the jobs
within a second (debounced), and a periodic re-plan catches anything NOTIFY cannot (a change
made while no service was listening).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from infra import __version__, children
from infra.db import connect, locks
from infra.errors import DatabaseError, LocxiaError
from infra.jobs.model import PlanContext
from infra.jobs.registry import Registry
from infra.jobs.runner import Runner, install, utcnow
from infra.jobs.trigger import CONTROL_CHANNEL
from infra.settings import Settings

if TYPE_CHECKING:
    from infra.scheduler import SyncReport

log = logging.getLogger(__name__)

PARAMS_CHANNEL = "locxia_params"

HEARTBEAT_S = 5.0
# A burst (a multi-row UPDATE notifies once per row) arrives together at commit; draining what
# is already received costs no wait. The cap only bounds a pathological flood: whatever is
# left is handled on the next turn, and a re-plan is idempotent.
MAX_DRAIN_POLLS = 100


@dataclass
class ServiceState:
    """What the service is doing; read by tests and by ``ops.services``."""

    role: str = "standby"
    replans: int = 0
    notifications: int = 0
    last_plan_failures: dict[str, str] = field(default_factory=dict)


class Service:
    """The long-running process. :meth:`run` returns when ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        *,
        stop: threading.Event | None = None,
        now: Callable[[], datetime] = utcnow,
        scheduler_factory: Callable[[Settings], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.stop = stop or threading.Event()
        self.now = now
        self.state = ServiceState()
        self.id = f"{socket.gethostname()}:{os.getpid()}"
        self._scheduler_factory = scheduler_factory
        self._scheduler: Any = None
        self._conn: psycopg.Connection[Any] | None = None
        self._runner = Runner(settings, registry, now=now)
        #: jobs still running when the stop's grace (``stop_grace_seconds``) ran out
        self.unfinished_jobs = 0

    # --- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        """Stand by or lead until :attr:`stop` is set; always leave the scheduler stopped."""
        log.info("locxia serve %s starting as %s", __version__, self.id)
        self._sweep()  # standbys too: a killed CLI run is marked without waiting to lead
        try:
            while not self.stop.is_set():
                try:
                    self._step()
                except LocxiaError as exc:
                    log.error("%s; retrying in %.0fs", exc, self.settings.leader_poll_seconds)
                    self._lose_leadership()
                    self.stop.wait(self.settings.leader_poll_seconds)
                except psycopg.OperationalError as exc:
                    log.error("database connection lost (%s); standing by", exc)
                    self._lose_leadership()
                    self.stop.wait(self.settings.leader_poll_seconds)
        finally:
            if self.stop.is_set():
                # Children that run work for a job (the Terraform core) get their own graceful
                # stop now, so the jobs waiting on them end within the grace.
                children.interrupt_all()
            self._lose_leadership(wait=True)
            self._mark("stopped")
            if self._conn is not None:
                self._conn.close()
            children.reset()
            if self.unfinished_jobs:
                log.error(
                    "%d job(s) still running after %.0fs; leaving them",
                    self.unfinished_jobs,
                    self.settings.stop_grace_seconds,
                )
            log.info("locxia serve stopped")

    def _step(self) -> None:
        conn = self._connection()
        if not self._holds_lock:
            if self._try_lock(conn):
                self._lead(conn)
            else:
                self._beat(conn)
                self.stop.wait(self.settings.leader_poll_seconds)
            return
        self._listen_once(conn)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(
                self.settings.require_database_url(),
                autocommit=True,
                application_name="locxia:serve",
            )
            self._next_beat = 0.0
        return self._conn

    def _try_lock(self, conn: psycopg.Connection[Any]) -> bool:
        return locks.try_lock(conn, locks.LEADER)

    # --- leading -------------------------------------------------------------------------
    def _lead(self, conn: psycopg.Connection[Any]) -> None:
        log.info("became leader")
        self._holds_lock = True
        conn.execute(f"LISTEN {PARAMS_CHANNEL}")
        conn.execute(f"LISTEN {CONTROL_CHANNEL}")
        self._sweep()  # runs of a previous leader (or of killed CLI runs), and leftovers
        install(self._runner)
        factory = self._scheduler_factory or _default_scheduler
        self._scheduler = factory(self.settings)
        self._scheduler.start(paused=True)
        self.replan()
        self._scheduler.resume()
        self._next_replan = time.monotonic() + self.settings.replan_seconds
        self.state.role = "leader"
        self._beat(conn, force=True)
        self._run_requested()  # requests made while no leader was listening

    def _listen_once(self, conn: psycopg.Connection[Any]) -> None:
        timeout = min(self.settings.leader_poll_seconds, HEARTBEAT_S)
        # Collect first, act after: the notifies() generator holds the connection's lock,
        # so querying from inside the loop would deadlock.
        notes = list(conn.notifies(timeout=timeout, stop_after=1))
        if notes:
            notes += _drain(conn)
        self.state.notifications += len(notes)
        channels = {note.channel for note in notes}
        if CONTROL_CHANNEL in channels:
            self._run_requested()  # the payload is ignored: requests are read from their table
        if PARAMS_CHANNEL in channels or time.monotonic() >= self._next_replan:
            self.replan()
            self._next_replan = time.monotonic() + self.settings.replan_seconds
        self._wake({_table(n.payload) for n in notes if n.channel == PARAMS_CHANNEL})
        if time.monotonic() >= self._next_sweep:
            self._sweep()
        self._beat(conn)

    def _sweep(self) -> None:
        """Mark orphaned runs interrupted and sweep leftovers; never stops the service.

        Runs at leadership and then every grace period (3 heartbeat intervals), so a run of a
        dead process on another host is marked once its heartbeat is that old.
        """
        from infra.jobs.liveness import grace_seconds

        self._next_sweep = time.monotonic() + grace_seconds(self.settings)
        try:
            self._runner.sweep()
        except LocxiaError as exc:
            log.error("sweeping interrupted runs failed: %s", exc)

    def _wake(self, tables: set[str | None]) -> None:
        """Run at once the jobs that asked to wake on a change of one of ``tables``.

        The table name comes from a NOTIFY payload, which any role can forge: the worst it can
        do is run an idempotent job early, which is why only ``wake_on`` jobs react to it.
        """
        from infra.scheduler import run_once_now

        for job_id in sorted({j for t in tables if t for j in self._wake_on.get(t, ())}):
            try:
                if run_once_now(self._scheduler, job_id, trigger="event"):
                    log.info("job %s woken by a change", job_id)
            except LocxiaError as exc:
                log.error("cannot wake job %s: %s", job_id, exc)

    def _run_requested(self) -> None:
        """Start every pending ``locxia jobs trigger`` request, once each."""
        from infra.jobs.trigger import mark_unknown, take_pending

        conn = self._connection()
        for request_id, job_id in take_pending(conn):
            try:
                self.trigger(job_id)
            except LocxiaError as exc:
                log.error("run request %s: %s", request_id, exc)
                mark_unknown(conn, request_id)

    def trigger(self, job_id: str) -> None:
        """Run planned job ``job_id`` once now, without moving its schedule.

        Raises:
            JobError: no such job is scheduled.
        """
        from infra.scheduler import run_once_now

        run_once_now(self._scheduler, job_id)
        log.info("job %s triggered", job_id)

    def replan(self) -> None:
        """Derive the jobs from the parameter tables and sync them into the scheduler."""
        from infra.scheduler import sync_jobs

        with connect(self.settings.require_database_url(), application_name="locxia:plan") as conn:
            plan = self.registry.plan(PlanContext(self.settings, conn, self.now()))
        for owner, error in plan.failures.items():
            log.error("planning %s failed (its jobs are kept as they were): %s", owner, error)
        report = sync_jobs(self._scheduler, plan.jobs, keep_owners=plan.keep_owners)
        wake: dict[str, set[str]] = {}
        for spec in plan.jobs:
            for table in spec.wake_on:
                wake.setdefault(table, set()).add(spec.id)
        self._wake_on = wake
        self.state.replans += 1
        self.state.last_plan_failures = dict(plan.failures)
        if report.changed or plan.failures:
            self._record_plan(report, plan.failures)

    def _record_plan(self, report: SyncReport, failures: dict[str, str]) -> None:
        """Re-plans that change something are runs too, so Grafana shows why jobs moved."""
        with connect(self.settings.require_database_url(), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO ops.runs (job_id, task, trigger, status, ended_at, error, details,"
                " host, pid) VALUES ('service.plan', 'service.plan', 'service', %s,"
                " clock_timestamp(), %s, %s, %s, %s)",
                (
                    "failed" if failures else "success",
                    "; ".join(f"{k}: {v}" for k, v in failures.items()) or None,
                    psycopg.types.json.Jsonb(report.details()),
                    socket.gethostname(),
                    os.getpid(),
                ),
            )

    def _lose_leadership(self, wait: bool = False) -> None:
        """Stop the scheduler; with ``wait``, for at most ``stop_grace_seconds`` of running jobs."""
        if self._scheduler is not None:
            from infra.scheduler import unfinished_runs

            try:
                self._scheduler.shutdown(wait=wait)
            except Exception:  # already stopped, or its store's connection is gone
                log.debug("scheduler shutdown", exc_info=True)
            self.unfinished_jobs = unfinished_runs(self._scheduler)
            self._scheduler = None
        install(None)
        self._runner.close()
        self.state.role = "standby"
        if self._holds_lock:
            log.info("leadership released")
            self._holds_lock = False
            if self._conn is not None and not self._conn.closed and not self._conn.broken:
                try:
                    locks.unlock(self._conn, locks.LEADER)
                    self._conn.execute("UNLISTEN *")
                except psycopg.Error:
                    log.debug("unlock", exc_info=True)

    # --- heartbeat -----------------------------------------------------------------------
    _holds_lock: bool = False
    _wake_on: dict[str, set[str]] = {}  # noqa: RUF012 - replaced, never mutated in place
    _next_beat: float = 0.0
    _next_replan: float = 0.0
    _next_sweep: float = 0.0

    def _beat(self, conn: psycopg.Connection[Any], force: bool = False) -> None:
        if not force and time.monotonic() < self._next_beat:
            return
        self._next_beat = time.monotonic() + HEARTBEAT_S
        self._mark(self.state.role, conn)

    def _mark(self, role: str, conn: psycopg.Connection[Any] | None = None) -> None:
        try:
            target = conn or self._connection()
            target.execute(
                "INSERT INTO ops.services (id, host, pid, version, role) VALUES (%s,%s,%s,%s,%s)"
                " ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, heartbeat_at = now()",
                (self.id, socket.gethostname(), os.getpid(), __version__, role),
            )
        except (psycopg.Error, DatabaseError):
            log.debug("heartbeat not recorded", exc_info=True)


def _drain(conn: psycopg.Connection[Any]) -> list[psycopg.Notify]:
    """Every notification already received, without waiting for more.

    Acting at once matters: ``locxia jobs trigger`` waits for the run it asked for, and a fixed
    debounce added its full length to every trigger. ``timeout=0`` polls the socket once.
    """
    drained: list[psycopg.Notify] = []
    for _ in range(MAX_DRAIN_POLLS):
        more = list(conn.notifies(timeout=0))
        if not more:
            break
        drained += more
    return drained


def _table(payload: str) -> str | None:
    """The table named by a ``locxia_params`` payload (None when it is not ours)."""
    try:
        table = json.loads(payload).get("table")
    except (ValueError, AttributeError):
        return None
    return table if isinstance(table, str) else None


def _default_scheduler(settings: Settings) -> Any:
    from infra.scheduler import build_scheduler

    return build_scheduler(settings)
