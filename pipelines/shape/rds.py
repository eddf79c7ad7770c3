"""RDS rules and calls: attributes of a planned DB instance, describe, stop and start.

Where RDS differs from EC2: storage only grows (≥ 10 %, once per 6 h — see validation), a
deletion must leave a final snapshot, and stopping is not a Terraform attribute, so the
orchestrator stops and starts instances through the API after apply (AWS restarts a stopped
instance by itself after 7 days; the next reconcile stops it again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from infra.aws import aws_errors
from pipelines.shape.sizing import Observed, Sizing

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient


RUNNING = frozenset({"available", "backing-up", "modifying", "storage-optimization", "upgrading"})


def sizing(attrs: Mapping[str, Any]) -> Sizing:
    """Sizing from ``aws_db_instance`` attributes."""
    return Sizing(
        kind="rds",
        instance_class=str(attrs.get("instance_class")),
        storage_gb=int(attrs.get("allocated_storage") or 0),
        storage_type=str(attrs.get("storage_type") or "gp3"),
        multi_az=bool(attrs.get("multi_az")),
        engine=str(attrs.get("engine") or "postgres"),
    )


def storage_gb(attrs: Mapping[str, Any]) -> int | None:
    """Allocated storage of a planned DB instance, if known."""
    value = attrs.get("allocated_storage")
    return int(value) if isinstance(value, int | float) else None


def is_protected(attrs: Mapping[str, Any]) -> bool:
    """Deletion protection as planned or in state."""
    return bool(attrs.get("deletion_protection"))


def final_snapshot_problem(attrs: Mapping[str, Any]) -> str | None:
    """Why deleting this instance would lose data, or None when a final snapshot is taken."""
    if attrs.get("skip_final_snapshot"):
        return "skip_final_snapshot is true"
    if not attrs.get("final_snapshot_identifier"):
        return "no final_snapshot_identifier"
    return None


def describe(client: RDSClient, names: Iterable[str]) -> dict[str, Observed]:
    """Describe each named DB instance (``missing`` when RDS does not know it).

    Raises:
        AwsError: the API failed for another reason than "not found".
    """
    out: dict[str, Observed] = {}
    for name in names:
        with aws_errors("rds", "DescribeDBInstances"):
            found = client.describe_db_instances(
                Filters=[{"Name": "db-instance-id", "Values": [name]}]
            )["DBInstances"]
        if not found:
            out[name] = Observed("missing")
            continue
        db = found[0]
        status = str(db.get("DBInstanceStatus"))
        out[name] = Observed(
            state="present" if status in RUNNING else status,
            instance_class=db.get("DBInstanceClass"),
            storage_gb=db.get("AllocatedStorage"),
            multi_az=db.get("MultiAZ"),
            protected=db.get("DeletionProtection"),
        )
    return out


def ensure_power(client: RDSClient, name: str, want: str) -> str | None:
    """Stop or start ``name`` so its status matches ``want``; returns what was done.

    Raises:
        AwsError: the call failed.
    """
    current = describe(client, [name])[name].state
    if want == "stopped" and current == "present":
        with aws_errors("rds", "StopDBInstance"):
            client.stop_db_instance(DBInstanceIdentifier=name)
        return "stopped"
    if want == "present" and current == "stopped":
        with aws_errors("rds", "StartDBInstance"):
            client.start_db_instance(DBInstanceIdentifier=name)
        return "started"
    return None
