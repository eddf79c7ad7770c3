"""The ``shape`` plugin: the reconcile job, the drift check, and the tasks the CLI runs.

Two paths start a reconcile: a change to ``params.instances`` wakes it at once (``wake_on``:
the service runs it within a second of the NOTIFY), and a tick every
``LOCXIA_RECONCILE_SECONDS`` (30 s by default) catches what no row change announces — schedule
windows open and close with no row changing at all. A tick costs one SELECT plus a hash when
nothing changed (see :mod:`pipelines.shape.reconcile`). ``params.schedules`` can override
its cadence like any planned job (job id ``shape.reconcile``).

Every tick, whether or not it planned, then runs the power pass (:mod:`pipelines.shape.power`):
a database AWS started again after seven days is stopped within that tick.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Any, TypedDict

import psycopg

from infra.aws import AwsClients
from infra.errors import JobError, LocxiaError, ReconcileBusy
from infra.jobs.model import ArgSchema, JobSpec, PlanContext, Plugin, Task, TaskContext, TriggerSpec
from infra.jobs.runner import utcnow
from infra.settings import Settings
from pipelines.observe.metrics import history
from pipelines.shape import downtime, drift, power, rds, records, sweep
from pipelines.shape.drift import DriftCounts
from pipelines.shape.model import Desired
from pipelines.shape.plan import parse
from pipelines.shape.power import PowerKeeper, PowerReport
from pipelines.shape.reconcile import PostApply, Reconciler, ReconcileResult
from pipelines.shape.sizing import Observed


class TickResult(ReconcileResult, total=False):
    """What the scheduled ``shape.reconcile`` records: the reconcile, then the power pass."""

    power: PowerReport


class DriftResult(TypedDict):
    """What ``shape.drift`` records: the check's terraform run and counts per source."""

    terraform_run: int
    refresh: DriftCounts
    describe: DriftCounts


def after_apply(
    settings: Settings,
    desired: Mapping[str, Desired],
    run_id: int,
    *,
    now: Callable[[], datetime] = utcnow,
) -> PostApply:
    """The power pass for what was just applied (recorded), then describe and record drift.

    Raises:
        AwsError: an AWS call failed (the caller records it; the apply stands).
    """
    from infra.db import connect
    from pipelines.shape.tfvars import render

    wanted = {n: d for n, d in desired.items() if d.state != "absent"}
    applied_at = now()
    with connect(settings.require_database_url(), autocommit=True) as conn:
        report = PowerKeeper(settings, now=now).enforce(conn, power.wanted_of(wanted), run_id)
        if report.get("error"):
            raise LocxiaError(f"power after the apply: {report['error']}")
        expected = render(wanted.values(), settings)["instances"]
        seen = drift.observe(settings, expected)
        record_applied(conn, expected, seen, applied_at)
        findings = drift.describe_findings(settings, expected, seen)
        counts = drift.record(
            conn, findings, checked=expected, source="describe", terraform_run_id=run_id
        )
        versions = rds.record_versions(conn, expected, seen, run_id)
    return PostApply(power=report.get("acted", {}), drift=counts, engine_versions=versions)


def record_applied(
    conn: psycopg.Connection[Any],
    expected: Mapping[str, Mapping[str, Any]],
    seen: Mapping[str, Observed],
    at: datetime,
) -> int:
    """The state and the class/storage each applied instance is in, into the state history.

    Recorded at ``at`` (when the apply returned: AWS had accepted its calls), so that the
    hours after a class or storage change are priced with the new size and AWS's status
    (``modifying``, ``storage-optimization``...) without waiting for discovery. Returns the
    rows written.
    """
    written = 0
    for name, want in sorted(expected.items()):
        obs = seen.get(name)
        if obs is None or obs.status is None:
            continue
        rds_kind = want.get("kind") == "rds"
        changes = {
            "instance_class" if rds_kind else "instance_type": obs.instance_class,
            "storage_gb": obs.storage_gb if rds_kind else None,
            "multi_az": obs.multi_az if rds_kind else None,
        }
        rtype = "rds:db" if rds_kind else "ec2:instance"
        written += history.record_transition(
            conn, rtype, name, at, obs.status, "shape:apply", changes
        )
    return written


@contextmanager
def around_apply(
    settings: Settings,
    changes: Sequence[Mapping[str, Any]],
    desired: Mapping[str, Desired],
    run_id: int,
    *,
    now: Callable[[], datetime] = utcnow,
) -> Iterator[list[str]]:
    """Start the stopped databases the plan modifies and wait until available, then apply.

    Raises:
        AwsError: a start failed or a database did not become available in time.
    """
    from infra.db import connect

    with connect(settings.require_database_url(), autocommit=True) as conn:
        keeper = PowerKeeper(settings, now=now)
        with keeper.awake_for(conn, changes, power.wanted_of(desired), run_id) as started:
            yield started


def describe_rds(settings: Settings, names: list[str]) -> Mapping[str, downtime.RdsStatus]:
    """Status and pending modifications of RDS instances (read role), for the storage cooldown.

    Raises:
        AwsError: DescribeDBInstances failed.
    """
    return downtime.describe_rds(AwsClients(settings).client("rds", role="read"), names)


def _reconciler(ctx: TaskContext) -> Reconciler:
    return Reconciler(
        ctx.settings,
        now=ctx.now,
        after_apply=partial(after_apply, now=ctx.now),
        around_apply=partial(around_apply, now=ctx.now),
        describe_rds=describe_rds,
    )


def reconcile(ctx: TaskContext, force: bool = False, requested_by: str = "scheduler") -> TickResult:
    """Plan and apply what policy allows, hold the rest for approval; then keep power.

    The power pass runs even when the reconcile skipped (inputs unchanged, backing off) or
    failed; its report is in the run's details either way.
    """
    rec = _reconciler(ctx)
    try:
        try:
            outcome = rec.run(
                mode="apply", requested_by=requested_by, job_run_id=ctx.run_id, force=force
            )
        finally:
            ctx.details["power"] = power_pass(ctx, rec)
    finally:
        rec.close()
    return TickResult(**outcome.as_dict(), power=ctx.details["power"])


def power_pass(ctx: TaskContext, rec: Reconciler) -> PowerReport:
    """The power pass under the shape lock (skipped, and said so, while another holds it)."""
    try:
        with rec.locked() as conn:
            return PowerKeeper(ctx.settings, now=ctx.now).tick(conn)
    except ReconcileBusy as exc:
        return PowerReport(error=f"skipped: {exc}")


def plan(ctx: TaskContext, requested_by: str = "cli") -> ReconcileResult:
    """Plan and decide, never apply (``locxia infra plan``)."""
    rec = _reconciler(ctx)
    try:
        return rec.run(mode="plan", requested_by=requested_by, job_run_id=ctx.run_id).as_dict()
    finally:
        rec.close()


def approve(ctx: TaskContext, run: int) -> ReconcileResult:
    """Apply held run ``run`` if the database recorded its approval (``locxia infra approve``).

    It takes no "who": an approval is recorded only by ``ops.approve_plan`` for the login that
    ran it (:mod:`pipelines.shape.approval`), so arguments cannot approve anything; a run
    without a recorded approval fails with :class:`~infra.errors.ApprovalRefused`.
    """
    rec = _reconciler(ctx)
    try:
        return rec.approve(run).as_dict()
    finally:
        rec.close()


def check_drift(ctx: TaskContext, requested_by: str = "scheduler") -> DriftResult:
    """``plan -refresh-only`` and describe every instance of the last apply; record findings.

    Raises:
        ReconcileBusy: a reconcile is running (the next tick tries again).
    """
    rec = _reconciler(ctx)
    try:
        with rec.locked() as conn:
            expected = (records.last_applied_inputs(conn) or {}).get("instances", {})
            run_id = records.create(
                conn,
                purpose="drift",
                requested_by=requested_by,
                inputs_hash="-",
                inputs={"instances": expected},
                job_run_id=ctx.run_id,
            )
            try:
                planfile = rec.planfile_for(run_id)
                rec.ensure_init()
                rec.tf.plan(planfile, refresh_only=True)
                refreshed = drift.refresh_findings(parse(rec.tf.show_json(planfile)))
                planfile.unlink(missing_ok=True)
                described = drift.describe_findings(ctx.settings, expected)
            except LocxiaError as exc:
                records.update(conn, run_id, status="failed", error=str(exc), ended_at="now")
                raise
            counts = {
                "refresh": drift.record(
                    conn, refreshed, checked=expected, source="refresh", terraform_run_id=run_id
                ),
                "describe": drift.record(
                    conn, described, checked=expected, source="describe", terraform_run_id=run_id
                ),
            }
            records.update(
                conn,
                run_id,
                status="planned",
                plan_summary=counts,
                decided_at="now",
                ended_at="now",
            )
    finally:
        rec.close()
    return DriftResult(terraform_run=run_id, refresh=counts["refresh"], describe=counts["describe"])


def provide(ctx: PlanContext) -> Iterable[JobSpec]:
    """Reconcile and drift jobs, when ``params.instances`` has rows.

    Raises:
        JobError: rows exist but ``LOCXIA_TERRAFORM_DIR`` is not set (reported by the service).
    """
    row = ctx.conn.execute("SELECT count(*) FROM params.instances").fetchone()
    ctx.conn.rollback()
    if not row or not row[0]:
        return
    if ctx.settings.terraform_dir is None:
        raise JobError("params.instances has rows but LOCXIA_TERRAFORM_DIR is not set")
    yield JobSpec(
        "shape.reconcile",
        "shape.reconcile",
        TriggerSpec.every(ctx.settings.reconcile_seconds),
        owner="shape",
        description="plan params.instances; apply within policy, hold the rest",
        wake_on=("instances",),
    )
    yield JobSpec(
        "shape.drift",
        "shape.drift",
        TriggerSpec.every(ctx.settings.drift_check_seconds),
        owner="shape",
        description="refresh-only plan + describe; record drift",
    )


plugin = Plugin(
    name="shape",
    tasks=(
        # Reconcile and drift may be re-timed, without arguments: ``force`` and
        # ``requested_by`` are for people at the CLI. ``shape.approve`` applies what the
        # guardrails held and ``shape.plan`` is a CLI verb: neither is ever schedulable.
        Task(
            "shape.reconcile",
            "pipelines.shape.jobs:reconcile",
            "plan and apply within policy",
            schedulable=ArgSchema(),
        ),
        Task("shape.plan", "pipelines.shape.jobs:plan", "plan and decide, never apply"),
        Task("shape.approve", "pipelines.shape.jobs:approve", "apply an approved held plan"),
        Task(
            "shape.drift",
            "pipelines.shape.jobs:check_drift",
            "record drift",
            schedulable=ArgSchema(),
        ),
    ),
    provide=provide,
    sweep=sweep.sweep,
)
