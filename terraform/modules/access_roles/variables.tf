variable "name_prefix" {
  description = "Prefix of the role names: <prefix>-read, <prefix>-write, <prefix>-feed and <prefix>-dask-worker."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,50}$", var.name_prefix))
    error_message = "name_prefix: 1-50 characters allowed in IAM role names."
  }
}

variable "trusted_principal_arns" {
  description = "IAM users or roles allowed to assume both roles (the orchestrator's identity)."
  type        = list(string)

  validation {
    condition     = length(var.trusted_principal_arns) > 0 && alltrue([for arn in var.trusted_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/", arn))])
    error_message = "trusted_principal_arns: at least one IAM role or user ARN."
  }
}

variable "tag_key" {
  description = "Tag key marking Locxia resources (LOCXIA_TAG_KEY)."
  type        = string
  default     = "project"
}

variable "tag_value" {
  description = "Tag value marking Locxia resources (LOCXIA_TAG_VALUE)."
  type        = string
  default     = "locxia"
}

variable "state_bucket_arn" {
  description = "ARN of the S3 bucket holding the Terraform state of terraform/live."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.state_bucket_arn))
    error_message = "state_bucket_arn must be an S3 bucket ARN."
  }
}

variable "zone_bucket_arns" {
  description = "ARNs of the landing, working and exposure buckets (data_zones' bucket_arns values): the feed role reads and writes them."
  type        = list(string)

  validation {
    condition     = length(var.zone_bucket_arns) > 0 && alltrue([for arn in var.zone_bucket_arns : can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", arn))])
    error_message = "zone_bucket_arns: at least one S3 bucket ARN."
  }
}

variable "kms_key_arns" {
  description = "Customer keys: data_zones' kms_key_arn and the keys RDS and EBS encrypt with (kms_key_id of the instances)."
  type        = list(string)

  validation {
    condition     = length(var.kms_key_arns) > 0 && alltrue([for arn in var.kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", arn))])
    error_message = "kms_key_arns: at least one KMS key ARN (arn:...:kms:<region>:<account>:key/<id>)."
  }
}

variable "streams_bucket_arn" {
  description = "Bucket the CloudWatch metric stream delivers to (LOCXIA_METRIC_STREAMS_URI), read by the read role; null when metrics are read from CloudWatch only."
  type        = string
  default     = null

  validation {
    condition     = var.streams_bucket_arn == null || can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.streams_bucket_arn))
    error_message = "streams_bucket_arn must be an S3 bucket ARN."
  }
}

variable "exports_bucket_arn" {
  description = "Bucket AWS Data Exports delivers the FOCUS 1.2 export to (LOCXIA_FOCUS_EXPORT_URI), read by the read role; null when actual costs are not read."
  type        = string
  default     = null

  validation {
    condition     = var.exports_bucket_arn == null || can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.exports_bucket_arn))
    error_message = "exports_bucket_arn must be an S3 bucket ARN."
  }
}

variable "source_bucket_arns" {
  description = "Buckets the feed ingests s3:// sources from (objects read by the feed role)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.source_bucket_arns : can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", arn))])
    error_message = "source_bucket_arns: S3 bucket ARNs."
  }
}

variable "pass_role_arns" {
  description = "Roles the write role may pass to EC2 (instance profile) and RDS (monitoring role)."
  type        = list(string)
  default     = []
}

variable "dask_worker_bucket_arns" {
  description = "Zone buckets Dask workers read and write (data_zones' working and exposure bucket_arns). Empty: no dask_worker role, instance profile or PassRole is made."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.dask_worker_bucket_arns : can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", arn))])
    error_message = "dask_worker_bucket_arns: S3 bucket ARNs."
  }
}

variable "dask_worker_read_bucket_arns" {
  description = "Zone buckets Dask workers only read (data_zones' landing bucket: refine reads raw partitions there)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.dask_worker_read_bucket_arns : can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", arn))])
    error_message = "dask_worker_read_bucket_arns: S3 bucket ARNs."
  }
}

variable "dask_worker_tls_secret_arn" {
  description = "Secrets Manager secret holding the Dask workers' TLS CA, certificate and key (JSON ca/cert/key, PEM) for a tls:// scheduler: the dask_worker role may read it (and decrypt it with kms_key_arns through Secrets Manager). Null: no such permission."
  type        = string
  default     = null

  validation {
    condition     = var.dask_worker_tls_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$", var.dask_worker_tls_secret_arn))
    error_message = "dask_worker_tls_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "tags" {
  description = "Tags of the roles."
  type        = map(string)
  default     = {}
}
