"""The demo estate: a believable Locxia platform on AWS, as data, and its creation (idempotent).

A small geospatial data platform: a working database where layers are refined at night, an
exposure database serving applications by day, an ingestion worker, a tile server, the three
zone buckets — all tagged ``project=locxia`` — and a forgotten scratch database that nobody
connects to (the idle resource recommendations should find). Untagged neighbours (another
team's database, a bastion, a website bucket) share the account, so discovery has something
to leave out.

Creation only adds what is missing: running it twice against the same endpoint leaves one of
each resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from infra.aws import AwsClients, aws_errors
from infra.errors import DemoError, InputError
from infra.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import InstanceTypeType

Kind = Literal["rds", "ec2", "s3"]
Profile = Literal["batch", "web", "office", "idle"]

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")
DEMO_AMI = "ami-0locxia0demo0000"  # moto accepts any image id; real AWS would not


@dataclass(frozen=True)
class DemoResource:
    """One resource of the estate.

    Attributes:
        kind: ``rds``, ``ec2`` or ``s3``.
        name: RDS identifier, EC2 ``Name`` tag, or bucket name.
        size: RDS instance class, EC2 instance type, or S3 storage class (price catalog keys).
        storage_gb: RDS allocated storage, EC2 root volume, or S3 data at the start of the week.
        profile: its load over a day (see :mod:`infra.demo.loads`).
        tagged: carries the Locxia tag (else a neighbour discovery must leave out).
        role: what it is for, in a few words (the demo prints it).
        growth_gb_per_day: S3 only: how fast the bucket fills.
        zone: S3 only: the zone the bucket holds (landing, working, exposure).
    """

    kind: Kind
    name: str
    size: str
    storage_gb: int
    profile: Profile
    tagged: bool = True
    role: str = ""
    growth_gb_per_day: float = 0.0
    zone: str = ""

    def __post_init__(self) -> None:
        where = f"demo estate[{self.name}]"
        if not self.name or not set(self.name) <= _NAME_CHARS or len(self.name) > 63:
            raise InputError("name must be 1-63 of a-z, 0-9, '-'", where)
        if self.storage_gb <= 0:
            raise InputError(f"storage_gb must be positive, got {self.storage_gb}", where)
        if self.kind != "s3" and (self.growth_gb_per_day or self.zone):
            raise InputError("growth and zone apply to buckets only", where)


@dataclass(frozen=True)
class Estate:
    """The whole estate, and the tag that marks Locxia's part of it."""

    resources: tuple[DemoResource, ...]
    tag_key: str = "project"
    tag_value: str = "locxia"

    def __post_init__(self) -> None:
        names = [r.name for r in self.resources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InputError(f"duplicate names {', '.join(duplicates)}", "demo estate")

    def of(self, kind: Kind) -> tuple[DemoResource, ...]:
        """The resources of one kind, in estate order."""
        return tuple(r for r in self.resources if r.kind == kind)

    @property
    def tagged(self) -> tuple[DemoResource, ...]:
        """Locxia's resources (what discovery must find)."""
        return tuple(r for r in self.resources if r.tagged)

    def tags(self, resource: DemoResource) -> dict[str, str]:
        """AWS tags of ``resource``: ``Name`` always, the Locxia tag when it is tagged."""
        tags = {"Name": resource.name}
        if resource.tagged:
            tags[self.tag_key] = self.tag_value
            tags["team"] = "geodata"
        else:
            tags["team"] = "neighbours"
        if resource.zone:
            tags["zone"] = resource.zone
        return tags

    def zone_buckets(self) -> dict[str, str]:
        """Zone name → bucket name, for the buckets that hold a zone."""
        return {r.zone: r.name for r in self.of("s3") if r.zone}


DEFAULT_RESOURCES: tuple[DemoResource, ...] = (
    DemoResource("rds", "work-db", "db.r6g.large", 500, "batch", role="working zone, nightly"),
    DemoResource("rds", "expo-db", "db.t4g.large", 200, "web", role="exposure zone, serves apps"),
    DemoResource("rds", "scratch-db", "db.t4g.medium", 100, "idle", role="forgotten copy"),
    DemoResource("rds", "crm-db", "db.t4g.small", 50, "office", tagged=False, role="sales CRM"),
    DemoResource("ec2", "ingest-worker", "c6i.xlarge", 100, "batch", role="nightly ingestion"),
    DemoResource("ec2", "tiles-server", "t3.large", 50, "web", role="vector tiles by day"),
    DemoResource("ec2", "bastion", "t3.micro", 8, "office", tagged=False, role="ops bastion"),
    DemoResource(
        "s3", "locxia-demo-landing", "standard", 120, "batch", role="raw files as received",
        growth_gb_per_day=4.0, zone="landing",
    ),
    DemoResource(
        "s3", "locxia-demo-working", "standard", 80, "batch", role="cleaned GeoParquet",
        growth_gb_per_day=1.5, zone="working",
    ),
    DemoResource(
        "s3", "locxia-demo-exposure", "standard", 30, "web", role="published extracts",
        growth_gb_per_day=0.5, zone="exposure",
    ),
    DemoResource(
        "s3", "acme-website-assets", "standard", 15, "office", tagged=False, role="website"
    ),
)  # fmt: skip


def default_estate(settings: Settings) -> Estate:
    """The demo estate, tagged with the tag the settings say marks Locxia's resources."""
    return Estate(DEFAULT_RESOURCES, settings.tag_key, settings.tag_value)


@dataclass
class Created:
    """What :func:`create_estate` found and added, by kind, and every resource's AWS id."""

    created: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def as_details(self) -> dict[str, Any]:
        """JSON-able summary for the run record."""
        return {"created": self.created, "existing": self.existing, "resources": len(self.ids)}


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
    _create_buckets(clients, estate, region, out)
    return out


def _count(out: Created, kind: str, created: bool) -> None:
    bucket = out.created if created else out.existing
    bucket[kind] = bucket.get(kind, 0) + 1


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
        _count(out, "rds", resource.name not in present)
        out.ids[resource.name] = resource.name


def _create_servers(clients: AwsClients, estate: Estate, out: Created) -> None:
    ec2 = clients.client("ec2", role="write")
    present = _running_servers(ec2)
    for resource in estate.of("ec2"):
        if resource.name not in present:
            tags = _aws_tags(estate.tags(resource))
            with aws_errors("ec2", "RunInstances"):
                reply = ec2.run_instances(
                    ImageId=DEMO_AMI,
                    InstanceType=cast("InstanceTypeType", resource.size),
                    MinCount=1,
                    MaxCount=1,
                    BlockDeviceMappings=[
                        {
                            "DeviceName": "/dev/xvda",
                            "Ebs": {"VolumeSize": resource.storage_gb, "VolumeType": "gp3"},
                        }
                    ],
                    TagSpecifications=[
                        {"ResourceType": "instance", "Tags": tags},
                        {"ResourceType": "volume", "Tags": tags},
                    ],
                )
            present[resource.name] = reply["Instances"][0]["InstanceId"]
            _count(out, "ec2", True)
        else:
            _count(out, "ec2", False)
        out.ids[resource.name] = present[resource.name]


def resource_ids(clients: AwsClients, estate: Estate) -> dict[str, str]:
    """Every resource's AWS id (instance id for EC2; the name for RDS and S3).

    Raises:
        DemoError: an instance of the estate does not exist (create the estate first).
    """
    servers = _running_servers(clients.client("ec2", role="read"))
    missing = [r.name for r in estate.of("ec2") if r.name not in servers]
    if missing:
        raise DemoError(f"demo instances missing: {', '.join(missing)} (create the estate first)")
    return {r.name: servers[r.name] if r.kind == "ec2" else r.name for r in estate.resources}


def _running_servers(ec2: Any) -> dict[str, str]:
    """``Name`` tag → instance id of the instances not terminated."""
    live = ["pending", "running", "stopping", "stopped"]
    with aws_errors("ec2", "DescribeInstances"):
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": live}]
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
        _count(out, "s3", resource.name not in present)
        out.ids[resource.name] = resource.name
