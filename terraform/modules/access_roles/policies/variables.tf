variable "partition" {
  description = "AWS partition of the account (aws, aws-cn, aws-us-gov)."
  type        = string
}

variable "account_id" {
  description = "Account whose RDS, EC2, secrets and network resources the write role may use."
  type        = string
}

variable "trusted_principal_arns" {
  description = "IAM users or roles allowed to assume the roles."
  type        = list(string)
}

variable "tag_key" {
  description = "Tag key marking Locxia resources."
  type        = string
}

variable "tag_value" {
  description = "Tag value marking Locxia resources."
  type        = string
}

variable "state_bucket_arn" {
  description = "S3 bucket of the Terraform state (write role: Terraform's S3 backend)."
  type        = string
}

variable "zone_bucket_arns" {
  description = "Landing, working and exposure buckets (feed role)."
  type        = list(string)
}

variable "kms_key_arns" {
  description = "Customer keys the zone buckets, RDS and EBS encrypt with."
  type        = list(string)
}

variable "streams_bucket_arn" {
  description = "Bucket the CloudWatch metric stream delivers to (read role); null when unused."
  type        = string
  default     = null
}

variable "exports_bucket_arn" {
  description = "Bucket AWS Data Exports delivers the FOCUS 1.2 export to (read role); null when unused."
  type        = string
  default     = null
}

variable "source_bucket_arns" {
  description = "Buckets the feed ingests s3:// sources from (read only)."
  type        = list(string)
  default     = []
}

variable "pass_role_arns" {
  description = "Roles the write role may pass: EC2 instance profile roles, RDS monitoring role."
  type        = list(string)
  default     = []
}

variable "dask_worker_role_arn" {
  description = "The dask_worker role (EC2 instance profile of Dask worker instances): the one role the write role passes to the workers it launches; null when no worker role is made."
  type        = string
  default     = null
}

variable "dask_worker_bucket_arns" {
  description = "Zone buckets Dask workers read and write (working, exposure)."
  type        = list(string)
  default     = []
}

variable "dask_worker_read_bucket_arns" {
  description = "Zone buckets Dask workers only read (landing: refine reads the raw partitions there)."
  type        = list(string)
  default     = []
}

variable "dask_worker_tls_secret_arn" {
  description = "Secrets Manager secret of the Dask workers' TLS CA, certificate and key (a tls:// scheduler, decision 96): the worker role may read this one secret at boot; null for none."
  type        = string
  default     = null
}
