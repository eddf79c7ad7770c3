"""The scenario's estate created in the stand-in AWS, over HTTP like any client (idempotent).

Creation only adds what is missing: running it twice against the same endpoint leaves one of
each resource, and resources something else created first (the instances Terraform builds
from the week's rows) are counted as existing. Production code never imports moto: these
are plain boto3 calls through :class:`~infra.aws.AwsClients`, aimed at the stand-in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from infra.aws import AwsClients, aws_errors
from infra.demo.scenario.estate import DemoResource, Estate
from infra.errors import DemoError

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import VolumeTypeType

DEMO_AMI = "ami-0locxia0demo0000"  # moto accepts any image id; real AWS would not
LIVE_STATES = ["pending", "running", "stopping", "stopped"]


@dataclass
class Created:
    """What :func:`create_estate` found and added, by kind, and every resource's AWS id."""

    created: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def as_details(self) -> dict[str, Any]:
        """JSON-able summary for the run record."""
        return {"created": self.created, "existing": self.existing, "resources": len(self.ids)}

    def count(self, kind: str, created: bool) -> None:
        """One more resource of ``kind``, created now or found."""
        bucket = self.created if created else self.existing
        bucket[kind] = bucket.get(kind, 0) + 1


def _aws_tags(tags: Mapping[str, str]) -> list[Any]:
    """AWS tag list; ``Any`` items: the RDS, EC2 and S3 stubs each declare their own tag type."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def create_estate(clients: AwsClients, estate: Estate, region: str) -> Created:
    """Create whatever of ``estate`` is missing; return counts and every resource's AWS id.

    Raises:
        AwsError: an AWS call failed (translated once, in :mod:`infra.aws`).
    """
    out = Created()
    _create_databases(clients, estate, out)
    _create_servers(clients, estate, out)
    _create_volumes(clients, estate, region, out)
    _create_buckets(clients, estate, region, out)
    return out


def _create_databases(clients: AwsClients, estate: Estate, out: Created) -> None:
    rds = clients.client("rds", role="write")
    with aws_errors("rds", "DescribeDBInstances"):
        pages = rds.get_paginator("describe_db_instances").paginate()
        present = {db["DBInstanceIdentifier"] for page in pages for db in page["DBInstances"]}
    for resource in estate.of("rds"):
        if resource.name not in present:
            with aws_errors("rds", "CreateDBInstance"):
                rds.create_db_instance(
                    DBInstanceIdentifier=resource.name,
                    DBInstanceClass=resource.size,
                    Engine="postgres",
                    AllocatedStorage=resource.storage_gb,
                    StorageType="gp3",
                    MasterUsername="locxia",
                    ManageMasterUserPassword=True,  # no password in the demo, as in production
                    DeletionProtection=resource.tagged,
                    Tags=_aws_tags(estate.tags(resource)),
                )
        out.count("rds", resource.name not in present)
        out.ids[resource.name] = resource.name


def _create_servers(clients: AwsClients, estate: Estate, out: Created) -> None:
    ec2 = clients.client("ec2", role="write")
    present = running_servers(ec2)
    for resource in estate.of("ec2"):
        missing = resource.name not in present
        if missing:
            present[resource.name] = _run_instance(ec2, estate, resource)
        out.count("ec2", missing)
        out.ids[resource.name] = present[resource.name]


def _run_instance(ec2: Any, estate: Estate, resource: DemoResource) -> str:
    tags = _aws_tags(estate.tags(resource))
    specs = [{"ResourceType": "instance", "Tags": tags}]
    if resource.volume_tags:
        specs.append({"ResourceType": "volume", "Tags": tags})
    with aws_errors("ec2", "RunInstances"):
        reply = ec2.run_instances(
            ImageId=DEMO_AMI,
            InstanceType=resource.size,
            MinCount=1,
            MaxCount=1,
            DisableApiTermination=resource.protected,
            BlockDeviceMappings=[
                {
                    "DeviceName": "/dev/xvda",
                    "Ebs": {"VolumeSize": resource.storage_gb, "VolumeType": "gp3"},
                }
            ],
            TagSpecifications=specs,
        )
    instance_id = str(reply["Instances"][0]["InstanceId"])
    if resource.protected:  # moto ignores RunInstances' DisableApiTermination; AWS honours it
        with aws_errors("ec2", "ModifyInstanceAttribute"):
            ec2.modify_instance_attribute(
                InstanceId=instance_id, DisableApiTermination={"Value": True}
            )
    return instance_id


def _create_volumes(clients: AwsClients, estate: Estate, region: str, out: Created) -> None:
    """Data volumes, attached to their instance (which :func:`_create_servers` made)."""
    ec2 = clients.client("ec2", role="write")
    present = _named_volumes(ec2)
    for resource in estate.of("ebs"):
        missing = resource.name not in present
        if missing:
            server = out.ids[resource.attached_to]
            with aws_errors("ec2", "CreateVolume"):
                volume = ec2.create_volume(
                    AvailabilityZone=_zone_of(ec2, server, region),
                    Size=resource.storage_gb,
                    VolumeType=cast("VolumeTypeType", resource.size),
                    TagSpecifications=[
                        {"ResourceType": "volume", "Tags": _aws_tags(estate.tags(resource))}
                    ],
                )["VolumeId"]
            with aws_errors("ec2", "AttachVolume"):
                ec2.attach_volume(VolumeId=volume, InstanceId=server, Device="/dev/sdf")
            present[resource.name] = str(volume)
        out.count("ebs", missing)
        out.ids[resource.name] = present[resource.name]


def _zone_of(ec2: Any, instance_id: str, region: str) -> str:
    with aws_errors("ec2", "DescribeInstances"):
        reply = ec2.describe_instances(InstanceIds=[instance_id])
    for reservation in reply["Reservations"]:
        for instance in reservation["Instances"]:
            return str(instance["Placement"]["AvailabilityZone"])
    return f"{region}a"


def _named_volumes(ec2: Any) -> dict[str, str]:
    """``Name`` tag → volume id of the volumes carrying one."""
    with aws_errors("ec2", "DescribeVolumes"):
        pages = ec2.get_paginator("describe_volumes").paginate(
            Filters=[{"Name": "tag-key", "Values": ["Name"]}]
        )
        found: dict[str, str] = {}
        for page in pages:
            for volume in page["Volumes"]:
                tags = {t["Key"]: t["Value"] for t in volume.get("Tags", [])}
                found.setdefault(tags["Name"], volume["VolumeId"])
    return found


def resource_ids(clients: AwsClients, estate: Estate) -> dict[str, str]:
    """Every resource's AWS id (instance or volume id for EC2 and EBS; the name otherwise).

    Raises:
        DemoError: an instance or volume of the estate does not exist (create the estate
            first).
    """
    ec2 = clients.client("ec2", role="read")
    found = {"ec2": running_servers(ec2), "ebs": _named_volumes(ec2) if estate.of("ebs") else {}}
    ids: dict[str, str] = {}
    for r in estate.resources:
        ids[r.name] = found[r.kind].get(r.name, "") if r.kind in found else r.name
    missing = [name for name, aws_id in ids.items() if not aws_id]
    if missing:
        raise DemoError(f"demo instances missing: {', '.join(missing)} (create the estate first)")
    return ids


def running_servers(ec2: Any) -> dict[str, str]:
    """``Name`` tag → instance id of the instances not terminated."""
    with aws_errors("ec2", "DescribeInstances"):
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": LIVE_STATES}]
        )
        found: dict[str, str] = {}
        for page in pages:
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
                    if "Name" in tags:
                        found.setdefault(tags["Name"], instance["InstanceId"])
    return found


def _create_buckets(clients: AwsClients, estate: Estate, region: str, out: Created) -> None:
    s3 = clients.client("s3", role="write")
    with aws_errors("s3", "ListBuckets"):
        present = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for resource in estate.of("s3"):
        if resource.name not in present:
            # us-east-1 is the one region that refuses an explicit location constraint.
            where: dict[str, Any] = {}
            if region != "us-east-1":
                where["CreateBucketConfiguration"] = {"LocationConstraint": region}
            with aws_errors("s3", "CreateBucket"):
                s3.create_bucket(Bucket=resource.name, **where)
        with aws_errors("s3", "PutBucketTagging"):  # idempotent: sets the whole tag set
            s3.put_bucket_tagging(
                Bucket=resource.name, Tagging={"TagSet": _aws_tags(estate.tags(resource))}
            )
        out.count("s3", resource.name not in present)
        out.ids[resource.name] = resource.name
