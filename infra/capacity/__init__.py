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
   (:mod:`infra.capacity.cost`). Restoring twice is harmless: every step reads the ledger and
   the rows as they are.

The core never imports the shape feature: it edits a table and runs a registered task by
name. A window whose run is no longer ``running`` and which is not ``restored`` (its service
was killed, its restore failed) is restored by :func:`sweep`, which the Runner calls with the
orphan sweep: on service start, while leading, and before every CLI task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg

from infra.capacity.aws import Seen, observe, raised_missing, restored_missing
from infra.capacity.declare import (
    RECONCILE_TASK,
    Declaration,
    Reconcile,
    declared,
    label,
    worker_names,
)
from infra.capacity.ledger import as_json, get, listing, update
from infra.capacity.windows import Windows
from infra.settings import Settings

__all__ = [
    "RECONCILE_TASK",
    "Declaration",
    "Reconcile",
    "Seen",
    "Windows",
    "around_run",
    "as_json",
    "declared",
    "get",
    "label",
    "listing",
    "observe",
    "raised_missing",
    "restored_missing",
    "sweep",
    "worker_names",
]


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

    ``details`` (the run's) gets ``capacity``: the window, the plan the raise showed, how long
    the raise took (``raised_s``), then what the restore returns (state, ``waited``,
    ``cost_usd``). ``conn`` is the Runner's autocommit record connection. The reconcile task
    itself, and a run inside a run that holds a window, open none. The restore runs when the
    block ends, raises or the raise fails (its :class:`CapacityError` then reaches the run); a
    signal (``KeyboardInterrupt``, ``SystemExit``) leaves it to the next sweep, which finds the
    run ``interrupted``.
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
        started = windows.clock()
        info["plan"] = windows.raise_capacity(conn, wid, reconcile)
        info["raised_s"] = round(windows.clock() - started, 3)
        yield wid
    except Exception as exc:
        reason = f"the run failed: {' '.join(str(exc).split())[:300]}"
        raise
    except BaseException:
        reason = None  # a signal: the service is stopping; the next sweep restores
        update(conn, wid, reason="the run was interrupted; restored by the next sweep")
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
    error become the window's reason. Returns counts of windows restored, still failing, and
    left because another process was restoring one (``busy``).
    """
    rows = conn.execute(
        "SELECT w.id, r.status, r.error FROM ops.capacity_windows w"
        " JOIN ops.runs r ON r.id = w.run_id"
        " WHERE w.state <> 'restored' AND r.status <> 'running' ORDER BY w.id"
    ).fetchall()
    windows = windows or Windows(settings, now=now)
    counts = {"restored": 0, "failed": 0, "busy": 0}
    for wid, status, error in rows:
        why = f"run {status}" + (f": {' '.join(str(error).split())[:200]}" if error else "")
        out = windows.restore(
            conn, int(wid), reconcile_for(int(wid)), f"swept: {why}", wait_lock=False
        )
        if out.get("busy"):  # another process restores now; the next sweep looks again
            counts["busy"] += 1
            continue
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
