"""EC2 rules and calls: attributes of a planned instance, and describe by Name tag.

Where EC2 differs from RDS: the instance type changes only while stopped (the AWS provider
stops, modifies and starts), EBS volumes only grow, the power state is a Terraform resource
(``aws_ec2_instance_state``), and deleting means terminating — there is no final snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from infra.aws import aws_errors
from pipelines.shape.model import DASK_WORKER, PURPOSE_TAG
from pipelines.shape.sizing import Observed, Sizing

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


_POWER = {"pending": "present", "running": "present", "stopping": "stopped", "stopped": "stopped"}


def _root(attrs: Mapping[str, Any]) -> Mapping[str, Any]:
    blocks = attrs.get("root_block_device")
    return blocks[0] if isinstance(blocks, list) and blocks else {}


def storage_gb(attrs: Mapping[str, Any]) -> int | None:
    """Root volume size of a planned ``aws_instance``, if known."""
    value = _root(attrs).get("volume_size")
    return int(value) if isinstance(value, int | float) else None


def sizing(attrs: Mapping[str, Any]) -> Sizing:
    """Sizing from ``aws_instance`` attributes."""
    return Sizing(
        kind="ec2",
        instance_class=str(attrs.get("instance_type")),
        storage_gb=storage_gb(attrs) or 0,
        storage_type=str(_root(attrs).get("volume_type") or "gp3"),
        iops=_number(_root(attrs).get("iops")),
        throughput=_number(_root(attrs).get("throughput")),
        monitoring=attrs.get("monitoring") is True,
    )


def _number(value: Any) -> int | None:
    """A planned number (None when unset, unknown or 0)."""
    return int(value) if isinstance(value, int | float) and value > 0 else None


def is_dask_worker(attrs: Mapping[str, Any]) -> bool:
    """Whether a planned or existing ``aws_instance`` is a Dask worker, by its purpose tag.

    Read from the instance's own tags (``tags``, or ``tags_all`` with the provider's defaults),
    never from the row: a row switched to ``dask-worker`` does not make an instance that holds
    data disposable.
    """
    for key in ("tags", "tags_all"):
        tags = attrs.get(key)
        if isinstance(tags, Mapping) and tags.get(PURPOSE_TAG) == DASK_WORKER:
            return True
    return False


def is_protected(attrs: Mapping[str, Any]) -> bool:
    """Termination protection as planned or in state."""
    return bool(attrs.get("disable_api_termination"))


def describe(
    client: EC2Client, names: Iterable[str], tag_key: str, tag_value: str
) -> dict[str, Observed]:
    """Describe Locxia's instances by Name tag (terminated ones count as ``missing``).

    Raises:
        AwsError: the API failed.
    """
    wanted = set(names)
    out = {name: Observed("missing") for name in wanted}
    with aws_errors("ec2", "DescribeInstances"):
        pages = client.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": f"tag:{tag_key}", "Values": [tag_value]},
                {"Name": "instance-state-name", "Values": list(_POWER)},
            ]
        )
        instances = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
    for inst in instances:
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        name = tags.get("Name")
        if name not in wanted:
            continue
        out[name] = Observed(  # root volume size needs DescribeVolumes: not compared
            state=_POWER.get(inst["State"]["Name"], inst["State"]["Name"]),
            instance_class=inst.get("InstanceType"),
            status=inst["State"]["Name"],
        )
    return out
