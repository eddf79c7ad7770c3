"""Adoption by import: instances AWS already has are imported into Terraform, never created.

Without it the first plan of an estate made by hand creates every instance: RDS refuses a
second instance of the same identifier (``DBInstanceAlreadyExists``: identifiers are unique
per account and region, CreateDBInstance API reference) after the other creates already ran,
and EC2 launches a duplicate (a ``Name`` is only a tag). So, before planning, the reconcile:

1. lists the instances Terraform's state holds (``terraform state list``) — only when it plans:
   a tick whose inputs did not change makes no call at all;
2. describes each missing one through the read role — RDS by identifier, EC2 by ``Name`` tag
   among the instances not terminated (``pending``, ``running``, ``stopping``, ``stopped``;
   ``shutting-down`` is on its way out) — and keeps it only when it carries the project tag;
3. records what it found in ``ops.adoptions``. :func:`pipelines.shape.tfvars.render` turns a
   row into an ``imports`` entry (until the apply that imports it) and into the instance's
   ``adopted.found`` (for good): the force-replacing module inputs take the found values
   (:data:`pipelines.shape.forcenew.ADOPTED`), so adopting never plans a replacement.

What cannot be adopted is reported, not guessed: two live EC2 instances with the project tag
and the same ``Name`` (which one?), or an instance of that name without the project tag (not
Locxia's). The plan then creates the instance, and the ``create-existing`` guardrail refuses it
with the reason found here (:func:`pipelines.shape.guardrails.create_existing`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from infra.aws import AwsClients, aws_errors

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_rds import RDSClient

#: EC2 states of an instance that still exists (DescribeInstances ``instance-state-name``).
LIVE_EC2_STATES = ["pending", "running", "stopping", "stopped"]
_PRIMARY = re.compile(r'^module\.(rds|ec2)\["([^"]+)"\]\.[a-z0-9_]+\.this$')


@dataclass(frozen=True)
class Adoption:
    """An instance found in AWS and not in the state: imported by its ``aws_id``.

    Attributes:
        name: the ``params.instances`` name.
        kind: ``rds`` or ``ec2``.
        aws_id: the import id (DB instance identifier, EC2 instance id).
        found: its attributes as described, under the AWS provider's names.
        imported: the import was applied (the instance is in the state now).
    """

    name: str
    kind: str
    aws_id: str
    found: Mapping[str, Any]
    imported: bool = False


@dataclass
class Discovery:
    """What one discovery found: instances to import, names that AWS has but cannot give.

    ``existing`` maps a name to why it cannot be adopted (one line); ``checked`` holds every
    name described, found or not.
    """

    found: dict[str, Adoption] = field(default_factory=dict)
    existing: dict[str, str] = field(default_factory=dict)
    checked: set[str] = field(default_factory=set)

    def merge(self, other: Discovery) -> None:
        """Add what ``other`` found."""
        self.found.update(other.found)
        self.existing.update(other.existing)
        self.checked |= other.checked


def instances_in_state(addresses: Iterable[str]) -> set[str]:
    """Instances whose primary resource is in ``terraform state list`` output ``addresses``.

    A primary resource is ``module.<kind>["<name>"].<type>.this``.
    """
    return {m.group(2) for a in addresses if (m := _PRIMARY.match(a.strip()))}


# --- describe ---------------------------------------------------------------------------------
def _tags(items: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in items or ()}


def describe_rds(client: RDSClient, name: str, tag: tuple[str, str]) -> Discovery:
    """The DB instance ``name``, by identifier.

    Raises:
        AwsError: the API failed.
    """
    out = Discovery(checked={name})
    with aws_errors("rds", "DescribeDBInstances"):
        found = client.describe_db_instances(
            Filters=[{"Name": "db-instance-id", "Values": [name]}]
        )["DBInstances"]
    if not found:
        return out
    db: Mapping[str, Any] = found[0]
    tags = _tags(db.get("TagList"))
    if tags.get(tag[0]) != tag[1]:
        out.existing[name] = (
            f"RDS already has a DB instance {name} without the tag {tag[0]}={tag[1]}: tag it"
            " to adopt it, or give the row another name"
        )
        return out
    out.found[name] = Adoption(name, "rds", str(db["DBInstanceIdentifier"]), _rds_found(db, tags))
    return out


def _rds_found(db: Mapping[str, Any], tags: Mapping[str, str]) -> dict[str, Any]:
    return {
        "identifier": db["DBInstanceIdentifier"],
        "engine": db.get("Engine"),
        "engine_version": db.get("EngineVersion"),
        "instance_class": db.get("DBInstanceClass"),
        "allocated_storage": db.get("AllocatedStorage"),
        "storage_type": db.get("StorageType"),
        "multi_az": bool(db.get("MultiAZ")),
        "deletion_protection": bool(db.get("DeletionProtection")),
        "storage_encrypted": bool(db.get("StorageEncrypted")),
        "kms_key_id": db.get("KmsKeyId"),
        "username": db.get("MasterUsername"),
        # RDS manages the password in Secrets Manager iff it reports the secret.
        "manage_master_user_password": bool(db.get("MasterUserSecret")),
        "db_subnet_group_name": (db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
        "availability_zone": db.get("AvailabilityZone"),
        "tags": dict(tags),
    }


def describe_ec2(client: EC2Client, name: str, tag: tuple[str, str]) -> Discovery:
    """The live EC2 instance(s) tagged ``Name=name``.

    Raises:
        AwsError: the API failed.
    """
    out = Discovery(checked={name})
    with aws_errors("ec2", "DescribeInstances"):
        pages = client.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": "tag:Name", "Values": [name]},
                {"Name": "instance-state-name", "Values": LIVE_EC2_STATES},
            ]
        )
        found = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
    if not found:
        return out
    ours = [i for i in found if _tags(i.get("Tags")).get(tag[0]) == tag[1]]
    if len(ours) > 1:
        ids = ", ".join(sorted(str(i["InstanceId"]) for i in ours))
        out.existing[name] = (
            f"{len(ours)} live EC2 instances are named {name} ({ids}): cannot tell which to"
            " adopt; terminate or rename all but one"
        )
    elif not ours:
        ids = ", ".join(sorted(str(i["InstanceId"]) for i in found))
        out.existing[name] = (
            f"EC2 already has an instance named {name} without the tag {tag[0]}={tag[1]}"
            f" ({ids}): tag it to adopt it, or give the row another name"
        )
    else:
        inst: Mapping[str, Any] = ours[0]
        out.found[name] = Adoption(name, "ec2", str(inst["InstanceId"]), _ec2_found(client, inst))
    return out


def _ec2_found(client: EC2Client, inst: Mapping[str, Any]) -> dict[str, Any]:
    instance_id = str(inst["InstanceId"])
    with aws_errors("ec2", "DescribeInstanceAttribute"):
        protection = client.describe_instance_attribute(
            InstanceId=instance_id, Attribute="disableApiTermination"
        )["DisableApiTermination"].get("Value", False)
    root = _root_volume(client, inst)
    return {
        "id": instance_id,
        "name": _tags(inst.get("Tags")).get("Name"),
        "ami": inst.get("ImageId"),
        "instance_type": inst.get("InstanceType"),
        "subnet_id": inst.get("SubnetId"),
        "availability_zone": (inst.get("Placement") or {}).get("AvailabilityZone"),
        # AWS gives a public address only to an instance launched with one.
        "associate_public_ip_address": bool(inst.get("PublicIpAddress")),
        "ebs_optimized": bool(inst.get("EbsOptimized")),
        "key_name": inst.get("KeyName"),
        "disable_api_termination": bool(protection),
        "state": "stopped" if inst["State"]["Name"] in ("stopping", "stopped") else "running",
        "root_volume_gb": root.get("Size"),
        "root_volume_type": root.get("VolumeType"),
        "root_block_device.encrypted": bool(root.get("Encrypted")),
        "root_block_device.kms_key_id": root.get("KmsKeyId"),
        "tags": _tags(inst.get("Tags")),
    }


def _root_volume(client: EC2Client, inst: Mapping[str, Any]) -> Mapping[str, Any]:
    """The root EBS volume (the mapping of ``RootDeviceName``), or {} when it has none."""
    device = inst.get("RootDeviceName")
    ebs = [m for m in inst.get("BlockDeviceMappings", []) if "Ebs" in m]
    ids = [m["Ebs"]["VolumeId"] for m in ebs if m.get("DeviceName") == device] or [
        m["Ebs"]["VolumeId"]
        for m in ebs[:1]  # moto names the root device apart from it
    ]
    if not ids:
        return {}
    with aws_errors("ec2", "DescribeVolumes"):
        volumes = client.describe_volumes(VolumeIds=ids[:1])["Volumes"]
    return volumes[0] if volumes else {}


def discover(clients: AwsClients, wanted: Mapping[str, str], tag: tuple[str, str]) -> Discovery:
    """Describe each of ``wanted`` (name → kind) through the read role.

    Raises:
        AwsError: an API call failed (nothing is recorded then).
    """
    out = Discovery()
    if not wanted:
        return out
    kinds = set(wanted.values())
    rds = clients.client("rds", role="read") if "rds" in kinds else None
    ec2 = clients.client("ec2", role="read") if "ec2" in kinds else None
    for name, kind in sorted(wanted.items()):
        if kind == "rds" and rds is not None:
            out.merge(describe_rds(rds, name, tag))
        elif ec2 is not None:
            out.merge(describe_ec2(ec2, name, tag))
    return out


# --- ops.adoptions ----------------------------------------------------------------------------
def load(conn: psycopg.Connection[Any]) -> dict[str, Adoption]:
    """Every adoption recorded, by name."""
    rows = conn.execute(
        "SELECT name, kind, aws_id, found, imported_at IS NOT NULL FROM ops.adoptions"
    ).fetchall()
    return {r[0]: Adoption(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows}


def save(conn: psycopg.Connection[Any], found: Iterable[Adoption]) -> int:
    """Record (or refresh) pending adoptions; returns how many rows changed."""
    changed = 0
    for a in found:
        changed += conn.execute(
            "INSERT INTO ops.adoptions (name, kind, aws_id, found) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, aws_id = EXCLUDED.aws_id,"
            " found = EXCLUDED.found, found_at = clock_timestamp(), imported_run_id = NULL,"
            " imported_at = NULL WHERE (ops.adoptions.kind, ops.adoptions.aws_id,"
            " ops.adoptions.found, ops.adoptions.imported_at IS NULL) IS DISTINCT FROM"
            " (EXCLUDED.kind, EXCLUDED.aws_id, EXCLUDED.found, true)",
            (a.name, a.kind, a.aws_id, Jsonb(dict(a.found))),
        ).rowcount
    return changed


def forget(conn: psycopg.Connection[Any], names: Iterable[str]) -> int:
    """Drop pending adoptions of instances AWS no longer has (Terraform will create them)."""
    return conn.execute(
        "DELETE FROM ops.adoptions WHERE name = ANY(%s) AND imported_at IS NULL",
        (sorted(names),),
    ).rowcount


def mark_imported(conn: psycopg.Connection[Any], names: Iterable[str], run_id: int | None) -> int:
    """Record that the state holds these instances now (``run_id``: the apply that did it)."""
    return conn.execute(
        "UPDATE ops.adoptions SET imported_run_id = %s, imported_at = clock_timestamp()"
        " WHERE name = ANY(%s) AND imported_at IS NULL",
        (run_id, sorted(names)),
    ).rowcount
