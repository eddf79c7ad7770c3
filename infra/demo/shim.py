"""What the stand-in root module's provisioners run: RDS/EC2 calls against the stand-in AWS.

The AWS provider cannot be downloaded offline, so the stand-in module (``infra/demo/terraform``)
realises each instance with ``terraform_data`` whose ``local-exec`` provisioners run
``$LOCXIA_STANDIN_SHIM <action> '<json>'`` — this file, run by the demo's own Python
(``sys.executable``) — with the endpoint in ``LOCXIA_STANDIN_ENDPOINT``. It does what the AWS
provider would do for the same change, so the drift check afterwards sees real (moto)
resources.

*create* creates, as the provider does: an RDS identifier that exists already fails with
``DBInstanceAlreadyExists``, and an EC2 ``Name`` that exists already gets a second instance.
Instances that exist before Terraform knows them are imported (``import`` blocks written from
discovery, :mod:`pipelines.shape.adopt`), never created; the ``create-existing`` guardrail
refuses a plan that would create one anyway. The network settings (subnet, security groups)
are not sent: the stand-in's network values name nothing moto knows.

It runs as a script in Terraform's worker process: it imports boto3 only, never the product.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Callable
from typing import Any, Literal

import boto3

Spec = dict[str, Any]


def _client(service: Literal["rds", "ec2"], spec: Spec) -> Any:
    return boto3.client(
        service, endpoint_url=os.environ["LOCXIA_STANDIN_ENDPOINT"], region_name=spec["region"]
    )


def _tags(spec: Spec) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(spec["tags"].items())]


def rds_create(spec: Spec) -> None:
    """Create the RDS instance of ``spec`` (fails when the identifier exists, as in AWS)."""
    rds = _client("rds", spec)
    if spec.get("snapshot_identifier"):
        rds_restore(spec)
        return
    rds.create_db_instance(
        DBInstanceIdentifier=spec["identifier"],
        Engine=spec["engine"],
        EngineVersion=spec["engine_version"],
        DBInstanceClass=spec["instance_class"],
        AllocatedStorage=spec["allocated_storage"],
        StorageType=spec["storage_type"],
        MultiAZ=spec["multi_az"],
        DeletionProtection=spec["deletion_protection"],
        StorageEncrypted=spec["storage_encrypted"],
        MasterUsername=spec["username"],
        ManageMasterUserPassword=spec["manage_master_user_password"],
        Tags=_tags(spec),
    )


def rds_restore(spec: Spec) -> None:
    """Create the instance from ``snapshot_identifier`` (a rebuild), then bring it to the spec.

    Like the provider: RestoreDBInstanceFromDBSnapshot, then ModifyDBInstance for what the
    restore does not take (storage size).
    """
    _client("rds", spec).restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=spec["identifier"],
        DBSnapshotIdentifier=spec["snapshot_identifier"],
        DBInstanceClass=spec["instance_class"],
        StorageType=spec["storage_type"],
        MultiAZ=spec["multi_az"],
        DeletionProtection=spec["deletion_protection"],
        Tags=_tags(spec),
    )
    rds_modify(spec)


def rds_modify(spec: Spec) -> None:
    """Class, storage, Multi-AZ and deletion protection, applied immediately."""
    _client("rds", spec).modify_db_instance(
        DBInstanceIdentifier=spec["identifier"],
        DBInstanceClass=spec["instance_class"],
        AllocatedStorage=spec["allocated_storage"],
        MultiAZ=spec["multi_az"],
        DeletionProtection=spec["deletion_protection"],
        ApplyImmediately=True,
    )


def rds_delete(spec: Spec) -> None:
    """Delete with a final snapshot; refuse without one (as the guardrails require)."""
    if spec["skip_final_snapshot"] or not spec["final_snapshot_identifier"]:
        sys.exit("refusing to delete without a final snapshot")
    _client("rds", spec).delete_db_instance(
        DBInstanceIdentifier=spec["identifier"],
        SkipFinalSnapshot=False,
        FinalDBSnapshotIdentifier=spec["final_snapshot_identifier"],
    )


def _ec2_ids(ec2: Any, name: str) -> list[str]:
    found = ec2.describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": [name]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopped"]},
        ]
    )
    return [str(i["InstanceId"]) for r in found["Reservations"] for i in r["Instances"]]


def _ec2_id(ec2: Any, name: str) -> str:
    ids = _ec2_ids(ec2, name)
    if len(ids) != 1:
        sys.exit(f"expected one instance named {name}, found {ids}")
    return ids[0]


def _user_data() -> dict[str, str]:
    """``UserData`` of RunInstances from ``LOCXIA_STANDIN_USER_DATA`` (base64), if any.

    The stand-in module passes the script base64-encoded in the environment; boto3 encodes
    ``UserData`` itself for RunInstances, so the decoded text is sent, as the provider sends it.
    """
    encoded = os.environ.get("LOCXIA_STANDIN_USER_DATA", "")
    return {"UserData": base64.b64decode(encoded).decode()} if encoded else {}


def ec2_create(spec: Spec) -> None:
    """Run the EC2 instance of ``spec`` (a second one when the name exists, as in AWS)."""
    ec2 = _client("ec2", spec)
    ec2.run_instances(
        **_user_data(),
        ImageId=spec["ami"],
        InstanceType=spec["instance_type"],
        MinCount=1,
        MaxCount=1,
        DisableApiTermination=spec["disable_api_termination"],
        EbsOptimized=spec["ebs_optimized"],
        BlockDeviceMappings=[
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {
                    "VolumeSize": spec["root_volume_gb"],
                    "VolumeType": spec["root_volume_type"],
                    "Encrypted": spec["root_volume_encrypted"],
                },
            }
        ],
        TagSpecifications=[{"ResourceType": "instance", "Tags": _tags(spec)}],
    )


def ec2_modify(spec: Spec) -> None:
    """Termination protection, type (stopping first, as AWS requires), then the power state."""
    ec2 = _client("ec2", spec)
    instance_id = _ec2_id(ec2, spec["name"])
    ec2.modify_instance_attribute(
        InstanceId=instance_id, DisableApiTermination={"Value": spec["disable_api_termination"]}
    )
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


def ec2_terminate(spec: Spec) -> None:
    """Terminate the instance named in ``spec``."""
    ec2 = _client("ec2", spec)
    ec2.terminate_instances(InstanceIds=[_ec2_id(ec2, spec["name"])])


ACTIONS: dict[str, Callable[[Spec], None]] = {
    "rds-create": rds_create,
    "rds-modify": rds_modify,
    "rds-delete": rds_delete,
    "ec2-create": ec2_create,
    "ec2-modify": ec2_modify,
    "ec2-terminate": ec2_terminate,
}

if __name__ == "__main__":
    ACTIONS[sys.argv[1]](json.loads(sys.argv[2]))
