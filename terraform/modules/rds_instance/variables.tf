variable "identifier" {
  description = "DB instance identifier (the params.instances name)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.identifier)) && !strcontains(var.identifier, "--")
    error_message = "identifier: 2-40 of a-z 0-9 -, starting with a letter, no '--'."
  }
}

variable "instance_class" {
  description = "DB instance class, e.g. db.t4g.large. No default: sizing always comes from params.instances."
  type        = string

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.instance_class))
    error_message = "instance_class must look like db.<family>.<size>."
  }
}

variable "allocated_storage" {
  description = "Storage in GB. RDS storage can only grow (by at least 10 %); Locxia refuses shrinks before planning."
  type        = number

  validation {
    condition     = var.allocated_storage >= 20 && var.allocated_storage <= 65536 && floor(var.allocated_storage) == var.allocated_storage
    error_message = "allocated_storage must be a whole number of GB between 20 and 65536."
  }
}

variable "storage_type" {
  description = "Storage type: gp2, gp3 or io1."
  type        = string

  validation {
    condition     = contains(["gp2", "gp3", "io1"], var.storage_type)
    error_message = "storage_type must be gp2, gp3 or io1."
  }
}

variable "engine" {
  description = "Database engine."
  type        = string

  validation {
    condition     = contains(["postgres"], var.engine)
    error_message = "engine must be postgres."
  }
}

variable "engine_version" {
  description = "Engine version, major (16) or major.minor (16.4)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{1,2}(\\.[0-9]{1,2})?$", var.engine_version))
    error_message = "engine_version must look like 16 or 16.4."
  }
}

variable "multi_az" {
  description = "Run a standby in another availability zone."
  type        = bool
}

variable "protected" {
  description = "Protected instances get deletion protection; Locxia never plans their deletion."
  type        = bool
}

variable "db_subnet_group_name" {
  description = "DB subnet group (private subnets) the instance lives in."
  type        = string
}

variable "vpc_security_group_ids" {
  description = "Security groups of the instance."
  type        = list(string)
}

variable "kms_key_id" {
  description = "KMS key ARN for storage, Performance Insights and the master password secret; null uses the AWS managed keys."
  type        = string
  default     = null
}

variable "master_username" {
  description = "Master user name; its password is generated and kept in Secrets Manager by RDS."
  type        = string
  default     = "locxia_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,15}$", var.master_username))
    error_message = "master_username: 1-16 of a-z 0-9 _, starting with a letter."
  }
}

variable "backup_retention_period" {
  description = "Days of automated backups (1-35)."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_period >= 1 && var.backup_retention_period <= 35
    error_message = "backup_retention_period must be between 1 and 35 days."
  }
}

variable "parameter_group_name" {
  description = "DB parameter group; null uses the engine's default group."
  type        = string
  default     = null
}

variable "monitoring_role_arn" {
  description = "IAM role for Enhanced Monitoring; null turns Enhanced Monitoring off."
  type        = string
  default     = null
}

variable "apply_immediately" {
  description = "Apply class and storage changes now rather than in the next maintenance window."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags of the instance (the provider adds the project tag through default_tags)."
  type        = map(string)
  default     = {}
}
