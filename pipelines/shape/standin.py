"""The stand-in root module's instances, read as the AWS provider's resources.

The demo and the tests plan ``infra/demo/terraform``: the AWS provider cannot be downloaded
offline, so each instance there is a ``terraform_data`` resource whose attributes sit under
``input``, and whose EC2 root volume is flat (``root_volume_gb``, ``root_volume_type``) where
``aws_instance`` has a ``root_block_device`` block. This module is the only place in the
product that knows it: :mod:`pipelines.shape.plan` registers :data:`STANDIN` next to the AWS
adapters, and every rule (``rds``, ``ec2``, ``guardrails``, ``cost``, ``drift``) reads the AWS
provider's attribute names only.

Two things the stand-in does its own way are read here too:

* **import** — ``terraform_data``'s import records an id and nothing else (it cannot read the
  instance), so the stand-in's import id is the JSON document discovery found
  (:mod:`pipelines.shape.adopt`): an importing change's ``before`` has no ``input`` but that id,
  read as the instance's attributes — what the AWS provider's read would have put there;
* **replacement** — ``triggers_replace`` is a map keyed by the provider's force-new attributes
  (:mod:`pipelines.shape.forcenew`); Terraform reports ``replace_paths`` as
  ``["triggers_replace"]`` (or ``["triggers_replace", "engine"]``), read here as the attributes
  whose trigger changed, under the provider's paths (``["engine"]``,
  ``["root_block_device", 0, "encrypted"]``), so the guardrails name the real attribute.

Registered by default rather than chosen from the root module: a production root module has no
``terraform_data`` named ``this`` inside ``module.rds``/``module.ec2``, so the adapter is inert
there, and the demo and the tests plan through exactly the production path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.shape.forcenew import aws_path

RESOURCE_TYPE = "terraform_data"
_ROOT_VOLUME = {
    "root_volume_gb": "volume_size",
    "root_volume_type": "volume_type",
    "root_volume_iops": "iops",
    "root_volume_throughput": "throughput",
}


@dataclass(frozen=True)
class StandinAdapter:
    """Reads a stand-in ``terraform_data`` instance as an ``aws_db_instance``/``aws_instance``.

    Attributes:
        resource_type: the Terraform resource type this adapter reads.
    """

    resource_type: str = RESOURCE_TYPE

    def attributes(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """The instance's attributes under the AWS provider's names.

        Args:
            values: the resource's ``before`` or ``after`` object from the JSON plan.

        Returns:
            ``input``, with a flat EC2 root volume folded into ``root_block_device``; for an
            imported resource (no ``input`` yet), the attributes its import id carries; an
            empty mapping otherwise (unknown until apply).
        """
        inner = values.get("input")
        if not isinstance(inner, Mapping):
            inner = _imported(values.get("id"))
            if inner is None:
                return {}
        return _with_root_block_device(inner)

    def replace_paths(
        self,
        paths: tuple[tuple[Any, ...], ...],
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> tuple[tuple[Any, ...], ...]:
        """``replace_paths`` under the AWS provider's attribute paths.

        Args:
            paths: as the plan gives them (``[["triggers_replace"]]`` for a changed trigger).
            before: the resource's ``before`` object (its ``triggers_replace``).
            after: the resource's ``after`` object.

        Returns:
            Each changed trigger as its provider path (sorted); other paths as they are.
        """
        out: list[tuple[Any, ...]] = []
        for path in paths:
            if not path or path[0] != "triggers_replace":
                out.append(path)
            elif len(path) > 1:
                out.append(aws_path(str(path[1])))
            else:
                out += [aws_path(k) for k in _changed_triggers(before, after)]
        return tuple(dict.fromkeys(out))


def _imported(value: Any) -> Mapping[str, Any] | None:
    """The attributes an import id carries (a JSON object), or None for any other id."""
    if not isinstance(value, str) or not value.startswith("{"):
        return None
    try:
        doc = json.loads(value)
    except json.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _changed_triggers(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[str]:
    """Keys of ``triggers_replace`` whose value differs between the two sides.

    A side without triggers (null) counts as every key absent.
    """
    old = (before or {}).get("triggers_replace") or {}
    new = (after or {}).get("triggers_replace") or {}
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return []
    return sorted(k for k in set(old) | set(new) if old.get(k, _ABSENT) != new.get(k, _ABSENT))


_ABSENT = object()


def _with_root_block_device(attrs: Mapping[str, Any]) -> Mapping[str, Any]:
    """``root_volume_gb``/``root_volume_type`` as ``aws_instance``'s ``root_block_device``."""
    root = {_ROOT_VOLUME[k]: v for k, v in attrs.items() if k in _ROOT_VOLUME and v is not None}
    if not root:
        return attrs
    rest = {k: v for k, v in attrs.items() if k not in _ROOT_VOLUME}
    return {**rest, "root_block_device": [root]}


#: The one stand-in adapter, registered in :data:`pipelines.shape.plan.ADAPTERS`.
STANDIN = StandinAdapter()
