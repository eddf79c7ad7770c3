"""What a discovered AWS resource is: its type, CloudWatch dimension, and ARN parsing.

The four resource types Locxia observes, and for each the CloudWatch namespace and the
dimension that names one resource in it. Everything else in the metrics path is keyed on
these, so adding a type means one row here plus its Describe call in :mod:`.discovery`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ResourceType = Literal["ec2:instance", "ec2:volume", "rds:db", "s3:bucket"]

#: Resource Groups Tagging API type filters for the types above.
TAGGING_FILTERS = ("ec2:instance", "ec2:volume", "rds:db", "s3")

#: CloudWatch namespace and the dimension naming one resource of each type.
DIMENSIONS: dict[ResourceType, tuple[str, str]] = {
    "ec2:instance": ("AWS/EC2", "InstanceId"),
    "ec2:volume": ("AWS/EBS", "VolumeId"),
    "rds:db": ("AWS/RDS", "DBInstanceIdentifier"),
    "s3:bucket": ("AWS/S3", "BucketName"),
}

#: States in which a resource no longer exists (or is about to stop existing).
GONE_STATES = frozenset({"terminated", "shutting-down", "deleting", "deleted"})


@dataclass(frozen=True)
class Arn:
    """The parts of an ARN Locxia needs."""

    type: ResourceType
    resource_id: str
    region: str


def parse_arn(arn: str) -> Arn | None:
    """Parse the ARN of an observed type; None for any other resource.

    Examples: ``arn:aws:ec2:eu-west-3:123:instance/i-0abc`` → ec2:instance ``i-0abc``;
    ``arn:aws:rds:eu-west-3:123:db:work-db`` → rds:db ``work-db``; ``arn:aws:s3:::bucket`` →
    s3:bucket ``bucket`` (S3 ARNs carry no region: the caller fills it in).
    """
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    service, region, rest = parts[2], parts[3], parts[5]
    if service == "ec2" and rest.startswith("instance/"):
        return Arn("ec2:instance", rest.removeprefix("instance/"), region)
    if service == "ec2" and rest.startswith("volume/"):
        return Arn("ec2:volume", rest.removeprefix("volume/"), region)
    if service == "rds" and rest.startswith("db:"):
        return Arn("rds:db", rest.removeprefix("db:"), region)
    if service == "s3" and rest and "/" not in rest:
        return Arn("s3:bucket", rest, region)
    return None


def tag_dict(tags: Any) -> dict[str, str]:
    """``[{"Key": k, "Value": v}, ...]`` (any AWS casing) → ``{k: v}``."""
    out: dict[str, str] = {}
    for tag in tags or []:
        key = tag.get("Key", tag.get("key"))
        if key is not None:
            out[str(key)] = str(tag.get("Value", tag.get("value", "")))
    return out


@dataclass(frozen=True)
class Resource:
    """A row of ``metrics.resources`` as the collectors see it."""

    id: int
    arn: str
    type: ResourceType
    resource_id: str
    name: str
    region: str
    tags: Mapping[str, str] = field(default_factory=dict)
    state: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
