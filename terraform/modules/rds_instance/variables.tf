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
  description = "Storage type: gp2, gp3, io1 or io2."
  type        = string

  validation {
    condition     = contains(["gp2", "gp3", "io1", "io2"], var.storage_type)
    error_message = "storage_type must be gp2, gp3, io1 or io2."
  }
}

variable "iops" {
  description = "Provisioned IOPS: required for io1/io2 (1000-256000), optional for gp3 from 400 GiB (12000-64000); null below. Locxia checks the ratios of the RDS User Guide before planning."
  type        = number
  default     = null

  validation {
    condition     = var.iops == null ? true : var.iops >= 1000 && var.iops <= 256000
    error_message = "iops must be between 1000 and 256000."
  }
}

variable "storage_throughput" {
  description = "gp3 throughput in MiBps (500-4000, from 400 GiB only); null keeps the baseline."
  type        = number
  default     = null

  validation {
    condition     = var.storage_throughput == null ? true : var.storage_throughput >= 500 && var.storage_throughput <= 4000
    error_message = "storage_throughput must be between 500 and 4000 MiBps."
  }
}

variable "final_snapshot_identifier" {
  description = "Name of the snapshot taken when the instance is deleted; unique per incarnation (Locxia: <identifier>-final-<UTC time>). DBSnapshotIdentifier rules: 1-255 letters, digits, hyphens; starts with a letter; no '--'; no trailing hyphen."
  type        = string

  validation {
    condition     = length(var.final_snapshot_identifier) <= 255 && can(regex("^[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?$", var.final_snapshot_identifier)) && !strcontains(var.final_snapshot_identifier, "--")
    error_message = "final_snapshot_identifier: 1-255 letters, digits or hyphens, starting with a letter, no '--', no trailing hyphen."
  }
}

variable "snapshot_identifier" {
  description = "Snapshot to create the instance from (a rebuild approved with `locxia infra approve-rebuild`); force-new."
  type        = string
  default     = null
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
  description = "Engine MAJOR version (e.g. 16): AWS picks and upgrades the minor (auto_minor_version_upgrade stays on); a pinned minor would make every apply after an upgrade a refused downgrade."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{1,2}$", var.engine_version))
    error_message = "engine_version must be a major version such as 16."
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
  description = "Master user name (force-new: an adopted instance passes its own); its password is generated and kept in Secrets Manager by RDS."
  type        = string
  default     = "locxia_admin"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,15}$", var.master_username))
    error_message = "master_username: 1-16 of a-z 0-9 _, starting with a letter."
  }
}

variable "storage_encrypted" {
  description = "Encrypt storage (force-new: true for every instance Locxia creates; an adopted instance passes what it has)."
  type        = bool
  default     = true
  nullable    = false
}

variable "manage_master_user_password" {
  description = "RDS generates and rotates the master password in Secrets Manager. An adopted database passes what it has: turning this on rotates its live password."
  type        = bool
  default     = true
  nullable    = false
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
  description = "Apply changes now rather than in the next maintenance window. No default: the caller decides (Locxia holds changes that cause downtime until the maintenance window itself, then applies them now)."
  type        = bool
}

variable "maintenance_window" {
  description = "Weekly maintenance window, UTC, ddd:hh24:mi-ddd:hh24:mi, at least 30 minutes (RDS PreferredMaintenanceWindow); null leaves AWS's."
  type        = string
  default     = null

  validation {
    condition     = var.maintenance_window == null || can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_window))
    error_message = "maintenance_window must look like sun:03:00-sun:04:00 (UTC, lowercase days)."
  }
}

variable "backup_window" {
  description = "Daily backup window, UTC, hh24:mi-hh24:mi, at least 30 minutes, apart from the maintenance window (RDS PreferredBackupWindow); null leaves AWS's."
  type        = string
  default     = null

  validation {
    condition     = var.backup_window == null || can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.backup_window))
    error_message = "backup_window must look like 01:00-01:30 (UTC)."
  }
}

variable "tags" {
  description = "Tags of the instance (the provider adds the project tag through default_tags)."
  type        = map(string)
  default     = {}
}
