"""Adoption by import: an estate made through the AWS API is imported, never created.

Real Terraform core, the stand-in root module and the moto server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.db import connect
from infra.settings import Settings
from pipelines.shape.reconcile import Reconciler

pytestmark = pytest.mark.slow

AMI = "ami-0123456789abcdef0"


def _summary(settings: Settings, run_id: int | None) -> dict[str, Any]:
    with connect(settings.require_database_url()) as conn:
        row = conn.execute(
            "SELECT plan_summary FROM ops.terraform_runs WHERE id = %s", (run_id,)
        ).fetchone()
    assert row is not None
    return dict(row[0])


def _server(ec2_client: Any, name: str, tags: dict[str, str]) -> str:
    reply = ec2_client.run_instances(
        ImageId=AMI,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        DisableApiTermination=False,
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}
        ],
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in {"Name": name, **tags}.items()],
            }
        ],
    )
    return str(reply["Instances"][0]["InstanceId"])


def _live(ec2_client: Any, name: str) -> list[str]:
    found = ec2_client.describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": [name]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopped"]},
        ]
    )
    return [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]


def test_an_estate_made_by_hand_is_imported_then_plans_no_change(
    reconciler: Reconciler,
    edit: Callable[..., Any],
    rds_client: Any,
    ec2_client: Any,
    shape_settings: Settings,
) -> None:
    # the estate exists before the first reconcile, made through the API (not Terraform), with
    # a master user name and encryption that differ from what the module would create
    rds_client.create_db_instance(
        DBInstanceIdentifier="work-db",
        DBInstanceClass="db.t4g.large",
        Engine="postgres",
        AllocatedStorage=100,
        StorageType="gp3",
        MasterUsername="handmade",
        MasterUserPassword="not-managed-1",
        StorageEncrypted=False,
        Tags=[{"Key": "project", "Value": "locxia"}],
    )
    server = _server(ec2_client, "ingest-vm", {"project": "locxia"})
    edit("work-db", kind="rds", instance_class="db.t4g.large", storage_gb=100,
         engine="postgres", engine_version="16")  # fmt: skip
    edit("ingest-vm", kind="ec2", instance_class="t3.micro", storage_gb=8)

    first = reconciler.run(mode="apply", requested_by="alice")
    assert first.status == "applied", first
    summary = _summary(shape_settings, first.run_id)
    assert summary["create"] == 0 and summary["replace"] == 0 and summary["delete"] == 0
    assert summary["import"] == 2
    assert sorted((c["instance"], c["importing"]) for c in first.changes) == [
        ("ingest-vm", True),
        ("work-db", True),
    ]
    # nothing created, nothing replaced: the same database and the same server
    assert len(rds_client.describe_db_instances()["DBInstances"]) == 1
    db = rds_client.describe_db_instances(DBInstanceIdentifier="work-db")["DBInstances"][0]
    assert db["MasterUsername"] == "handmade" and not db["StorageEncrypted"]
    assert _live(ec2_client, "ingest-vm") == [server]
    assert first.monthly_before == first.monthly_after  # priced as AWS has it

    # the import is done: the next tick plans once more (imports gone) and finds no change
    again = reconciler.run(mode="apply", requested_by="scheduler")
    assert again.status == "no_changes", again
    assert _summary(shape_settings, again.run_id)["import"] == 0
    forced = reconciler.run(mode="apply", requested_by="alice", force=True)
    assert forced.status == "no_changes", forced
    assert reconciler.run(mode="apply", requested_by="scheduler").skipped
    with connect(shape_settings.require_database_url()) as conn:
        rows = conn.execute(
            "SELECT name, aws_id, imported_run_id FROM ops.adoptions ORDER BY name"
        ).fetchall()
    assert rows == [("ingest-vm", server, first.run_id), ("work-db", "work-db", first.run_id)]


@pytest.mark.parametrize(
    ("tagged", "reason"),
    [
        ((False,), "without the tag project=locxia"),
        ((True, True), "2 live EC2 instances are named ingest-vm"),
    ],
    ids=["not-ours", "ambiguous"],
)
def test_a_create_of_a_name_aws_has_is_refused(
    reconciler: Reconciler,
    edit: Callable[..., Any],
    ec2_client: Any,
    tagged: tuple[bool, ...],
    reason: str,
) -> None:
    made = [_server(ec2_client, "ingest-vm", {"project": "locxia"} if t else {}) for t in tagged]
    edit("ingest-vm", kind="ec2", instance_class="t3.micro", storage_gb=8)
    refused = reconciler.run(mode="apply", requested_by="alice")
    assert refused.status == "rejected", refused
    findings = [r for r in refused.reasons if r["rule"] == "create-existing"]
    assert len(findings) == 1 and reason in findings[0]["message"]
    assert "\n" not in findings[0]["message"]
    assert sorted(_live(ec2_client, "ingest-vm")) == sorted(made)  # no duplicate launched
