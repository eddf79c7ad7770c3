"""Cost preview of a plan, Infracost-style: monthly USD before and after, per instance.

Prices come from :class:`infra.prices.PriceCatalog` (730 hours a month, AWS's convention), line
by line as the estimates price them (:mod:`infra.costlines`): compute, storage, provisioned IOPS
and throughput, RDS Extended Support, EC2 detailed monitoring; RDS log exports are declared
(their volume is unknown) and add nothing.
"Before" is what Terraform's state says exists, priced with the power state of the last
applied run; "after" is what the plan leaves, priced with the desired power state. A stopped
instance still pays for its storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

from infra.prices import PriceCatalog
from pipelines.shape import ec2, rds
from pipelines.shape.plan import Plan, ResourceChange
from pipelines.shape.sizing import Sizing


class ChangeJson(TypedDict):
    """One instance's change in ``ops.terraform_runs.changes`` and in a reconcile's details.

    ``before``/``after`` hold ``instance_class``, ``storage_gb`` and ``state`` (None when the
    instance does not exist on that side); the monthly costs are decimal strings.
    """

    instance: str
    kind: str
    action: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    monthly_before: str
    monthly_after: str
    replace_paths: list[list[Any]]
    importing: bool


@dataclass(frozen=True)
class InstanceChange:
    """One instance's change as dashboards show it: old → new shape and monthly cost."""

    instance: str
    kind: str
    action: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    monthly_before: Decimal
    monthly_after: Decimal
    replace_paths: tuple[tuple[Any, ...], ...] = field(default=())
    importing: bool = False
    """The plan imports the instance (it exists in AWS, not yet in the state)."""

    def as_json(self) -> ChangeJson:
        """The JSON stored in ``ops.terraform_runs.changes``."""
        return {
            "instance": self.instance,
            "kind": self.kind,
            "action": self.action,
            "before": self.before,
            "after": self.after,
            "monthly_before": str(self.monthly_before),
            "monthly_after": str(self.monthly_after),
            "replace_paths": [list(p) for p in self.replace_paths],
            "importing": self.importing,
        }


@dataclass(frozen=True)
class Preview:
    """Per-instance changes and the totals."""

    changes: tuple[InstanceChange, ...]

    @property
    def monthly_before(self) -> Decimal:
        """Total monthly USD of the instances before the plan."""
        return sum((c.monthly_before for c in self.changes), Decimal("0.00"))

    @property
    def monthly_after(self) -> Decimal:
        """Total monthly USD after the plan."""
        return sum((c.monthly_after for c in self.changes), Decimal("0.00"))

    @property
    def delta(self) -> Decimal:
        """After minus before (positive = costs more)."""
        return self.monthly_after - self.monthly_before


def _sizing(change: ResourceChange, side: str) -> Sizing | None:
    attrs = change.attributes("before" if side == "before" else "after")
    if attrs is None:
        return None
    return rds.sizing(attrs) if change.kind == "rds" else ec2.sizing(attrs)


def _shape(sizing: Sizing | None, power: str) -> dict[str, Any] | None:
    if sizing is None:
        return None
    return {
        "instance_class": sizing.instance_class,
        "storage_gb": sizing.storage_gb,
        "state": power,
    }


def preview(
    plan: Plan,
    catalog: PriceCatalog,
    power_before: Mapping[str, str],
    power_after: Mapping[str, str],
    at: datetime | None = None,
) -> Preview:
    """Price every instance's primary resource on both sides of the plan.

    Args:
        plan: the parsed plan (no-op entries included, so totals cover every instance).
        catalog: prices of the configured region.
        power_before: instance → power state at the last apply (default ``present``).
        power_after: instance → desired power state now.
        at: when the plan is priced (RDS Extended Support depends on the day; without it a
            major listed in :data:`infra.costlines.POSTGRES_SUPPORT` cannot be priced).

    Raises:
        InputError: a class or storage type without a price.
    """
    out: list[InstanceChange] = []
    for change in plan.changes:
        if not change.primary or change.instance is None or change.kind is None:
            continue
        name = change.instance
        before, after = _sizing(change, "before"), _sizing(change, "after")
        if change.action == "delete":
            after = None
        p_before = power_before.get(name, "present")
        p_after = power_after.get(name, "present")
        action: str = change.action
        if action == "no-op" and p_before != p_after:
            action = "power"
        out.append(
            InstanceChange(
                instance=name,
                kind=change.kind,
                action=action,
                before=_shape(before, p_before),
                after=_shape(after, p_after),
                monthly_before=before.monthly(catalog, p_before, at) if before else Decimal(0),
                monthly_after=after.monthly(catalog, p_after, at) if after else Decimal(0),
                replace_paths=change.replace_paths,
                importing=change.importing is not None,
            )
        )
    return Preview(tuple(sorted(out, key=lambda c: c.instance)))
