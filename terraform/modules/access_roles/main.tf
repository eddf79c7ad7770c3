# Three roles the orchestrator assumes: "read" to observe, "write" to shape, "feed" to move
# layers between the zone buckets; and, when worker buckets are given, "dask-worker", the
# instance profile of Dask worker instances, which only the write role may pass (to EC2). The write role may create resources only when the request
# tags them with the project tag, and modify, stop or delete only resources that already carry
# it. The documents themselves are in ./policies (no provider), so the test evaluates exactly
# what is sent here.
data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  dask_worker = length(var.dask_worker_bucket_arns) > 0
  # Built from its name rather than read from the role: the write policy names it, and the
  # role's own policy comes from the same module.
  dask_worker_role_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/${var.name_prefix}-dask-worker"
}

module "policies" {
  source = "./policies"

  partition              = data.aws_partition.current.partition
  account_id             = data.aws_caller_identity.current.account_id
  trusted_principal_arns = var.trusted_principal_arns
  tag_key                = var.tag_key
  tag_value              = var.tag_value
  state_bucket_arn       = var.state_bucket_arn
  zone_bucket_arns       = var.zone_bucket_arns
  kms_key_arns           = var.kms_key_arns
  streams_bucket_arn     = var.streams_bucket_arn
  exports_bucket_arn     = var.exports_bucket_arn
  source_bucket_arns     = var.source_bucket_arns
  pass_role_arns         = var.pass_role_arns

  dask_worker_role_arn         = local.dask_worker ? local.dask_worker_role_arn : null
  dask_worker_bucket_arns      = var.dask_worker_bucket_arns
  dask_worker_read_bucket_arns = var.dask_worker_read_bucket_arns
  dask_worker_tls_secret_arn   = var.dask_worker_tls_secret_arn
}

resource "aws_iam_role" "read" {
  name                 = "${var.name_prefix}-read"
  description          = "Locxia observes: CloudWatch, tagging, Cost Explorer, describe."
  assume_role_policy   = module.policies.trust
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "read" {
  #checkov:skip=CKV_AWS_355:Describe/List/Get APIs of the tagging API, CloudWatch, Cost Explorer, pricing and s3:ListAllMyBuckets accept only "*" as resource; they read, never change.
  name   = "observe"
  role   = aws_iam_role.read.id
  policy = module.policies.read
}

resource "aws_iam_role" "write" {
  name                 = "${var.name_prefix}-write"
  description          = "Locxia shapes: create/modify/delete only resources tagged ${var.tag_key}=${var.tag_value}."
  assume_role_policy   = module.policies.trust
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "write" {
  #checkov:skip=CKV_AWS_355:Describe APIs accept only "*"; every create, modify and delete statement is bounded by account ARNs and a project-tag condition.
  name   = "shape"
  role   = aws_iam_role.write.id
  policy = module.policies.write
}

resource "aws_iam_role" "feed" {
  name                 = "${var.name_prefix}-feed"
  description          = "Locxia feeds: read and write the zone buckets, read the S3 sources."
  assume_role_policy   = module.policies.trust
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "feed" {
  name   = "feed"
  role   = aws_iam_role.feed.id
  policy = module.policies.feed
}

resource "aws_iam_role" "dask_worker" {
  count                = local.dask_worker ? 1 : 0
  name                 = "${var.name_prefix}-dask-worker"
  description          = "Dask workers (EC2 instance profile): read and write the working and exposure zones."
  assume_role_policy   = module.policies.dask_worker_trust
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "dask_worker" {
  count  = local.dask_worker ? 1 : 0
  name   = "dask-worker"
  role   = aws_iam_role.dask_worker[0].id
  policy = module.policies.dask_worker
}

resource "aws_iam_instance_profile" "dask_worker" {
  count = local.dask_worker ? 1 : 0
  name  = "${var.name_prefix}-dask-worker"
  role  = aws_iam_role.dask_worker[0].name
  tags  = var.tags
}
