"""Timed holds: changes that cause downtime wait for their window; storage waits for AWS.

Two guardrails whose verdict depends on *when* (both level ``approve``, both re-checked on
every tick so a run they hold is applied once they clear — see :func:`cleared`):

* ``downtime`` — an update that takes the instance down: RDS ``instance_class`` (an outage
  while the class changes; on Multi-AZ a failover), ``storage_type`` (a brief outage for some
  type pairs) and ``multi_az`` (a standby built from a snapshot, with a performance impact),
  per the "Downtime notes" column of the RDS User Guide, "Settings for DB instances"
  (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ModifyInstance.Settings.html);
  EC2 ``instance_type`` (the instance must be stopped to change type: EC2 User Guide, "Change
  the instance type", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-resize.html).
  Held unless now is inside the row's ``maintenance_window`` or the class change is the row's
  own schedule (a schedule window opening or closing is, by definition, its time). Approving
  the run applies it at once (decision 60).
* ``storage-cooldown`` — RDS refuses a storage modification while the instance is in
  ``storage-optimization`` or within six hours of the previous one, whichever is longer (RDS
  User Guide, "Settings for DB instances", Allocated storage: "You can't modify allocated
  storage if the DB instance status is storage-optimization. You also can't modify allocated
  storage for a DB instance if it's been modified in the last six hours"). Held until both have
  passed; approving cannot shorten it (AWS would refuse the call).

Locxia applies every change it applies with ``apply_immediately = true``: AWS's own deferral
to its maintenance window is invisible to Terraform (the provider reads the old value back and
plans the change again on every run), so the orchestrator does the waiting itself and the run
says when it happened (decision 60).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg

from infra.aws import aws_errors
from pipelines.shape.guardrails import Finding
from pipelines.shape.model import Desired
from pipelines.shape.plan import Plan, ResourceChange

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

#: Attributes whose change takes the instance down (see the module docstring for sources).
DOWNTIME_ATTRIBUTES = {
    "rds": ("instance_class", "multi_az", "storage_type"),
    "ec2": ("instance_type",),
}
#: ``aws_db_instance`` attributes a storage modification changes.
STORAGE_ATTRIBUTES = ("allocated_storage", "storage_type", "iops", "storage_throughput")
#: The same in ``PendingModifiedValues`` of DescribeDBInstances.
PENDING_STORAGE = frozenset({"AllocatedStorage", "StorageType", "Iops", "StorageThroughput"})
STORAGE_COOLDOWN = timedelta(hours=6)  # RDS: no storage modification within 6 h of the last
OPTIMIZING = "storage-optimization"
TIMED_RULES = frozenset({"downtime", "storage-cooldown"})


@dataclass(frozen=True)
class RdsStatus:
    """What DescribeDBInstances says about an instance's storage: status and pending keys."""

    status: str
    pending: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Timing:
    """What the timed rules read besides the plan.

    Attributes:
        now: the (injected) clock.
        last_storage_change: per instance, when Locxia last applied a storage change.
        rds: per RDS instance whose storage the plan changes, its described status.
    """

    now: datetime
    last_storage_change: Mapping[str, datetime]
    rds: Mapping[str, RdsStatus]


def _changed(change: ResourceChange, names: Iterable[str]) -> list[tuple[str, Any, Any]]:
    before = change.attributes("before") or {}
    after = change.attributes("after") or {}
    return [(n, before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n)]


def _scheduled(want: Desired, before: Any, after: Any) -> bool:
    """A class change the row's own schedule makes: a window opening, or closing."""
    spec = want.spec
    windowed = {w.instance_class for w in spec.schedule if w.instance_class}
    opening = want.window is not None and after == want.instance_class
    closing = want.window is None and after == spec.instance_class and before in windowed
    return opening or closing


def downtime(change: ResourceChange, want: Desired | None, now: datetime) -> Finding | None:
    """Hold an update that causes downtime outside the row's maintenance window.

    Returns:
        None when the change causes no downtime, now is inside the maintenance window, or the
        only downtime is a class change of the row's own schedule.
    """
    if change.action != "update" or change.kind is None or want is None:
        return None
    moves = _changed(change, DOWNTIME_ATTRIBUTES[change.kind])
    sizes = ("instance_class", "instance_type")
    moves = [m for m in moves if not (m[0] in sizes and _scheduled(want, m[1], m[2]))]
    window = want.spec.maintenance_window
    if not moves or (window is not None and window.covers(now)):
        return None
    what = ", ".join(f"{n} {b} → {a}" for n, b, a in moves)
    if window is None:
        until = "no maintenance_window is set: held until approved (applies at once)"
    else:
        opens = window.next_open(now)
        until = (
            f"held until the maintenance window {window.text} UTC opens"
            f" ({opens:%Y-%m-%d %H:%M} UTC), or approve it to apply at once"
        )
    return Finding(
        "downtime",
        "approve",
        f"{change.instance}: {what} causes downtime; {until}",
        change.instance,
        change.address,
    )


def storage_cooldown(change: ResourceChange, timing: Timing) -> Finding | None:
    """Hold an RDS storage change AWS would refuse now (optimization running, or < 6 h)."""
    if change.kind != "rds" or change.action != "update" or change.instance is None:
        return None
    if not _changed(change, STORAGE_ATTRIBUTES):
        return None
    why = cooldown_reason(change.instance, timing)
    if why is None:
        return None
    return Finding(
        "storage-cooldown",
        "approve",
        f"{change.instance}: storage change held: {why}",
        change.instance,
        change.address,
    )


def cooldown_reason(name: str, timing: Timing) -> str | None:
    """Why RDS would refuse a storage modification of ``name`` now, or None."""
    status = timing.rds.get(name)
    if status is not None and status.status == OPTIMIZING:
        return (
            "the previous storage change is still being optimized (status"
            " storage-optimization); AWS allows the next one when it completes"
        )
    if status is not None and status.pending & PENDING_STORAGE:
        pending = ", ".join(sorted(status.pending & PENDING_STORAGE))
        return f"a storage modification is still pending on AWS ({pending})"
    last = timing.last_storage_change.get(name)
    if last is not None and timing.now < last + STORAGE_COOLDOWN:
        return (
            f"the last storage change was applied at {last:%Y-%m-%d %H:%M %Z}; AWS allows the"
            f" next one after {last + STORAGE_COOLDOWN:%Y-%m-%d %H:%M %Z} or when storage"
            " optimization completes, whichever is later"
        )
    return None


def storage_changes(plan: Plan) -> list[str]:
    """RDS instances whose storage the plan changes (the only ones worth describing)."""
    return sorted(
        c.instance
        for c in plan.changes
        if c.primary and c.kind == "rds" and c.instance and c.action == "update"
        if _changed(c, STORAGE_ATTRIBUTES)
    )


def check(plan: Plan, desired: Mapping[str, Desired], timing: Timing) -> list[Finding]:
    """Both timed rules over every instance's primary resource."""
    findings: list[Finding] = []
    for change in plan.changes:
        if not change.primary:
            continue
        want = desired.get(change.instance or "")
        found = (downtime(change, want, timing.now), storage_cooldown(change, timing))
        findings.extend(f for f in found if f is not None)
    return findings


def only_timed(reasons: Iterable[Mapping[str, Any]]) -> bool:
    """True when every finding of a held run is a timed one (nobody needs to approve it)."""
    rules = [r.get("rule") for r in reasons]
    return bool(rules) and all(r in TIMED_RULES for r in rules)


def cleared(
    reasons: Iterable[Mapping[str, Any]],
    desired: Mapping[str, Desired],
    timing: Timing,
    *,
    approved: bool = False,
) -> bool:
    """Whether every timed finding of a held run has cleared now.

    A ``downtime`` finding clears inside the instance's maintenance window or once the run is
    approved; a ``storage-cooldown`` finding only when AWS would accept the change.
    """
    for reason in reasons:
        name = str(reason.get("instance"))
        if reason.get("rule") == "downtime" and not approved:
            want = desired.get(name)
            window = want.spec.maintenance_window if want is not None else None
            if window is None or not window.covers(timing.now):
                return False
        if reason.get("rule") == "storage-cooldown" and cooldown_reason(name, timing):
            return False
    return True


def last_storage_changes(conn: psycopg.Connection[Any]) -> dict[str, datetime]:
    """When Locxia last applied a storage change per RDS instance (from applied runs' inputs).

    A change is an applied run whose storage inputs differ from the previous applied run's
    for that instance; the end of that apply bounds the time AWS received the modification.
    """
    rows = conn.execute(
        "WITH per AS ("
        "  SELECT t.id, t.ended_at, e.key AS name,"
        "         jsonb_build_array(e.value -> 'storage_gb', e.value -> 'storage_type',"
        "                           e.value -> 'iops', e.value -> 'throughput') AS storage"
        "    FROM ops.terraform_runs t, jsonb_each(t.inputs -> 'instances') e"
        "   WHERE t.purpose = 'reconcile' AND t.status = 'applied'"
        "     AND e.value ->> 'kind' = 'rds'"
        "), lagged AS ("
        "  SELECT name, ended_at, storage,"
        "         lag(storage) OVER (PARTITION BY name ORDER BY id) AS previous FROM per"
        ") SELECT name, max(ended_at) FROM lagged"
        "   WHERE previous IS NOT NULL AND previous <> storage GROUP BY name"
    ).fetchall()
    return {str(name): at for name, at in rows if at is not None}


def describe_rds(client: RDSClient, names: Iterable[str]) -> dict[str, RdsStatus]:
    """Status and pending modification keys of each named DB instance that exists.

    Raises:
        AwsError: DescribeDBInstances failed.
    """
    out: dict[str, RdsStatus] = {}
    for name in names:
        with aws_errors("rds", "DescribeDBInstances"):
            found = client.describe_db_instances(
                Filters=[{"Name": "db-instance-id", "Values": [name]}]
            )["DBInstances"]
        if found:
            db = found[0]
            pending = frozenset(db.get("PendingModifiedValues") or {})
            out[name] = RdsStatus(str(db.get("DBInstanceStatus")), pending)
    return out
