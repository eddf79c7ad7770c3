"""RDS rules and calls: attributes of a planned DB instance, describe, stop and start.

Where RDS differs from EC2: storage only grows (≥ 10 %, once per 6 h — see validation), a
deletion must leave a final snapshot, and stopping is not a Terraform attribute: the
orchestrator stops and starts instances through the API on every tick
(:mod:`pipelines.shape.power`, which also holds the states AWS accepts each call from).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import psycopg

from infra.aws import aws_errors
from pipelines.shape.sizing import Observed, Sizing

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient


#: Statuses in which the instance is powered on as Terraform left it (drift's ``present``).
#: Power semantics only: whether a status is *billed* is :mod:`infra.billing`'s question.
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
        iops=_number(attrs.get("iops")),
        throughput=_number(attrs.get("storage_throughput")),
        engine_version=_text(attrs.get("engine_version")),
        log_exports=tuple(sorted(attrs.get("enabled_cloudwatch_logs_exports") or ())),
    )


def _text(value: Any) -> str | None:
    """A planned string (None when unset or unknown until apply)."""
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> int | None:
    """A planned number (None when unset, unknown or 0: the provider reports 0 for none)."""
    return int(value) if isinstance(value, int | float) and value > 0 else None


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
            engine_version=db.get("EngineVersion"),
            status=status,
        )
    return out


def major(version: str | None) -> str | None:
    """``16.4`` → ``16`` (PostgreSQL 10 and later number majors with one integer)."""
    return None if version is None else version.split(".", 1)[0]


def record_versions(
    conn: psycopg.Connection[Any],
    expected: Mapping[str, Mapping[str, Any]],
    seen: Mapping[str, Observed],
    run_id: int | None,
) -> dict[str, str]:
    """Store the engine version AWS reports for each described RDS instance; returns them."""
    out: dict[str, str] = {}
    for name, want in sorted(expected.items()):
        actual = seen.get(name)
        if want.get("kind") != "rds" or actual is None or not actual.engine_version:
            continue
        conn.execute(
            "INSERT INTO ops.engine_versions (instance, engine, wanted_major, actual_version,"
            " terraform_run_id) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (instance) DO UPDATE"
            " SET engine = EXCLUDED.engine, wanted_major = EXCLUDED.wanted_major,"
            " actual_version = EXCLUDED.actual_version, observed_at = clock_timestamp(),"
            " terraform_run_id = EXCLUDED.terraform_run_id",
            (name, want.get("engine"), want.get("engine_version"), actual.engine_version, run_id),
        )
        out[name] = actual.engine_version
    return out
