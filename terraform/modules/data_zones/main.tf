# The three storage zones of the data platform: landing (raw bytes as received), working
# (cleaned GeoParquet) and exposure (published files). Every bucket: SSE-KMS, all public
# access blocked, TLS-only policy, versioning, access logs, lifecycle rules.
locals {
  zones = toset(["landing", "working", "exposure"])
}

module "lifecycle" {
  source = "./lifecycle"

  pending_part_days = var.pending_part_days
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice of the platform; landing keeps provenance and working/exposure are rebuilt from it.
  #checkov:skip=CKV2_AWS_62:Nothing consumes S3 event notifications; the orchestrator schedules its own steps.
  for_each = local.zones

  bucket = "${var.name_prefix}-${each.key}"
  tags   = merge(var.tags, { zone = each.key })
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = local.zones

  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.zones

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.zones

  bucket = aws_s3_bucket.this[each.key].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_logging" "this" {
  for_each = local.zones

  bucket        = aws_s3_bucket.this[each.key].id
  target_bucket = var.access_log_bucket
  target_prefix = "${each.key}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = local.zones

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    id     = "housekeeping"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }

    dynamic "expiration" {
      for_each = each.key == "landing" ? [var.landing_expiry_days] : []
      content {
        days = expiration.value
      }
    }
  }

  # The parts of partitioned versions never committed (decision 95), written to working only.
  # The rule is in every zone, as the feed's tagging grant covers every zone bucket's part keys
  # (and a static block keeps checkov reading the housekeeping rule: it renders a dynamic rule
  # block over the static one). Expiry puts a delete marker on the tagged current version;
  # housekeeping's noncurrent_version_expiration frees the bytes noncurrent_version_days later.
  rule {
    id     = module.lifecycle.pending_parts.id
    status = "Enabled"

    filter {
      tag {
        key   = module.lifecycle.pending_parts.tag.key
        value = module.lifecycle.pending_parts.tag.value
      }
    }

    expiration {
      days = module.lifecycle.pending_parts.days
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "tls_only" {
  for_each = local.zones

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this[each.key].arn,
      "${aws_s3_bucket.this[each.key].arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = local.zones

  bucket = aws_s3_bucket.this[each.key].id
  policy = data.aws_iam_policy_document.tls_only[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
