"""Terraform's JSON plan (``terraform show -json``), reduced to what the guardrails need.

Format: Terraform's "JSON Output Format" (``format_version`` 1.x). ``resource_changes[]``
holds each resource instance with ``change.actions`` — ``["create"]``, ``["update"]``,
``["delete"]``, ``["no-op"]``, ``["read"]``, or a replacement: ``["delete", "create"]`` or
``["create", "delete"]``. Scanning for ``"delete"`` therefore catches deletions *and* both
replacement orders. ``resource_drift[]`` lists what changed outside Terraform (refresh).

An instance's **primary** resource is the one named ``this`` inside ``module.rds["<name>"]``
or ``module.ec2["<name>"]`` — the convention of terraform/modules — so changes map to
``params.instances`` rows by module key. Its type must have a :class:`ResourceAdapter`: the
adapter gives its attributes under the AWS provider's names, the only names the rules read.
:data:`ADAPTERS` holds ``aws_db_instance`` and ``aws_instance`` (read as they are) and the
demo's stand-in (:mod:`pipelines.shape.standin`), registered here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from infra.errors import TerraformError
from pipelines.shape.standin import STANDIN

_MODULE = re.compile(r'^module\.(rds|ec2)\["([^"]+)"\]$')
PRIMARY_NAME = "this"

Action = Literal["create", "update", "delete", "replace", "no-op", "read"]


class ResourceAdapter(Protocol):
    """How one Terraform resource type carries an instance's attributes.

    Contract: ``attributes`` returns the values of a ``before``/``after`` object under the AWS
    provider's attribute names (``aws_db_instance`` for RDS, ``aws_instance`` for EC2), so
    :mod:`pipelines.shape.rds` and :mod:`pipelines.shape.ec2` need no other vocabulary.
    """

    @property
    def resource_type(self) -> str:
        """The Terraform resource type read (``aws_db_instance``...)."""
        ...

    def attributes(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """``values`` under the AWS provider's attribute names."""
        ...

    def replace_paths(
        self,
        paths: tuple[tuple[Any, ...], ...],
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> tuple[tuple[Any, ...], ...]:
        """``replace_paths`` of a change under the AWS provider's attribute paths."""
        ...


@dataclass(frozen=True)
class AwsResource:
    """A resource of the AWS provider: its attributes already carry the names the rules read."""

    resource_type: str

    def attributes(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """``values`` as they are."""
        return values

    def replace_paths(
        self,
        paths: tuple[tuple[Any, ...], ...],
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> tuple[tuple[Any, ...], ...]:
        """``paths`` as they are."""
        return paths


def adapters(*found: ResourceAdapter) -> Mapping[str, ResourceAdapter]:
    """Adapters by the resource type they read (the last one wins for a type)."""
    return {a.resource_type: a for a in found}


AWS_ADAPTERS: tuple[ResourceAdapter, ...] = (
    AwsResource("aws_db_instance"),
    AwsResource("aws_instance"),
)
#: What :func:`parse` reads by default: the AWS provider's instances and the demo's stand-in.
ADAPTERS = adapters(*AWS_ADAPTERS, STANDIN)


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
    importing: str | None = None
    """The import id when this change imports the resource (``change.importing.id``)."""
    adapter: ResourceAdapter | None = field(default=None, compare=False, repr=False)
    """How this type's attributes read; None for a type no adapter knows."""

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
        return self.instance is not None and self.name == PRIMARY_NAME and self.adapter is not None

    def attributes(self, side: Literal["before", "after"]) -> Mapping[str, Any] | None:
        """Resource attributes under the AWS provider's names (through the type's adapter)."""
        values = self.before if side == "before" else self.after
        if values is None or self.adapter is None:
            return values
        return self.adapter.attributes(values)


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
        """Counts per action, for ``ops.terraform_runs.plan_summary``.

        ``import`` counts the instances imported (their primary resource; its companions are
        imported with it).
        """
        counts = {"create": 0, "update": 0, "delete": 0, "replace": 0}
        for change in self.effective():
            counts[change.action] += 1
        counts["import"] = len(self.imported())
        return counts

    def imported(self) -> set[str]:
        """Instances whose primary resource this plan imports."""
        return {c.instance for c in self.changes if c.primary and c.importing and c.instance}

    def instances_changed(self) -> set[str]:
        """Instances with at least one effective change in their module."""
        return {c.instance for c in self.effective() if c.instance}


def parse(doc: Mapping[str, Any], known: Mapping[str, ResourceAdapter] = ADAPTERS) -> Plan:
    """Reduce a ``terraform show -json`` document.

    Args:
        doc: the JSON plan.
        known: adapters by resource type; a type missing here is never an instance.

    Raises:
        TerraformError: not a plan in a format version this code understands.
    """
    version = str(doc.get("format_version", ""))
    if not version.startswith("1."):
        raise TerraformError(f"unsupported plan format_version {version!r} (expected 1.x)")
    return Plan(
        changes=_changes(doc.get("resource_changes"), known),
        drift=_changes(doc.get("resource_drift"), known),
        terraform_version=str(doc.get("terraform_version", "?")),
    )


def _changes(
    items: Iterable[Mapping[str, Any]] | None, known: Mapping[str, ResourceAdapter]
) -> tuple[ResourceChange, ...]:
    return tuple(_change(rc, known) for rc in items or ())


def _change(rc: Mapping[str, Any], known: Mapping[str, ResourceAdapter]) -> ResourceChange:
    change = rc.get("change") or {}
    match = _MODULE.match(str(rc.get("module_address", "")))
    adapter = known.get(str(rc.get("type")))
    paths = tuple(tuple(p) for p in change.get("replace_paths") or ())
    if adapter is not None:
        paths = adapter.replace_paths(paths, change.get("before"), change.get("after"))
    importing = change.get("importing")
    return ResourceChange(
        address=str(rc.get("address")),
        type=str(rc.get("type")),
        name=str(rc.get("name")),
        actions=tuple(change.get("actions") or ()),
        before=change.get("before"),
        after=change.get("after"),
        instance=match.group(2) if match else None,
        kind=match.group(1) if match else None,  # type: ignore[arg-type]
        replace_paths=paths,
        action_reason=rc.get("action_reason"),
        importing=str(importing["id"]) if isinstance(importing, Mapping) else None,
        adapter=adapter,
    )
