"""Guardrails on a plan: what may never happen, and what needs a person's approval.

Each rule is a small function over the parsed plan with its own direct test. **Refused**
(nothing is applied, whatever anyone approves):

* ``delete-not-wanted`` — an RDS/EC2 instance would be deleted but its row is not ``absent``
  (a deleted row, a renamed module, a typo in the root module...);
* ``protected`` — a protected instance would be deleted or replaced;
* ``final-snapshot`` — an RDS instance would be deleted without a final snapshot;
* ``storage-shrink`` — storage would get smaller (RDS and EBS cannot shrink);
* ``create-existing`` — an instance would be created under a name AWS already has: RDS would
  fail with ``DBInstanceAlreadyExists`` after the other creates ran, EC2 would launch a
  duplicate (a ``Name`` is only a tag). What can be adopted is imported instead
  (:mod:`pipelines.shape.adopt`); this refuses what cannot (ambiguous, not Locxia's);
* ``data-replacement`` — a data-bearing resource would be destroyed and re-created: an RDS
  instance, an EC2 instance whose volumes are deleted on termination, or any resource of a type
  in :data:`DATA_BEARING` anywhere in the plan. A replacement comes back **empty** (nothing
  restores the final snapshot), so approving it is not enough; the one way through is an
  explicit rebuild from a named snapshot (``locxia infra rebuild``, its own approval,
  :mod:`pipelines.shape.rebuild`), which lets exactly that instance be replaced in one run.

**Needs approval** (``locxia infra approve RUN``):

* ``replacement`` — an instance that holds no data would be destroyed and re-created
  (``replace_paths`` say why);
* ``too-many-changes`` — more instances change than ``LOCXIA_SHAPE_MAX_CHANGES``;
* ``cost`` — the monthly cost would rise by more than ``LOCXIA_SHAPE_AUTO_APPLY_USD``.

Dask worker instances (``purpose = dask-worker``, recognised by the purpose tag on the instance
as it exists, :func:`pipelines.shape.ec2.is_dask_worker`) hold no data: their root volume is
scratch space the worker spills to, and capacity windows add and remove them for each run. So
a worker is not data-bearing, its replacement (a new scheduler address or new package versions
in its user data) needs no approval, and deleting one whose row is already gone is allowed —
the cleanup after a run or a restart must never be stuck behind a person. Every other rule
(change count, cost) still counts them.

The blast-radius idea is Cloud Custodian's ``max-resources``: a run that touches more than
expected stops for a human instead of trusting the input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypedDict

from infra.errors import PlanRejected
from pipelines.shape import ec2, rds
from pipelines.shape.cost import Preview
from pipelines.shape.model import Desired
from pipelines.shape.plan import Plan, ResourceChange

Level = Literal["refuse", "approve"]
Decision = Literal["no_changes", "auto_apply", "needs_approval", "rejected"]


class FindingJson(TypedDict):
    """A finding in ``ops.terraform_runs.reasons`` and in a reconcile's details."""

    rule: str
    level: str
    message: str
    instance: str | None
    address: str | None


@dataclass(frozen=True)
class Finding:
    """One guardrail's verdict about one change."""

    rule: str
    level: Level
    message: str
    instance: str | None = None
    address: str | None = None

    def as_json(self) -> FindingJson:
        """The JSON stored in ``ops.terraform_runs.reasons``."""
        return {
            "rule": self.rule,
            "level": self.level,
            "message": self.message,
            "instance": self.instance,
            "address": self.address,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Finding:
        """A finding read back from ``ops.terraform_runs.reasons`` (see :meth:`as_json`)."""
        level: Level = "refuse" if doc.get("level") == "refuse" else "approve"
        return cls(
            str(doc.get("rule")),
            level,
            str(doc.get("message")),
            doc.get("instance"),
            doc.get("address"),
        )


@dataclass(frozen=True)
class Policy:
    """Limits of one run (from settings)."""

    max_changes: int
    auto_apply_usd: Decimal


Rule = Callable[[ResourceChange, Mapping[str, Desired]], Finding | None]

#: Resource types whose destruction destroys stored data, with the AWS documentation that says
#: so. Replacing any of them is refused wherever it sits in the plan (module or not).
DATA_BEARING: Mapping[str, str] = {
    # DeleteDBInstance: "all automated backups are deleted"; only a final snapshot survives,
    # and a new instance starts empty unless created from a snapshot (snapshot_identifier).
    # https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html
    "aws_db_instance": "RDS DB instance",
    # DeleteDBCluster: the cluster volume goes with it (Aurora).
    # https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBCluster.html
    "aws_rds_cluster": "Aurora DB cluster",
    "aws_docdb_cluster": "DocumentDB cluster",
    "aws_neptune_cluster": "Neptune cluster",
    "aws_redshift_cluster": "Redshift cluster",
    # DeleteVolume: "the data on the volume is gone".
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteVolume.html
    "aws_ebs_volume": "EBS volume",
    # DeleteBucket (after emptying it: the provider's force_destroy empties it first).
    # https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/s3_bucket
    "aws_s3_bucket": "S3 bucket",
    # DeleteFileSystem: "you can't access any contents of the deleted file system".
    # https://docs.aws.amazon.com/efs/latest/ug/API_DeleteFileSystem.html
    "aws_efs_file_system": "EFS file system",
    "aws_fsx_lustre_file_system": "FSx file system",
    "aws_fsx_ontap_file_system": "FSx file system",
    "aws_fsx_openzfs_file_system": "FSx file system",
    "aws_fsx_windows_file_system": "FSx file system",
    # DeleteTable: "the table and all of its items".
    # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DeleteTable.html
    "aws_dynamodb_table": "DynamoDB table",
    "aws_elasticache_replication_group": "ElastiCache replication group",
    "aws_opensearch_domain": "OpenSearch domain",
    "aws_elasticsearch_domain": "Elasticsearch domain",
    # aws_instance counts only when a volume is deleted on termination (see ec2_loses_data).
    "aws_instance": "EC2 instance",
}


def ec2_loses_data(attrs: Mapping[str, Any]) -> bool:
    """Whether terminating this ``aws_instance`` deletes a volume (and the data on it).

    ``delete_on_termination`` defaults to true for the root volume ("By default, the root volume
    of an instance is deleted when the instance terminates",
    https://docs.aws.amazon.com/ebs/latest/userguide/preserving-volumes-on-termination.html; the
    provider's ``root_block_device.delete_on_termination`` defaults to true, and so for
    ``ebs_block_device``). A block whose flag is unknown counts as deleted.
    """
    blocks = [*(attrs.get("root_block_device") or []), *(attrs.get("ebs_block_device") or [])]
    if not blocks:
        return True  # the AMI's root volume, deleted by default
    return any(
        not isinstance(b, Mapping) or b.get("delete_on_termination", True) is not False
        for b in blocks
    )


def forcing_attributes(change: ResourceChange) -> list[str]:
    """The attributes that force a replacement, named from the plan's ``replace_paths``.

    A path is dotted (``root_block_device.0.volume_type``). The stand-in carries its force-new
    attributes in ``triggers_replace``: that prefix is dropped, and a whole-object path is
    expanded into the keys whose values differ between ``before`` and ``after``.
    """
    names: list[str] = []
    for path in change.replace_paths:
        parts = [str(p) for p in path]
        if parts[:1] == ["triggers_replace"]:
            if len(parts) == 1:
                names += _changed_keys(change, "triggers_replace")
                continue
            parts = parts[1:]
        name = ".".join(parts)
        if name and name not in names:
            names.append(name)
    return names


def _changed_keys(change: ResourceChange, attribute: str) -> list[str]:
    before = (change.before or {}).get(attribute)
    after = (change.after or {}).get(attribute)
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return [attribute]
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


_WAY_OUT = {
    "rds": "revert the change, or rebuild it from a snapshot with `locxia infra rebuild`",
    "ec2": "revert the change (its root volume is deleted on termination)",
}


def holds_data(change: ResourceChange) -> bool:
    """Whether destroying ``change``'s resource destroys data (RDS always; EC2 see above)."""
    rtype = change.type
    if change.primary:  # the stand-in's terraform_data reads as the AWS resource it stands for
        rtype = "aws_db_instance" if change.kind == "rds" else "aws_instance"
    if rtype not in DATA_BEARING:
        return False
    if rtype == "aws_instance":
        before = change.attributes("before") or {}
        return not ec2.is_dask_worker(before) and ec2_loses_data(before)
    return True


def _dask_worker(change: ResourceChange) -> bool:
    """The instance exists and is a Dask worker (its tag before the change says so)."""
    return change.kind == "ec2" and ec2.is_dask_worker(change.attributes("before") or {})


def _protected(change: ResourceChange, desired: Mapping[str, Desired]) -> bool:
    want = desired.get(change.instance or "")
    attrs = change.attributes("before") or {}
    by_state = rds.is_protected(attrs) if change.kind == "rds" else ec2.is_protected(attrs)
    return by_state or (want is not None and want.spec.protected)


def delete_not_wanted(change: ResourceChange, desired: Mapping[str, Desired]) -> Finding | None:
    """Refuse deleting an instance whose row does not say ``absent``."""
    if change.action != "delete":
        return None
    want = desired.get(change.instance or "")
    if want is not None and want.state == "absent":
        return None
    if want is None and _dask_worker(change):  # its capacity window is over
        return None
    why = "has no row in params.instances" if want is None else f"is wanted {want.state}"
    return Finding(
        "delete-not-wanted",
        "refuse",
        f"{change.instance} would be deleted but {why}; set state=absent to remove it",
        change.instance,
        change.address,
    )


def protected(change: ResourceChange, desired: Mapping[str, Desired]) -> Finding | None:
    """Refuse deleting or replacing a protected instance, ever."""
    if not change.deletes or not _protected(change, desired):
        return None
    return Finding(
        "protected",
        "refuse",
        f"{change.instance} is protected and would be {change.action}d",
        change.instance,
        change.address,
    )


def final_snapshot(change: ResourceChange, desired: Mapping[str, Desired]) -> Finding | None:
    """Refuse destroying an RDS instance without a final snapshot."""
    if change.kind != "rds" or not change.deletes:
        return None
    problem = rds.final_snapshot_problem(change.attributes("before") or {})
    if problem is None:
        return None
    return Finding(
        "final-snapshot",
        "refuse",
        f"{change.instance} would be destroyed without a final snapshot ({problem})",
        change.instance,
        change.address,
    )


def storage_shrink(change: ResourceChange, desired: Mapping[str, Desired]) -> Finding | None:
    """Refuse any plan in which an instance's storage gets smaller."""
    if change.action not in ("update", "replace"):
        return None
    measure = rds.storage_gb if change.kind == "rds" else ec2.storage_gb
    before = measure(change.attributes("before") or {})
    after = measure(change.attributes("after") or {})
    if before is None or after is None or after >= before:
        return None
    return Finding(
        "storage-shrink",
        "refuse",
        f"{change.instance} storage would shrink {before} → {after} GB (storage never shrinks)",
        change.instance,
        change.address,
    )


def replacement(change: ResourceChange, desired: Mapping[str, Desired]) -> Finding | None:
    """Refuse replacing what holds data; hold any other replacement for approval.

    Both say which attributes force it (from ``replace_paths``). A rebuild from a snapshot is
    let through by :func:`check_changes`, never here.
    """
    if change.action != "replace":
        return None
    paths = ", ".join(forcing_attributes(change)) or "unknown"
    what = change.instance or change.address
    if holds_data(change):
        label = str(change.kind) if change.primary else DATA_BEARING[change.type]
        return Finding(
            "data-replacement",
            "refuse",
            f"{what} ({label}) would be replaced and come back empty because {paths} changed;"
            f" {_WAY_OUT.get(label, 'revert the change')}",
            change.instance,
            change.address,
        )
    if _dask_worker(change):
        return None
    return Finding(
        "replacement",
        "approve",
        f"{what} would be replaced (destroyed and re-created) because of: {paths}",
        change.instance,
        change.address,
    )


RULES: tuple[Rule, ...] = (
    delete_not_wanted,
    protected,
    final_snapshot,
    storage_shrink,
    replacement,
)


def create_existing(plan: Plan, existing: Mapping[str, str]) -> list[Finding]:
    """Refuse creating an instance whose name AWS already has.

    Args:
        plan: the parsed plan.
        existing: instance name → why AWS's instance of that name is not imported (one line,
            from :class:`pipelines.shape.adopt.Discovery`).
    """
    return [
        Finding(
            "create-existing",
            "refuse",
            f"{change.instance} would be created but {existing[str(change.instance)]}",
            change.instance,
            change.address,
        )
        for change in plan.changes
        if change.primary and change.action == "create" and change.instance in existing
    ]


def check_changes(
    plan: Plan, desired: Mapping[str, Desired], rebuilds: Iterable[str] = ()
) -> list[Finding]:
    """Every per-change rule on each instance; data-bearing replacements anywhere in the plan.

    Args:
        plan: the parsed plan.
        desired: instances by name.
        rebuilds: instances whose rebuild from a snapshot is approved for this run
            (:mod:`pipelines.shape.rebuild`): their replacement is what was asked for, so
            ``replacement`` says nothing about them; every other rule still applies.
    """
    allowed = set(rebuilds)
    findings: list[Finding] = []
    for change in plan.changes:
        if change.primary:
            rules = [r for r in RULES if r is not replacement or change.instance not in allowed]
        elif change.action == "replace" and holds_data(change):
            rules = [replacement]
        else:
            continue
        findings += [f for rule in rules if (f := rule(change, desired)) is not None]
    return findings


def retiring_workers(plan: Plan) -> set[str]:
    """Dask worker instances the plan only deletes: capacity a window is giving back.

    Every change of such an instance is a delete and its instance says (by its purpose tag)
    that it is a Dask worker. Removing them holds no data and lowers the bill, and a hold
    would keep paid instances running until someone approves, so they do not count towards
    the change limit (decision 94).
    """
    deletes: dict[str, bool] = {}
    for change in plan.effective():
        if not change.instance:
            continue
        only_deletes = deletes.get(change.instance, True) and change.action == "delete"
        deletes[change.instance] = only_deletes
    workers = {c.instance for c in plan.effective() if c.instance and _dask_worker(c)}
    return {name for name, only in deletes.items() if only and name in workers}


def too_many_changes(plan: Plan, policy: Policy, extra: Iterable[str] = ()) -> Finding | None:
    """Hold a run that changes more instances than the policy allows.

    Dask workers being removed (:func:`retiring_workers`) are not counted.
    """
    changed = (plan.instances_changed() - retiring_workers(plan)) | set(extra)
    if len(changed) <= policy.max_changes:
        return None
    return Finding(
        "too-many-changes",
        "approve",
        f"{len(changed)} instances would change (limit {policy.max_changes}):"
        f" {', '.join(sorted(changed))}",
    )


def cost_increase(preview: Preview, policy: Policy) -> Finding | None:
    """Hold a run whose monthly cost rises more than the policy allows."""
    if preview.delta <= policy.auto_apply_usd:
        return None
    return Finding(
        "cost",
        "approve",
        f"monthly cost would rise by {preview.delta:.2f} USD"
        f" ({preview.monthly_before:.2f} → {preview.monthly_after:.2f};"
        f" auto-apply limit {policy.auto_apply_usd:.2f})",
    )


def decide(findings: Iterable[Finding], has_changes: bool) -> Decision:
    """Refusals win over approvals; no changes and no findings means nothing to do."""
    levels = {f.level for f in findings}
    if "refuse" in levels:
        return "rejected"
    if "approve" in levels:
        return "needs_approval"
    return "auto_apply" if has_changes else "no_changes"


def refusal(findings: Iterable[Finding], run_id: int | None = None) -> PlanRejected | None:
    """The error that says why a plan was refused, or None when no finding refuses it.

    Refusals are final: this is what approving a rejected run raises, with the addresses (or,
    for findings about no single resource, the instances) the refusals name.
    """
    refused = [f for f in findings if f.level == "refuse"]
    if not refused:
        return None
    addresses = sorted({where for f in refused if (where := f.address or f.instance)})
    return PlanRejected(addresses, "; ".join(f.message for f in refused), run_id)
