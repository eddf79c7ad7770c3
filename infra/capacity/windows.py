"""The lifecycle of one window: open, raise, restore, price (see :mod:`infra.capacity`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from infra.capacity.aws import Observe, observe, raised_missing, restored_missing
from infra.capacity.declare import Declaration, Reconcile, label, worker_names
from infra.capacity.ledger import append_run, get, plan_of, update
from infra.db import locks
from infra.errors import CapacityError, ClusterError, LocxiaError
from infra.settings import Settings

#: Session lock (``ops.locks``) held by the one restore running in the database.
RESTORE_LOCK = "capacity.restore"
#: Seconds between two looks at the plan and at AWS while raising or restoring.
POLL_S = 2.0
#: Reconcile statuses (``ops.terraform_runs.status``) after which AWS is worth describing.
SETTLED = frozenset({"applied", "no_changes"})


class Windows:
    """Opens, raises and restores capacity windows, recording each step in the ledger."""

    def __init__(
        self,
        settings: Settings,
        *,
        now: Callable[[], datetime],
        observe: Observe = observe,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.now = now
        self.observe = observe
        self.sleep = sleep
        self.clock = clock

    def open(
        self, conn: psycopg.Connection[Any], run_id: int, job_id: str, decl: Declaration
    ) -> int:
        """Record the window and edit the rows, in one transaction; return the window id.

        Raises:
            CapacityError: the database row is missing or not RDS, or a row is refused.
        """
        try:
            with conn.transaction():
                row = conn.execute(
                    "INSERT INTO ops.capacity_windows (run_id, job_id, declared_by, declared)"
                    " VALUES (%s, %s, %s, %s) RETURNING id",
                    (run_id, job_id, decl.declared_by, Jsonb(asdict(decl))),
                ).fetchone()
                assert row is not None
                wid = int(row[0])
                conn.execute("SELECT set_config('locxia.actor', %s, true)", (label(wid),))
                added = self._add_workers(conn, wid, run_id, decl)
                previous = self._set_database(conn, decl)
                update(conn, wid, added=added, previous=previous)
        except psycopg.Error as exc:
            why = exc.diag.message_primary or " ".join(str(exc).split())
            raise CapacityError(f"{decl.declared_by}: cannot raise: {why}") from exc
        return wid

    def _add_workers(
        self, conn: psycopg.Connection[Any], wid: int, run_id: int, decl: Declaration
    ) -> list[str]:
        names = worker_names(wid, decl.dask_workers)
        for name in names:
            conn.execute(
                "INSERT INTO params.instances (name, kind, state, instance_class, storage_gb,"
                " purpose, protected, tags, note)"
                " VALUES (%s, 'ec2', 'present', %s, %s, 'dask-worker', false, %s, %s)",
                (
                    name,
                    decl.worker_type,
                    decl.worker_storage_gb,
                    Jsonb({"locxia-capacity-window": str(wid), "locxia-run": str(run_id)}),
                    f"Dask worker of capacity window {wid} (run {run_id}, {decl.declared_by})",
                ),
            )
        return names

    def _set_database(
        self, conn: psycopg.Connection[Any], decl: Declaration
    ) -> dict[str, dict[str, list[str]]]:
        if not decl.database:
            return {}
        row = conn.execute(
            "SELECT kind, instance_class FROM params.instances WHERE name = %s FOR UPDATE",
            (decl.database,),
        ).fetchone()
        if row is None or row[0] != "rds":
            raise CapacityError(
                f"{decl.declared_by}.database: {decl.database!r} is not an rds row of"
                " params.instances"
            )
        other = conn.execute(
            "SELECT id, run_id FROM ops.capacity_windows WHERE state <> 'restored'"
            " AND previous ? %s LIMIT 1",
            (decl.database,),
        ).fetchone()
        if other is not None:  # its restore would take the class from under this run
            raise CapacityError(
                f"{decl.declared_by}.database: {decl.database} is held by capacity window"
                f" {other[0]} (run {other[1]}); try again when it is restored"
            )
        before = str(row[1])
        conn.execute(
            "UPDATE params.instances SET instance_class = %s WHERE name = %s",
            (decl.database_class, decl.database),
        )
        return {decl.database: {"instance_class": [before, str(decl.database_class)]}}

    def _target(self, w: Mapping[str, Any]) -> tuple[list[str], str | None, str | None, str | None]:
        """Workers, database, its class during the window and before it."""
        workers = [str(n) for n in w["added"]]
        prev = w["previous"] or {}
        database = next(iter(prev), None)
        before, during = prev[database]["instance_class"] if database else (None, None)
        return workers, database, during, before

    def raise_capacity(
        self, conn: psycopg.Connection[Any], wid: int, reconcile: Reconcile
    ) -> dict[str, Any]:
        """Reconcile until the capacity is available (or the wait ends); return the plan shown.

        Raises:
            CapacityError: the plan was refused, the reconcile failed, or the capacity was not
                available within ``capacity_wait_seconds`` (a plan held for approval included).
        """
        w = get(conn, wid)
        assert w is not None
        workers, database, during, _ = self._target(w)
        names = workers + ([database] if database else [])
        wait = self.settings.capacity_wait_seconds
        deadline = self.clock() + wait
        missing = "nothing planned yet"
        plan: dict[str, Any] = {}
        ask = True  # reconcile on this turn; not while a plan waits unapproved or has applied
        while True:
            skipped = False
            if ask:
                result = reconcile("capacity-raise", label(wid))
                append_run(conn, wid, "raise_runs", result.details.get("terraform_run"))
                if result.status == "failed" and "another reconcile" not in (result.error or ""):
                    raise CapacityError(
                        f"capacity window {wid}: reconcile run {result.run_id} failed:"
                        f" {result.error}"
                    )
                skipped = bool(result.details.get("skipped"))
            plan = plan_of(conn, names, w["opened_at"]) or plan
            status = plan.get("status")
            if status == "rejected":
                raise CapacityError(
                    f"capacity window {wid}: plan {plan.get('terraform_run')} refused by the"
                    f" guardrails: {'; '.join(plan.get('reasons') or []) or 'see the run'}"
                )
            if status == "held":
                update(conn, wid, state="held", plan=plan)
            elif status in SETTLED or skipped or not names:
                missing = raised_missing(
                    self.observe(self.settings, workers, database), workers, database, during
                )
                if not missing:
                    break
            # A held plan is applied by the first reconcile after its approval is recorded.
            ask = status not in SETTLED and not (status == "held" and not plan.get("approved"))
            left = deadline - self.clock()
            if left <= 0:
                why = (
                    f"plan {plan['terraform_run']} still held for approval"
                    f" (`locxia infra approve {plan['terraform_run']}`)"
                    if status == "held"
                    else missing
                )
                raise CapacityError(
                    f"capacity window {wid}: not available within {wait:.0f} s: {why}"
                )
            self.sleep(min(POLL_S, left))
        try:
            joined = _wait_for_workers(self.settings, len(workers), max(deadline - self.clock(), 1))
        except ClusterError as exc:
            raise CapacityError(f"capacity window {wid}: {exc}") from exc
        update(conn, wid, state="running", available_at="now", plan={**plan, "joined": joined})
        return plan

    def restore(
        self,
        conn: psycopg.Connection[Any],
        wid: int,
        reconcile: Reconcile,
        reason: str,
        *,
        wait_lock: bool = True,
    ) -> dict[str, Any]:
        """Put the rows back, reconcile until AWS shows it, price the window; never raises.

        One restore at a time per database (session lock ``capacity.restore``, free again when
        its holder dies): a run's own restore waits for it (up to ``capacity_wait_seconds``),
        a sweep (``wait_lock=False``) leaves the window to the holder and says ``busy``. A
        restore that cannot complete leaves the window ``failed`` with the error (the next
        sweep tries again) and returns it under ``error``. ``conn`` is autocommit.
        """
        if get(conn, wid) is None:
            return {"window": wid, "error": "no such window"}
        if not self._lock(conn, wait_lock):
            return {"window": wid, "busy": "another process is restoring a capacity window"}
        try:
            return self._restore(conn, wid, reconcile, reason)
        finally:
            locks.unlock(conn, RESTORE_LOCK)

    def _lock(self, conn: psycopg.Connection[Any], wait: bool) -> bool:
        deadline = self.clock() + (self.settings.capacity_wait_seconds if wait else 0)
        while not locks.try_lock(conn, RESTORE_LOCK):
            if self.clock() >= deadline:
                return False
            self.sleep(POLL_S / 4)
        return True

    def _restore(
        self, conn: psycopg.Connection[Any], wid: int, reconcile: Reconcile, reason: str
    ) -> dict[str, Any]:
        w = get(conn, wid)  # read again under the lock: another may have restored it
        assert w is not None
        if w["state"] == "restored":
            return {"window": wid, "state": "restored", "cost_usd": str(w["cost_usd"])}
        workers, database, during, before = self._target(w)
        try:
            with conn.transaction():
                conn.execute("SELECT set_config('locxia.actor', %s, true)", (label(wid),))
                note = self._put_back(conn, workers, database, during, before)
                update(conn, wid, state="restoring", restoring_at="now", reason=reason)
            waited = self._reconcile_until(conn, wid, reconcile, workers, database, before)
            with conn.transaction():
                conn.execute("SELECT set_config('locxia.actor', %s, true)", (label(wid),))
                conn.execute(
                    "DELETE FROM params.instances WHERE name = ANY(%s) AND state = 'absent'"
                    " AND purpose = 'dask-worker' AND NOT protected",
                    (workers,),
                )
        except (LocxiaError, psycopg.Error) as exc:
            error = " ".join(str(exc).split())[:500]
            update(conn, wid, state="failed", error=error)
            return {"window": wid, "state": "failed", "error": error}
        cost = self._cost(conn, wid)
        update(conn, wid, state="restored", restored_at="now", error=note or None, **cost)
        return {"window": wid, "state": "restored", "waited": waited, **cost}

    def _put_back(
        self,
        conn: psycopg.Connection[Any],
        workers: list[str],
        database: str | None,
        during: str | None,
        before: str | None,
    ) -> str:
        """Mark the window's unprotected worker rows absent; put the class back if still ours.

        Absent, not deleted: shape deletes an instance only when its row says ``absent``
        (guardrail ``delete-not-wanted``); the rows are deleted once AWS shows them gone.
        """
        conn.execute(
            "UPDATE params.instances SET state = 'absent' WHERE name = ANY(%s)"
            " AND purpose = 'dask-worker' AND NOT protected",
            (workers,),
        )
        if not database:
            return ""
        row = conn.execute(
            "UPDATE params.instances SET instance_class = %s"
            " WHERE name = %s AND instance_class = %s RETURNING name",
            (before, database, during),
        ).fetchone()
        if row is None:  # changed by someone since the raise: theirs now, left as it is
            return f"{database}.instance_class changed during the window: left as it is"
        return ""

    def _reconcile_until(
        self,
        conn: psycopg.Connection[Any],
        wid: int,
        reconcile: Reconcile,
        workers: list[str],
        database: str | None,
        before: str | None,
    ) -> float:
        started = self.clock()
        deadline = started + self.settings.capacity_wait_seconds
        while True:
            result = reconcile("capacity-restore", label(wid))
            append_run(conn, wid, "restore_runs", result.details.get("terraform_run"))
            status = result.details.get("status")
            if status in ("held", "rejected"):
                run = result.details.get("terraform_run")
                raise CapacityError(
                    f"capacity window {wid}: restore plan {run} is {status}; the rows are put"
                    f" back: approve it (`locxia infra approve {run}`) or restore again"
                )
            if result.status == "failed" and "another reconcile" not in (result.error or ""):
                raise CapacityError(
                    f"capacity window {wid}: restore reconcile run {result.run_id} failed:"
                    f" {result.error}"
                )
            missing = "reconcile busy"
            if result.status == "success":
                seen = self.observe(self.settings, workers, database)
                missing = restored_missing(seen, workers, database, before)
                if not missing:
                    return round(self.clock() - started, 3)
            if self.clock() >= deadline:
                raise CapacityError(f"capacity window {wid}: not restored in time: {missing}")
            self.sleep(POLL_S)

    def _cost(self, conn: psycopg.Connection[Any], wid: int) -> dict[str, Any]:
        from infra.capacity.cost import window_cost
        from infra.prices import PriceCatalog

        w = get(conn, wid)
        assert w is not None
        workers, database, during, before = self._target(w)
        start = w["available_at"] or _applied_at(conn, list(w["raise_runs"]))
        row = conn.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        seconds = (row[0] - start).total_seconds() if start else 0.0
        engine = None
        if database:
            found = conn.execute(
                "SELECT engine FROM params.instances WHERE name = %s", (database,)
            ).fetchone()
            engine = found[0] if found else None
        cost = window_cost(
            PriceCatalog.load(conn, self.settings.aws_region),
            seconds=seconds,
            workers=workers,
            worker_type=(w["declared"] or {}).get("worker_type"),
            database=database,
            class_before=before,
            class_during=during,
            engine=engine or "postgres",
        )
        # ops.capacity_windows.cost_usd is numeric(14, 8), as ops.runs.cost_usd
        return {"cost_usd": cost.usd.quantize(Decimal("1e-8")), "cost_basis": cost.basis()}


def _applied_at(conn: psycopg.Connection[Any], runs: list[int]) -> datetime | None:
    """When the first applied raise plan ended (the instances exist from then on)."""
    if not runs:
        return None
    row = conn.execute(
        "SELECT min(ended_at) FROM ops.terraform_runs WHERE id = ANY(%s) AND status = 'applied'",
        (runs,),
    ).fetchone()
    return None if row is None else row[0]


def _wait_for_workers(settings: Settings, n: int, timeout_s: float) -> int:
    from infra.cluster import wait_for_workers

    return wait_for_workers(settings, n, timeout_s)
