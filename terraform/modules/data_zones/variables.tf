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

variable "tags" {
  description = "Tags of the buckets (the provider adds the project tag)."
  type        = map(string)
  default     = {}
}
