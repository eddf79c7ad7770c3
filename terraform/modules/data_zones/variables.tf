variable "name_prefix" {
  description = "Prefix of the bucket names: <prefix>-landing, <prefix>-working, <prefix>-exposure."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 3-42 of a-z 0-9 -, not starting or ending with -."
  }
}

variable "kms_key_arn" {
  description = "KMS key ARN encrypting every object (SSE-KMS with bucket keys)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "access_log_bucket" {
  description = "Bucket receiving the server access logs of the three zones."
  type        = string
}

variable "landing_expiry_days" {
  description = "Days after which raw files in landing expire (they are refined into working)."
  type        = number
  default     = 90

  validation {
    condition     = var.landing_expiry_days >= 1
    error_message = "landing_expiry_days must be at least 1."
  }
}

variable "noncurrent_version_days" {
  description = "Days old object versions are kept before they expire."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "pending_part_days" {
  description = <<-EOT
    Days after upload at which an object still tagged locxia-part=pending expires (the rule is in
    every zone; the feed writes such parts to working only): the parts of a partitioned refine
    that failed or died, which no manifest lists and the feed role may not delete. Versioning is on, so expiry adds a delete marker and
    the noncurrent_version_expiration rule frees the bytes noncurrent_version_days later. Must
    exceed the longest partitioned refine (a part that expires before its commit fails the run).
  EOT
  type        = number
  default     = 3

  validation {
    condition     = var.pending_part_days >= 1 && floor(var.pending_part_days) == var.pending_part_days
    error_message = "pending_part_days must be a whole number of days, at least 1."
  }
}

variable "tags" {
  description = "Tags of the buckets (the provider adds the project tag)."
  type        = map(string)
  default     = {}
}
