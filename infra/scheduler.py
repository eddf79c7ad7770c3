"""APScheduler 3.x wired for Locxia: PostgreSQL job store, recorded runs, plan → jobs sync.

Choices, and why:

* **Job store in PostgreSQL** (``ops.apscheduler_jobs``): next run times survive restarts and
  fail-over, so a daily job does not re-run because the leader changed.
* ``coalesce=True``: after downtime a job runs once, not once per missed tick.
* ``max_instances=1``: a slow collection never overlaps itself.
* ``misfire_grace_time`` from settings (default 300 s, not APScheduler's 1 s): a run delayed by
  a busy pool or a fail-over still happens.
* The executor passes each run's *scheduled* time to the runner (``SCHEDULED_AT``), which is
  what makes ``ops.runs``' unique (job, tick) an exactly-once guard.

Syncing is idempotent: a job whose fingerprint (task, trigger, args) is unchanged is left
alone, so re-planning every few seconds never postpones an interval job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from dataclasses import dataclass
from typing import Any, TypedDict

from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from infra.db import sqlalchemy_url
from infra.errors import JobError
from infra.jobs.model import JobSpec
from infra.jobs.runner import SCHEDULED_AT
from infra.settings import Settings

log = logging.getLogger(__name__)

JOB_FUNC = "infra.jobs.runner:scheduled"
JOBSTORE_TABLE = "apscheduler_jobs"


class RecordingThreadPoolExecutor(BaseExecutor):  # type: ignore[misc]
    """A thread pool executor that tells each run which tick it serves.

    APScheduler 3 does not pass the scheduled time to the job function; this executor sets
    :data:`infra.jobs.runner.SCHEDULED_AT` in the worker thread around ``run_job``.
    """

    def __init__(self, max_workers: int = 4, stop_grace_seconds: float | None = None) -> None:
        super().__init__()
        self._max_workers = max_workers
        self._grace = stop_grace_seconds
        self._pool: ThreadPoolExecutor | None = None
        self._running: set[Future[Any]] = set()
        self._running_lock = threading.Lock()
        #: runs still going when :meth:`shutdown` gave up waiting for them
        self.unfinished = 0

    def start(self, scheduler: Any, alias: str) -> None:
        """Create the pool when the scheduler starts."""
        super().start(scheduler, alias)
        self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="locxia-job")

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting runs and drop queued ones; with ``wait``, let running ones finish.

        The wait lasts at most ``stop_grace_seconds`` (unbounded when None); the runs still
        going then are counted in :attr:`unfinished`, and left to their threads.
        """
        if self._pool is None:
            return
        self._pool.shutdown(wait=False, cancel_futures=True)
        if wait:
            with self._running_lock:
                running = list(self._running)
            _, not_done = wait_for_futures(running, timeout=self._grace)
            self.unfinished = len(not_done)

    def _do_submit_job(self, job: Any, run_times: list[Any]) -> None:
        assert self._pool is not None

        def call() -> Any:
            token = SCHEDULED_AT.set(run_times[-1])
            try:
                return run_job(job, job._jobstore_alias, run_times, self._logger.name)
            finally:
                SCHEDULED_AT.reset(token)

        def done(future: Any) -> None:
            with self._running_lock:
                self._running.discard(future)
            if future.cancelled():  # queued when the scheduler shut down: never started
                return
            exc = future.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        future = self._pool.submit(call)
        with self._running_lock:
            self._running.add(future)
        future.add_done_callback(done)


def unfinished_runs(scheduler: Any) -> int:
    """Runs the scheduler's executor left running when its shutdown stopped waiting."""
    try:
        executor = scheduler._lookup_executor("default")
    except Exception:  # no such executor (a test's scheduler)
        return 0
    return int(getattr(executor, "unfinished", 0))


def build_scheduler(settings: Settings) -> Any:
    """A configured, not yet started, :class:`BackgroundScheduler`."""
    store = SQLAlchemyJobStore(
        url=sqlalchemy_url(settings.require_database_url()),
        tablename=JOBSTORE_TABLE,
        tableschema="ops",
        engine_options={"pool_pre_ping": True, "pool_size": 2},
    )
    return BackgroundScheduler(
        jobstores={"default": store},
        executors={
            "default": RecordingThreadPoolExecutor(
                settings.job_workers, stop_grace_seconds=settings.stop_grace_seconds
            )
        },
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.misfire_grace_seconds,
        },
        timezone="UTC",
    )


class PlanDetails(TypedDict):
    """The details of a ``service.plan`` run (``reporting`` views read every key)."""

    added: list[str]
    replaced: list[str]
    removed: list[str]
    kept: int


@dataclass(frozen=True)
class SyncReport:
    """What one sync changed."""

    added: tuple[str, ...]
    replaced: tuple[str, ...]
    removed: tuple[str, ...]
    kept: int

    @property
    def changed(self) -> bool:
        """True when any job was added, replaced or removed."""
        return bool(self.added or self.replaced or self.removed)

    def details(self) -> PlanDetails:
        """The JSON recorded for the re-plan in ``ops.runs.details``."""
        return PlanDetails(
            added=list(self.added),
            replaced=list(self.replaced),
            removed=list(self.removed),
            kept=self.kept,
        )


MANUAL_OWNER = "manual"


def run_once_now(scheduler: Any, job_id: str, trigger: str = "manual") -> str | None:
    """Add a one-off copy of scheduled job ``job_id`` that runs now; return its id.

    The copy is recorded as a ``trigger`` run (``manual`` or ``event``) of ``job_id``; the
    job's own schedule is not touched. One-off copies are not part of the plan and sync leaves
    them alone. An ``event`` copy is not added when one is already waiting (bursts coalesce).

    Raises:
        JobError: no job ``job_id`` is scheduled.
    """
    import uuid

    job = scheduler.get_job(job_id)
    if job is None:
        raise JobError(f"no scheduled job {job_id!r} (see `locxia jobs list`)")
    name = f"{MANUAL_OWNER}|{job_id}|{trigger}"
    if trigger == "event" and any(j.name == name for j in scheduler.get_jobs()):
        return None
    once_id = f"{job_id}@{uuid.uuid4().hex[:8]}"
    scheduler.add_job(
        JOB_FUNC,
        trigger="date",
        id=once_id,
        name=name,
        kwargs={**job.kwargs, "trigger": trigger},
        misfire_grace_time=None,
    )
    return once_id


def _name(spec: JobSpec) -> str:
    return f"{spec.owner}|{spec.fingerprint}"


def sync_jobs(
    scheduler: Any,
    specs: Iterable[JobSpec],
    keep_owners: Iterable[str] = (),
    add_job: Callable[..., Any] | None = None,
) -> SyncReport:
    """Make the scheduler's jobs equal ``specs``.

    Args:
        scheduler: a started or paused APScheduler scheduler.
        specs: every job that should exist.
        keep_owners: owners whose planning failed: their existing jobs are left untouched.
        add_job: replacement for ``scheduler.add_job`` (tests).
    """
    add = add_job or scheduler.add_job
    wanted = {spec.id: spec for spec in specs}
    keep = set(keep_owners)
    existing = {job.id: job for job in scheduler.get_jobs()}
    added: list[str] = []
    replaced: list[str] = []
    removed: list[str] = []
    for job_id, job in existing.items():
        owner = str(job.name).split("|", 1)[0]
        if job_id not in wanted and owner not in keep and owner != MANUAL_OWNER:
            scheduler.remove_job(job_id)
            removed.append(job_id)
    for job_id, spec in wanted.items():
        current = existing.get(job_id)
        if current is not None and current.name == _name(spec):
            continue
        add(
            JOB_FUNC,
            trigger=spec.trigger.build(),
            id=job_id,
            name=_name(spec),
            kwargs={"job_id": job_id, "task": spec.task, "args": dict(spec.args)},
            replace_existing=True,
        )
        (replaced if current is not None else added).append(job_id)
    kept = len(wanted) - len(added) - len(replaced)
    for label, ids in (("added", added), ("replaced", replaced), ("removed", removed)):
        if ids:
            log.info("jobs %s: %s", label, ", ".join(sorted(ids)))
    return SyncReport(tuple(added), tuple(replaced), tuple(removed), kept)
