variable "name_prefix" {
  description = "Prefix of the role names: <prefix>-read and <prefix>-write."
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
  description = "ARNs of the landing, working and exposure buckets (data_zones' bucket_arns values)."
  type        = list(string)
  default     = []
}

variable "pass_role_arns" {
  description = "Roles the write role may pass to instances (EC2 instance profile, RDS monitoring)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags of the roles."
  type        = map(string)
  default     = {}
}
