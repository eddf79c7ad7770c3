# Two roles the orchestrator assumes: "read" to observe, "write" to shape.
# The write role may create resources only when the request tags them with the project tag,
# and modify, stop or delete only resources that already carry it.
data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "AWS"
      identifiers = var.trusted_principal_arns
    }
  }
}

data "aws_iam_policy_document" "read" {
  #checkov:skip=CKV_AWS_356:Describe/List/Get APIs of CloudWatch, the tagging API, Cost Explorer and pricing accept only "*" as resource; they read, never change.
  statement {
    sid = "Observe"
    actions = [
      "cloudwatch:GetMetricData",
      "cloudwatch:GetMetricStatistics",
      "cloudwatch:ListMetrics",
      "tag:GetResources",
      "ce:GetCostAndUsage",
      "ce:GetCostForecast",
      "pricing:GetProducts",
      "rds:DescribeDBInstances",
      "rds:DescribeDBSnapshots",
      "rds:ListTagsForResource",
      "ec2:DescribeInstances",
      "ec2:DescribeInstanceStatus",
      "ec2:DescribeVolumes",
      "ec2:DescribeTags",
    ]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = length(var.zone_bucket_arns) > 0 ? [1] : []
    content {
      sid       = "ReadZones"
      actions   = ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"]
      resources = concat(var.zone_bucket_arns, [for arn in var.zone_bucket_arns : "${arn}/*"])
    }
  }
}

data "aws_iam_policy_document" "write" {
  #checkov:skip=CKV_AWS_356:Describe APIs accept only "*"; every create/modify/delete statement below is limited by a tag condition instead.
  #checkov:skip=CKV_AWS_111:Write actions are constrained by aws:RequestTag/aws:ResourceTag conditions on the project tag, the only boundary that fits resources created at run time.
  statement {
    sid = "Describe"
    actions = [
      "rds:DescribeDBInstances",
      "rds:DescribeDBSnapshots",
      "rds:DescribeDBSubnetGroups",
      "rds:ListTagsForResource",
      "ec2:DescribeInstances",
      "ec2:DescribeInstanceAttribute",
      "ec2:DescribeInstanceStatus",
      "ec2:DescribeVolumes",
      "ec2:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeSubnets",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeInstanceCreditSpecifications",
      "ec2:DescribeNetworkInterfaces",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "CreateOnlyTagged"
    actions   = ["rds:CreateDBInstance", "ec2:RunInstances", "secretsmanager:CreateSecret"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${var.tag_key}"
      values   = [var.tag_value]
    }
  }

  statement {
    sid = "ChangeOnlyTagged"
    actions = [
      "rds:ModifyDBInstance",
      "rds:DeleteDBInstance",
      "rds:StopDBInstance",
      "rds:StartDBInstance",
      "rds:RebootDBInstance",
      "rds:CreateDBSnapshot",
      "rds:AddTagsToResource",
      "ec2:ModifyInstanceAttribute",
      "ec2:StopInstances",
      "ec2:StartInstances",
      "ec2:TerminateInstances",
      "ec2:ModifyVolume",
      "secretsmanager:DescribeSecret",
      "secretsmanager:DeleteSecret",
      "secretsmanager:TagResource",
    ]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.tag_key}"
      values   = [var.tag_value]
    }
  }

  statement {
    sid       = "TagOnCreate"
    actions   = ["ec2:CreateTags"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["RunInstances"]
    }
  }

  statement {
    sid       = "TerraformState"
    actions   = ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [var.state_bucket_arn, "${var.state_bucket_arn}/*"]
  }

  dynamic "statement" {
    for_each = length(var.pass_role_arns) > 0 ? [1] : []
    content {
      sid       = "PassInstanceRoles"
      actions   = ["iam:PassRole"]
      resources = var.pass_role_arns
    }
  }
}

resource "aws_iam_role" "read" {
  name                 = "${var.name_prefix}-read"
  description          = "Locxia observes: CloudWatch, tagging, Cost Explorer, describe."
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "read" {
  name   = "observe"
  role   = aws_iam_role.read.id
  policy = data.aws_iam_policy_document.read.json
}

resource "aws_iam_role" "write" {
  name                 = "${var.name_prefix}-write"
  description          = "Locxia shapes: create/modify/delete only resources tagged ${var.tag_key}=${var.tag_value}."
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "write" {
  name   = "shape"
  role   = aws_iam_role.write.id
  policy = data.aws_iam_policy_document.write.json
}
