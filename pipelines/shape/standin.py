"""The stand-in root module's instances, read as the AWS provider's resources.

The demo and the tests plan ``infra/demo/terraform``: the AWS provider cannot be downloaded
offline, so each instance there is a ``terraform_data`` resource whose attributes sit under
``input``, and whose EC2 root volume is flat (``root_volume_gb``, ``root_volume_type``) where
``aws_instance`` has a ``root_block_device`` block. This module is the only place in the
product that knows it: :mod:`pipelines.shape.plan` registers :data:`STANDIN` next to the AWS
adapters, and every rule (``rds``, ``ec2``, ``guardrails``, ``cost``, ``drift``) reads the AWS
provider's attribute names only.

Registered by default rather than chosen from the root module: a production root module has no
``terraform_data`` named ``this`` inside ``module.rds``/``module.ec2``, so the adapter is inert
there, and the demo and the tests plan through exactly the production path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RESOURCE_TYPE = "terraform_data"
_ROOT_VOLUME = {"root_volume_gb": "volume_size", "root_volume_type": "volume_type"}


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
            ``input``, with a flat EC2 root volume folded into ``root_block_device``; an empty
            mapping when ``input`` is not an object (unknown until apply, or a companion).
        """
        inner = values.get("input")
        if not isinstance(inner, Mapping):
            return {}
        return _with_root_block_device(inner)


def _with_root_block_device(attrs: Mapping[str, Any]) -> Mapping[str, Any]:
    """``root_volume_gb``/``root_volume_type`` as ``aws_instance``'s ``root_block_device``."""
    root = {_ROOT_VOLUME[k]: v for k, v in attrs.items() if k in _ROOT_VOLUME and v is not None}
    if not root:
        return attrs
    rest = {k: v for k, v in attrs.items() if k not in _ROOT_VOLUME}
    return {**rest, "root_block_device": [root]}


#: The one stand-in adapter, registered in :data:`pipelines.shape.plan.ADAPTERS`.
STANDIN = StandinAdapter()
