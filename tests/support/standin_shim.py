"""What the stand-in root module's provisioners run: RDS/EC2 calls against the moto server.

Invoked by Terraform's ``local-exec`` as ``$LOCXIA_STANDIN_SHIM <action> '<json>'``, with the
moto endpoint in ``LOCXIA_STANDIN_ENDPOINT``. It does what the AWS provider would do for the
same change, so the drift check afterwards sees real (moto) resources.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import boto3


def _client(service: str, spec: dict[str, Any]) -> Any:
    return boto3.client(
        service, endpoint_url=os.environ["LOCXIA_STANDIN_ENDPOINT"], region_name=spec["region"]
    )


def _tags(spec: dict[str, Any]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(spec["tags"].items())]


def rds_create(spec: dict[str, Any]) -> None:
    _client("rds", spec).create_db_instance(
        DBInstanceIdentifier=spec["identifier"],
        Engine=spec["engine"],
        EngineVersion=spec["engine_version"],
        DBInstanceClass=spec["instance_class"],
        AllocatedStorage=spec["allocated_storage"],
        StorageType=spec["storage_type"],
        MultiAZ=spec["multi_az"],
        DeletionProtection=spec["deletion_protection"],
        StorageEncrypted=True,
        MasterUsername="locxia_admin",
        ManageMasterUserPassword=True,
        Tags=_tags(spec),
    )


def rds_modify(spec: dict[str, Any]) -> None:
    _client("rds", spec).modify_db_instance(
        DBInstanceIdentifier=spec["identifier"],
        DBInstanceClass=spec["instance_class"],
        AllocatedStorage=spec["allocated_storage"],
        MultiAZ=spec["multi_az"],
        DeletionProtection=spec["deletion_protection"],
        ApplyImmediately=True,
    )


def rds_delete(spec: dict[str, Any]) -> None:
    if spec["skip_final_snapshot"] or not spec["final_snapshot_identifier"]:
        sys.exit("refusing to delete without a final snapshot")
    _client("rds", spec).delete_db_instance(
        DBInstanceIdentifier=spec["identifier"],
        SkipFinalSnapshot=False,
        FinalDBSnapshotIdentifier=spec["final_snapshot_identifier"],
    )


def _ec2_id(ec2: Any, name: str) -> str:
    found = ec2.describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": [name]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopped"]},
        ]
    )
    ids = [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]
    if len(ids) != 1:
        sys.exit(f"expected one instance named {name}, found {ids}")
    return str(ids[0])


def ec2_create(spec: dict[str, Any]) -> None:
    _client("ec2", spec).run_instances(
        ImageId=spec["ami"],
        InstanceType=spec["instance_type"],
        MinCount=1,
        MaxCount=1,
        DisableApiTermination=spec["disable_api_termination"],
        BlockDeviceMappings=[
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {
                    "VolumeSize": spec["root_volume_gb"],
                    "VolumeType": spec["root_volume_type"],
                    "Encrypted": True,
                },
            }
        ],
        TagSpecifications=[{"ResourceType": "instance", "Tags": _tags(spec)}],
    )


def ec2_modify(spec: dict[str, Any]) -> None:
    ec2 = _client("ec2", spec)
    instance_id = _ec2_id(ec2, spec["name"])
    current = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    if current["InstanceType"] != spec["instance_type"]:
        ec2.stop_instances(InstanceIds=[instance_id])  # AWS: type changes need a stopped instance
        ec2.modify_instance_attribute(
            InstanceId=instance_id, InstanceType={"Value": spec["instance_type"]}
        )
    if spec["state"] == "running":
        ec2.start_instances(InstanceIds=[instance_id])
    else:
        ec2.stop_instances(InstanceIds=[instance_id])


def ec2_terminate(spec: dict[str, Any]) -> None:
    ec2 = _client("ec2", spec)
    ec2.terminate_instances(InstanceIds=[_ec2_id(ec2, spec["name"])])


ACTIONS = {
    "rds-create": rds_create,
    "rds-modify": rds_modify,
    "rds-delete": rds_delete,
    "ec2-create": ec2_create,
    "ec2-modify": ec2_modify,
    "ec2-terminate": ec2_terminate,
}

if __name__ == "__main__":
    ACTIONS[sys.argv[1]](json.loads(sys.argv[2]))
