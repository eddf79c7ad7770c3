"""Guardrails on a plan: what may never happen, and what needs a person's approval.

Each rule is a small function over the parsed plan with its own direct test. **Refused**
(nothing is applied, whatever anyone approves):

* ``delete-not-wanted`` — an RDS/EC2 instance would be deleted but its row is not ``absent``
  (a deleted row, a renamed module, a typo in the root module...);
* ``protected`` — a protected instance would be deleted or replaced;
* ``final-snapshot`` — an RDS instance would be deleted without a final snapshot;
* ``storage-shrink`` — storage would get smaller (RDS and EBS cannot shrink).

**Needs approval** (``locxia infra approve RUN``):

* ``replacement`` — an instance would be destroyed and re-created (``replace_paths`` say why);
* ``too-many-changes`` — more instances change than ``LOCXIA_SHAPE_MAX_CHANGES``;
* ``cost`` — the monthly cost would rise by more than ``LOCXIA_SHAPE_AUTO_APPLY_USD``.

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
    """Hold a replacement (destroy + create) for approval, saying which attributes force it."""
    if change.action != "replace":
        return None
    paths = ", ".join(".".join(map(str, p)) for p in change.replace_paths) or "unknown"
    return Finding(
        "replacement",
        "approve",
        f"{change.instance} would be replaced (destroyed and re-created) because of: {paths}",
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


def check_changes(plan: Plan, desired: Mapping[str, Desired]) -> list[Finding]:
    """Every per-change rule over every instance's primary resource."""
    findings = []
    for change in plan.changes:
        if not change.primary:
            continue
        findings += [f for rule in RULES if (f := rule(change, desired)) is not None]
    return findings


def too_many_changes(plan: Plan, policy: Policy, extra: Iterable[str] = ()) -> Finding | None:
    """Hold a run that changes more instances than the policy allows."""
    changed = plan.instances_changed() | set(extra)
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
