"""Terraform's JSON plan (``terraform show -json``), reduced to what the guardrails need.

Format: Terraform's "JSON Output Format" (``format_version`` 1.x). ``resource_changes[]``
holds each resource instance with ``change.actions`` — ``["create"]``, ``["update"]``,
``["delete"]``, ``["no-op"]``, ``["read"]``, or a replacement: ``["delete", "create"]`` or
``["create", "delete"]``. Scanning for ``"delete"`` therefore catches deletions *and* both
replacement orders. ``resource_drift[]`` lists what changed outside Terraform (refresh).

An instance's **primary** resource is the one named ``this`` inside ``module.rds["<name>"]``
or ``module.ec2["<name>"]`` — the convention of terraform/modules — so changes map to
``params.instances`` rows by module key, whatever the resource type (``aws_db_instance``,
``aws_instance``, or the tests' ``terraform_data`` stand-in, whose attributes are in
``input``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from infra.errors import TerraformError

_MODULE = re.compile(r'^module\.(rds|ec2)\["([^"]+)"\]$')
PRIMARY_NAME = "this"
PRIMARY_TYPES = frozenset({"aws_db_instance", "aws_instance", "terraform_data"})

Action = Literal["create", "update", "delete", "replace", "no-op", "read"]


@dataclass(frozen=True)
class ResourceChange:
    """One resource instance's planned change."""

    address: str
    type: str
    name: str
    actions: tuple[str, ...]
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    instance: str | None = None
    kind: Literal["rds", "ec2"] | None = None
    replace_paths: tuple[tuple[Any, ...], ...] = ()
    action_reason: str | None = None

    @property
    def action(self) -> Action:
        """One word for the actions list."""
        if "delete" in self.actions and "create" in self.actions:
            return "replace"
        if len(self.actions) == 1 and self.actions[0] in ("create", "update", "delete", "read"):
            return self.actions[0]  # type: ignore[return-value]
        return "no-op"

    @property
    def deletes(self) -> bool:
        """True for a deletion or either replacement order (the object is destroyed)."""
        return "delete" in self.actions

    @property
    def primary(self) -> bool:
        """True for the instance itself (not a companion resource of its module)."""
        return (
            self.instance is not None and self.name == PRIMARY_NAME and self.type in PRIMARY_TYPES
        )

    def attributes(self, side: Literal["before", "after"]) -> Mapping[str, Any] | None:
        """Resource attributes; the stand-in's are inside ``input``."""
        values = self.before if side == "before" else self.after
        if values is None:
            return None
        if self.type == "terraform_data":
            inner = values.get("input")
            return inner if isinstance(inner, Mapping) else {}
        return values


@dataclass(frozen=True)
class Plan:
    """The parts of a JSON plan Locxia acts on."""

    changes: tuple[ResourceChange, ...]
    drift: tuple[ResourceChange, ...]
    terraform_version: str

    def effective(self) -> list[ResourceChange]:
        """Changes that do something (not no-op or read)."""
        return [c for c in self.changes if c.action not in ("no-op", "read")]

    def summary(self) -> dict[str, int]:
        """Counts per action, for ``ops.terraform_runs.plan_summary``."""
        counts = {"create": 0, "update": 0, "delete": 0, "replace": 0}
        for change in self.effective():
            counts[change.action] += 1
        return counts

    def instances_changed(self) -> set[str]:
        """Instances with at least one effective change in their module."""
        return {c.instance for c in self.effective() if c.instance}


def parse(doc: Mapping[str, Any]) -> Plan:
    """Reduce a ``terraform show -json`` document.

    Raises:
        TerraformError: not a plan in a format version this code understands.
    """
    version = str(doc.get("format_version", ""))
    if not version.startswith("1."):
        raise TerraformError(f"unsupported plan format_version {version!r} (expected 1.x)")
    return Plan(
        changes=tuple(_change(rc) for rc in doc.get("resource_changes") or []),
        drift=tuple(_change(rc) for rc in doc.get("resource_drift") or []),
        terraform_version=str(doc.get("terraform_version", "?")),
    )


def _change(rc: Mapping[str, Any]) -> ResourceChange:
    change = rc.get("change") or {}
    match = _MODULE.match(str(rc.get("module_address", "")))
    return ResourceChange(
        address=str(rc.get("address")),
        type=str(rc.get("type")),
        name=str(rc.get("name")),
        actions=tuple(change.get("actions") or ()),
        before=change.get("before"),
        after=change.get("after"),
        instance=match.group(2) if match else None,
        kind=match.group(1) if match else None,  # type: ignore[arg-type]
        replace_paths=tuple(tuple(p) for p in change.get("replace_paths") or ()),
        action_reason=rc.get("action_reason"),
    )
