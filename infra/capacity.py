"""Capacity windows: the capacity a run declares, raised before it and restored after.

A job declares in ``params.run_capacity`` (migration 0075) the capacity its runs need: N Dask
workers of an EC2 type, and/or a class for an RDS row of ``params.instances`` for the
duration. The Runner wraps such a run in a window (decision 88):

1. **open**: in one transaction, record the window in ``ops.capacity_windows`` and edit
   ``params.instances`` as a person would — insert the worker rows (kind ``ec2``, purpose
   ``dask-worker``, names ``cap<window>-w<k>``, never protected), set the database's class
   and keep the class found — audited with ``changed_by = capacity-window:<id>``. Ledger and
   rows commit together, so a crash never leaves rows the ledger does not know.
2. **raise**: run the registered reconcile task (``shape.reconcile``) through the Runner, the
   path every edit takes: plan, guardrails, cost delta, apply, or hold above the approval
   limit (the window is then ``held`` and waits for an approval). Wait until AWS shows the
   workers running and the database available in its new class, then until the Dask
   scheduler has the workers (:func:`infra.cluster.wait_for_workers`), all within
   ``LOCXIA_CAPACITY_WAIT_SECONDS``; else the run fails with :class:`CapacityError`.
3. **run** the task.
4. **restore** — also when the run or the raise failed: mark the rows the window inserted
   ``absent`` (only those, only unprotected dask-worker rows: shape deletes an instance only
   when its row says so), put back the class it changed (only if nobody changed it since),
   reconcile, wait until AWS shows the workers gone, delete their rows, price the window
   (:mod:`infra.capacitycost`). Restoring twice is harmless: every step reads the ledger and
   the rows as they are.

The core never imports the shape feature: it edits a table and runs a registered task by
name. A window whose run is no longer ``running`` and which is not ``restored`` (its service
was killed, its restore failed) is restored by :func:`sweep`, which the Runner calls with the
orphan sweep: on service start, while leading, and before every CLI task.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from infra.errors import AwsError, CapacityError, ClusterError, LocxiaError
from infra.jobs.model import RunResult
from infra.settings import Settings

#: The reconcile task of the installed plugins that applies ``params.instances``.
RECONCILE_TASK = "shape.reconcile"
#: Seconds between two looks at the plan and at AWS while raising or restoring.
POLL_S = 2.0
#: Reconcile statuses (``ops.terraform_runs.status``) after which AWS is worth describing.
SETTLED = frozenset({"applied", "no_changes"})

#: Runs the reconcile task as a recorded run: ``reconcile(step, requested_by)``.
Reconcile = Callable[[str, str], RunResult]


@dataclass(frozen=True)
class Declaration:
    """One ``params.run_capacity`` row: what a matching job's runs need."""

    job: str
    dask_workers: int = 0
    worker_type: str | None = None
    worker_storage_gb: int = 20
    database: str | None = None
    database_class: str | None = None

    @property
    def declared_by(self) -> str:
        """Where it came from, for records and messages."""
        return f"params.run_capacity[{self.job}]"


def _score(pattern: str, job_id: str) -> int:
    """Longest match wins, an exact id beats every prefix (as ``params.job_compute``)."""
    if pattern.endswith("*"):
        return len(pattern) if job_id.startswith(pattern[:-1]) else -1
    return 1_000 if job_id == pattern else -1


def declared(conn: psycopg.Connection[Any], job_id: str) -> Declaration | None:
    """The capacity ``job_id`` declares (the best matching row), or None."""
    rows = conn.execute(
        "SELECT job, dask_workers, worker_type, worker_storage_gb, database, database_class"
        " FROM params.run_capacity"
    ).fetchall()
    ranked = sorted(((_score(str(r[0]), job_id), r) for r in rows), key=lambda x: -x[0])
    if not ranked or ranked[0][0] < 0:
        return None
    return Declaration(*ranked[0][1])


def worker_names(window_id: int, n: int) -> list[str]:
    """Deterministic names of a window's workers (valid ``params.instances`` names)."""
    return [f"cap{window_id}-w{k}" for k in range(1, n + 1)]


def label(window_id: int) -> str:
    """Who the window is in ``params.history.changed_by`` and ``requested_by``."""
    return f"capacity-window:{window_id}"


# --- what AWS shows -------------------------------------------------------------------------
@dataclass(frozen=True)
class Seen:
    """Workers by Name with their EC2 state; the database's status and class (None: absent)."""

    workers: Mapping[str, str]
    db_status: str | None = None
    db_class: str | None = None


def observe(settings: Settings, workers: list[str], database: str | None) -> Seen:
    """Describe the window's instances with the read role (terminated ones are left out).

    Raises:
        AwsError: a describe failed.
    """
    from infra.aws import AwsClients, aws_errors

    aws = AwsClients(settings)
    states: dict[str, str] = {}
    if workers:
        ec2 = aws.client("ec2", role="read")
        with aws_errors("ec2", "DescribeInstances"):
            pages = ec2.get_paginator("describe_instances").paginate(
                Filters=[
                    {"Name": f"tag:{settings.tag_key}", "Values": [settings.tag_value]},
                    {"Name": "tag:Name", "Values": workers},
                ]
            )
            for page in pages:
                for res in page["Reservations"]:
                    for inst in res["Instances"]:
                        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                        state = inst["State"]["Name"]
                        if state != "terminated":
                            states[tags.get("Name", "")] = state
    if not database:
        return Seen(states)
    rds = aws.client("rds", role="read")
    try:
        with aws_errors("rds", "DescribeDBInstances"):
            found = rds.describe_db_instances(DBInstanceIdentifier=database)["DBInstances"]
    except AwsError as exc:
        if "NotFound" not in exc.code:
            raise
        found = []
    if not found:
        return Seen(states)
    return Seen(states, found[0].get("DBInstanceStatus"), found[0].get("DBInstanceClass"))


Observe = Callable[[Settings, list[str], str | None], Seen]


def raised_missing(seen: Seen, workers: list[str], database: str | None, cls: str | None) -> str:
    """What is not yet there for a raise ('' when everything is)."""
    waiting = [n for n in workers if seen.workers.get(n) != "running"]
    parts = [f"workers not running: {', '.join(waiting)}"] if waiting else []
    if database and (seen.db_status != "available" or seen.db_class != cls):
        parts.append(f"database {database} is {seen.db_status} as {seen.db_class}, wants {cls}")
    return "; ".join(parts)


def restored_missing(seen: Seen, workers: list[str], database: str | None, cls: str | None) -> str:
    """What is not yet back for a restore ('' when everything is)."""
    left = [n for n in workers if n in seen.workers]
    parts = [f"workers still there: {', '.join(left)}"] if left else []
    if database and cls and seen.db_class not in (None, cls):
        parts.append(f"database {database} is {seen.db_class}, was {cls}")
    return "; ".join(parts)


# --- the ledger -------------------------------------------------------------------------------
_COLUMNS = (
    "id, run_id, job_id, declared_by, declared, state, added, previous, raise_runs,"
    " restore_runs, plan, opened_at, available_at, restoring_at, restored_at, reason, error,"
    " cost_usd, cost_basis"
)


def get(conn: psycopg.Connection[Any], window_id: int) -> dict[str, Any] | None:
    """One window as a dict, or None."""
    cur = conn.execute(f"SELECT {_COLUMNS} FROM ops.capacity_windows WHERE id = %s", (window_id,))
    row = cur.fetchone()
    names = [c.name for c in cur.description or []]
    return None if row is None else dict(zip(names, row, strict=True))


def listing(conn: psycopg.Connection[Any], limit: int = 50) -> list[dict[str, Any]]:
    """The newest windows, newest first."""
    cur = conn.execute(
        f"SELECT {_COLUMNS} FROM ops.capacity_windows ORDER BY id DESC LIMIT %s", (limit,)
    )
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _set(conn: psycopg.Connection[Any], window_id: int, **values: Any) -> None:
    from psycopg import sql

    cols = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(
            sql.Identifier(k),
            sql.SQL("clock_timestamp()") if v == "now" else sql.Placeholder(k),
        )
        for k, v in values.items()
    )
    params = {k: Jsonb(v) if isinstance(v, dict | list) else v for k, v in values.items()}
    conn.execute(
        sql.SQL("UPDATE ops.capacity_windows SET {} WHERE id = {}").format(
            cols, sql.Literal(window_id)
        ),
        params,
    )


def _append_run(conn: psycopg.Connection[Any], window_id: int, column: str, run: Any) -> None:
    if not isinstance(run, int):
        return
    from psycopg import sql

    conn.execute(
        sql.SQL(
            "UPDATE ops.capacity_windows SET {col} = array_append({col}, %s)"
            " WHERE id = %s AND NOT (%s = ANY({col}))"
        ).format(col=sql.Identifier(column)),
        (run, window_id, run),
    )


def _plan_of(conn: psycopg.Connection[Any], names: list[str], since: datetime) -> dict[str, Any]:
    """The newest reconcile since ``since`` that changes one of ``names``: what it showed."""
    row = conn.execute(
        "SELECT id, status, changes, monthly_cost_before, monthly_cost_after, reasons"
        " FROM ops.terraform_runs WHERE purpose = 'reconcile' AND started_at >= %s"
        " AND EXISTS (SELECT FROM jsonb_array_elements(changes) c"
        "             WHERE c ->> 'instance' = ANY(%s) AND c ->> 'action' <> 'no-op')"
        " ORDER BY id DESC LIMIT 1",
        (since, names),
    ).fetchone()
    if row is None:
        return {}
    before, after = row[3], row[4]
    return {
        "terraform_run": int(row[0]),
        "status": row[1],
        "changes": [c for c in row[2] or [] if c.get("instance") in names],
        "monthly_before": None if before is None else str(before),
        "monthly_after": None if after is None else str(after),
        "monthly_delta": None if before is None or after is None else str(after - before),
        "reasons": [r.get("message") for r in row[5] or []],
    }


# --- the lifecycle ----------------------------------------------------------------------------
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
                _set(conn, wid, added=added, previous=previous)
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
                " VALUES (%s, 'ec2', 'present', %s, %s, 'dask-worker', false, %s, %s)"
                " ON CONFLICT (name) DO NOTHING",
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
        while True:
            result = reconcile("capacity-raise", label(wid))
            _append_run(conn, wid, "raise_runs", result.details.get("terraform_run"))
            plan = _plan_of(conn, names, w["opened_at"]) or plan
            status = plan.get("status") or result.details.get("status")
            if status == "rejected":
                raise CapacityError(
                    f"capacity window {wid}: plan {plan.get('terraform_run')} refused by the"
                    f" guardrails: {'; '.join(plan.get('reasons') or []) or 'see the run'}"
                )
            if result.status == "failed" and "another reconcile" not in (result.error or ""):
                raise CapacityError(
                    f"capacity window {wid}: reconcile run {result.run_id} failed: {result.error}"
                )
            if status == "held":
                _set(conn, wid, state="held", plan=plan)
            elif status in SETTLED or result.details.get("skipped"):
                missing = raised_missing(
                    self.observe(self.settings, workers, database), workers, database, during
                )
                if not missing:
                    break
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
        _set(conn, wid, state="running", available_at="now", plan={**plan, "joined": joined})
        return plan

    def restore(
        self, conn: psycopg.Connection[Any], wid: int, reconcile: Reconcile, reason: str
    ) -> dict[str, Any]:
        """Put the rows back, reconcile until AWS shows it, price the window; never raises.

        A restore that cannot complete leaves the window ``failed`` with the error (the next
        sweep tries again) and returns it under ``error``.
        """
        w = get(conn, wid)
        if w is None:
            return {"window": wid, "error": "no such window"}
        if w["state"] == "restored":
            return {"window": wid, "state": "restored", "cost_usd": str(w["cost_usd"])}
        workers, database, during, before = self._target(w)
        try:
            with conn.transaction():
                conn.execute("SELECT set_config('locxia.actor', %s, true)", (label(wid),))
                note = self._put_back(conn, workers, database, during, before)
                _set(conn, wid, state="restoring", restoring_at="now", reason=reason)
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
            _set(conn, wid, state="failed", error=error)
            return {"window": wid, "state": "failed", "error": error}
        cost = self._cost(conn, wid)
        _set(conn, wid, state="restored", restored_at="now", error=note or None, **cost)
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
            _append_run(conn, wid, "restore_runs", result.details.get("terraform_run"))
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
        from infra.capacitycost import window_cost
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


# --- around a run, and after a crash --------------------------------------------------------
def _inside_window(conn: psycopg.Connection[Any], parent_id: int) -> bool:
    """Whether an ancestor run of ``parent_id`` (or itself) holds an open window."""
    row = conn.execute(
        "WITH RECURSIVE up(id, parent_id) AS ("
        "   SELECT id, parent_id FROM ops.runs WHERE id = %s"
        "   UNION SELECT r.id, r.parent_id FROM ops.runs r JOIN up ON r.id = up.parent_id)"
        " SELECT EXISTS (SELECT FROM ops.capacity_windows w JOIN up ON w.run_id = up.id"
        "                 WHERE w.state <> 'restored')",
        (parent_id,),
    ).fetchone()
    return bool(row and row[0])


@contextmanager
def around_run(
    settings: Settings,
    conn: psycopg.Connection[Any],
    *,
    run_id: int,
    job_id: str,
    task: str,
    parent_id: int | None,
    reconcile: Reconcile,
    details: MutableMapping[str, Any],
    now: Callable[[], datetime],
    windows: Windows | None = None,
) -> Iterator[int | None]:
    """Hold the capacity ``job_id`` declares around the block; yields the window id or None.

    ``conn`` is the Runner's autocommit record connection. The reconcile task itself, and a
    run inside a run that holds a window, open none. The restore runs when the block ends,
    raises or the raise fails (its :class:`CapacityError` then reaches the run); a signal
    (``KeyboardInterrupt``, ``SystemExit``) leaves it to the next sweep, which finds the run
    ``interrupted``.
    """
    decl = None if task == RECONCILE_TASK else declared(conn, job_id)
    if decl is None or (parent_id is not None and _inside_window(conn, parent_id)):
        yield None
        return
    windows = windows or Windows(settings, now=now)
    wid = windows.open(conn, run_id, job_id, decl)
    info: dict[str, Any] = {"window": wid, "declared_by": decl.declared_by}
    details["capacity"] = info
    reason: str | None = "the run ended"
    try:
        info["plan"] = windows.raise_capacity(conn, wid, reconcile)
        yield wid
    except Exception as exc:
        reason = f"the run failed: {' '.join(str(exc).split())[:300]}"
        raise
    except BaseException:
        reason = None  # a signal: the service is stopping; the next sweep restores
        _set(conn, wid, reason="the run was interrupted; restored by the next sweep")
        raise
    finally:
        if reason is not None:
            info.update(windows.restore(conn, wid, reconcile, reason))
            info.pop("cost_basis", None)
            if "cost_usd" in info:
                info["cost_usd"] = str(info["cost_usd"])


def sweep(
    conn: psycopg.Connection[Any],
    settings: Settings,
    reconcile_for: Callable[[int], Reconcile],
    *,
    now: Callable[[], datetime],
    windows: Windows | None = None,
) -> dict[str, int]:
    """Restore every window not ``restored`` whose run is no longer running.

    Runs after the orphan sweep has marked killed runs ``interrupted``; the run's status and
    error become the window's reason. Returns counts of windows restored and still failing.
    """
    rows = conn.execute(
        "SELECT w.id, r.status, r.error FROM ops.capacity_windows w"
        " JOIN ops.runs r ON r.id = w.run_id"
        " WHERE w.state <> 'restored' AND r.status <> 'running' ORDER BY w.id"
    ).fetchall()
    windows = windows or Windows(settings, now=now)
    counts = {"restored": 0, "failed": 0}
    for wid, status, error in rows:
        why = f"run {status}" + (f": {' '.join(str(error).split())[:200]}" if error else "")
        out = windows.restore(conn, int(wid), reconcile_for(int(wid)), f"swept: {why}")
        restored = out.get("state") == "restored"
        if restored:
            _charge_run(conn, int(wid))
        counts["restored" if restored else "failed"] += 1
    return counts


def _charge_run(conn: psycopg.Connection[Any], wid: int) -> None:
    """Add a swept window's cost to its run, which ended (or was marked) before it was priced.

    Once: a run whose basis names the window already is left as it is.
    """
    conn.execute(
        "UPDATE ops.runs r SET cost_usd = coalesce(r.cost_usd, 0) + w.cost_usd,"
        " cost_basis = coalesce(r.cost_basis, '{}'::jsonb) || jsonb_build_object('capacity',"
        "   w.cost_basis || jsonb_build_object('window', w.id, 'usd', w.cost_usd::text,"
        "                                      'state', w.state, 'swept', true))"
        " FROM ops.capacity_windows w"
        " WHERE w.id = %s AND r.id = w.run_id AND w.cost_usd IS NOT NULL"
        " AND (r.cost_basis -> 'capacity' ->> 'window') IS DISTINCT FROM w.id::text",
        (wid,),
    )


def as_json(window: Mapping[str, Any]) -> dict[str, Any]:
    """A ledger row as JSON-ready values (decimals and times as strings)."""
    out: dict[str, Any] = json.loads(json.dumps(dict(window), default=_default))
    return out


def _default(obj: object) -> object:
    if isinstance(obj, Decimal | datetime):
        return str(obj)
    raise TypeError(type(obj).__name__)
