"""The shape plugin's sweep: Terraform runs left ``planning`` or ``applying`` by a killed process.

A reconcile killed mid-apply leaves its ``ops.terraform_runs`` row ``applying`` although
Terraform may well have finished (the core runs in a worker process that can outlive its
parent). Once no process can still be working on it, the row is settled from what Terraform
recorded, never by running anything again:

* the run's job run (``job_run_id``) is not ``running`` any more — the core sweep has just
  marked dead processes' runs ``interrupted`` — **and** the shape lock is free: every
  reconcile, approval and drift check holds it, and the server releases it when its process
  dies. The lock is held while settling, so no reconcile starts meanwhile;
* ``planning`` → ``failed``: nothing was applied (a plan changes nothing);
* ``applying`` → ``applied`` when Terraform's state shows every planned change (each
  instance's class and storage as the run's ``changes`` say after, deleted ones gone), with a
  note that it was reconciled after an interruption; else ``failed`` naming the first change
  the state does not show. A power change (RDS stop/start) is done through the API after
  apply and is not in the state, so a run with one is ``failed``: the next reconcile plans
  again and redoes it (``failed`` is not conclusive, see ``records.last_conclusive``).

When the state cannot be read (no root module configured, Terraform fails) the row is left
as it is and counted ``unresolved``: a later sweep decides, nothing is guessed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

from infra.errors import LocxiaError
from infra.jobs.model import SweepContext
from pipelines.shape import ec2, rds, records
from pipelines.shape.plan import ADAPTERS, PRIMARY_NAME
from pipelines.shape.reconcile import (
    PLAN_DIR,
    release_shape_lock,
    terraform_dir,
    try_shape_lock,
)
from pipelines.shape.runner import EmbeddedTerraform, Terraform, backend_for

log = logging.getLogger(__name__)

_MODULE = re.compile(r'^module\.(rds|ec2)\["([^"]+)"\]$')
_OPEN = (
    "SELECT t.id, t.status, t.changes FROM ops.terraform_runs t"
    " LEFT JOIN ops.runs r ON r.id = t.job_run_id"
    " WHERE t.status IN ('planning', 'applying') AND r.status IS DISTINCT FROM 'running'"
    " ORDER BY t.id"
)
NOTE = "reconciled after an interruption"


def sweep(ctx: SweepContext) -> dict[str, int]:
    """Settle Terraform runs no live process is working on (see the module docstring).

    Returns:
        ``{"terraform_runs_applied": n, "terraform_runs_failed": n, "unresolved": n}``;
        empty when there was nothing to settle (one query on a partial index).
    """
    conn = ctx.conn
    if not conn.execute(_OPEN).fetchall():
        return {}
    if not try_shape_lock(conn):
        return {}  # a reconcile or drift check is running: its own process ends its rows
    try:
        rows = conn.execute(_OPEN).fetchall()  # again, under the lock
        counts = {"terraform_runs_applied": 0, "terraform_runs_failed": 0, "unresolved": 0}
        state: dict[str, dict[str, Any]] | None = None
        for run_id, status, changes in rows:
            if status == "planning":
                _fail(ctx, run_id, "interrupted while planning; nothing was applied")
                counts["terraform_runs_failed"] += 1
                continue
            if state is None:
                try:
                    state = instances_in_state(ctx)
                except LocxiaError as exc:
                    log.error("terraform run %s left applying: state unreadable: %s", run_id, exc)
                    counts["unresolved"] += len([r for r in rows if r[1] == "applying"])
                    break
            missing = first_missing(changes or [], state)
            if missing is None:
                records.update(
                    conn,
                    run_id,
                    status="applied",
                    apply_log=f"{NOTE}: the process applying it was killed; Terraform's state"
                    " shows every planned change",
                    error=f"{NOTE}: the state shows every planned change; the post-apply"
                    " steps (power, drift) did not run",
                    ended_at="now",
                    plan_file=None,
                )
                counts["terraform_runs_applied"] += 1
            else:
                _fail(ctx, run_id, f"interrupted while applying; {missing}")
                counts["terraform_runs_failed"] += 1
            _remove_planfile(ctx, run_id)
        return counts
    finally:
        release_shape_lock(conn)


def _fail(ctx: SweepContext, run_id: int, why: str) -> None:
    records.update(
        ctx.conn,
        run_id,
        status="failed",
        error=f"{why} ({NOTE}; the next reconcile plans again)",
        ended_at="now",
        plan_file=None,
    )
    log.warning("terraform run %s: %s", run_id, why)


def _remove_planfile(ctx: SweepContext, run_id: int) -> None:
    if ctx.settings.terraform_dir is not None:
        (ctx.settings.terraform_dir / PLAN_DIR / f"run-{run_id}.tfplan").unlink(missing_ok=True)


def instances_in_state(ctx: SweepContext) -> dict[str, dict[str, Any]]:
    """Each instance in Terraform's state → ``{"instance_class", "storage_gb"}``.

    Raises:
        ConfigError: ``LOCXIA_TERRAFORM_DIR`` is not set.
        TerraformError: ``terraform show`` failed.
    """
    backend = backend_for(ctx.settings)
    try:
        doc = Terraform(ctx.settings, terraform_dir(ctx.settings), backend).state_json()
    finally:
        if isinstance(backend, EmbeddedTerraform):
            backend.close()
    root = (doc.get("values") or {}).get("root_module") or {}
    out: dict[str, dict[str, Any]] = {}
    for module in _modules(root):
        match = _MODULE.match(str(module.get("address", "")))
        if not match:
            continue
        kind, name = match.groups()
        for resource in module.get("resources") or []:
            adapter = ADAPTERS.get(str(resource.get("type")))
            if resource.get("name") != PRIMARY_NAME or adapter is None:
                continue
            attrs = adapter.attributes(resource.get("values") or {})
            size = rds.sizing(attrs) if kind == "rds" else ec2.sizing(attrs)
            out[name] = {"instance_class": size.instance_class, "storage_gb": size.storage_gb}
    return out


def _modules(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield module
    for child in module.get("child_modules") or []:
        yield from _modules(child)


def first_missing(
    changes: list[Mapping[str, Any]], state: Mapping[str, Mapping[str, Any]]
) -> str | None:
    """Why the state does not show ``changes`` (the first change it lacks), or None if it does."""
    for change in changes:
        name = str(change.get("instance"))
        before, after = change.get("before"), change.get("after")
        was = (before or {}).get("state", "present")
        will = after.get("state", "present") if after else was
        if change.get("action") == "power" or was != will:
            return f"{name}: a power change is not recorded in the state"
        found = state.get(name)
        if after is None:
            if found is not None:
                return f"{name}: still in the state, its deletion did not happen"
            continue
        if found is None:
            return f"{name}: not in the state"
        for key in ("instance_class", "storage_gb"):
            if found.get(key) != after.get(key):
                return f"{name}: {key} is {found.get(key)} in the state, {after.get(key)} planned"
    return None
