# Same variables as terraform/live (tests/integration/shape/test_terraform_modules.py proves it).
variable "instances" {
  description = "Instances that should exist now, keyed by name."
  type = map(object({
    kind           = string
    state          = string
    instance_class = string
    storage_gb     = number
    storage_type   = string
    engine         = optional(string)
    engine_version = optional(string)
    multi_az       = optional(bool, false)
    protected      = bool
    tags           = optional(map(string), {})
    adopted = optional(object({
      id    = string
      found = string
    }))
    # Storage performance (io1/io2 need iops; gp3 may take both).
    iops       = optional(number)
    throughput = optional(number)
    # Kept by Locxia (ops.final_snapshots, ops.rebuild_requests), RDS only.
    final_snapshot_identifier = optional(string)
    snapshot_identifier       = optional(string)
    # RDS preferred windows, UTC (params.instances, migration 0059); null leaves AWS's.
    maintenance_window = optional(string)
    backup_window      = optional(string)
    # What the instance is for (params.instances.purpose, migration 0073).
    purpose = optional(string, "general")
  }))
}

variable "imports" {
  description = "Instances AWS has and the state has not, imported instead of created: rds and ec2, each a map of instance name to AWS id (DB identifier, EC2 instance id). Written by Locxia (pipelines/shape/adopt.py); empty once imported."
  type = object({
    rds = map(string)
    ec2 = map(string)
  })
  default = {
    rds = {}
    ec2 = {}
  }
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "tag_key" {
  description = "Tag key marking every Locxia resource."
  type        = string
}

variable "tag_value" {
  description = "Tag value marking every Locxia resource."
  type        = string
}

variable "network" {
  description = "Private network of the instances (ignored by the stand-in)."
  type = object({
    subnet_ids           = list(string)
    security_group_ids   = list(string)
    db_subnet_group_name = string
    instance_profile     = string
    # access_roles' dask_worker instance profile (ignored by the stand-in).
    dask_worker_instance_profile = optional(string)
    # The workers' TLS secret, rendered into the user data as terraform/live does.
    dask_worker_tls_secret_arn = optional(string)
  })
}

variable "dask_scheduler" {
  description = "Address of the Dask scheduler worker instances join; null in the demo, whose workers never boot (see main.tf)."
  type        = string
  default     = null
}

variable "dask_allow_plaintext" {
  description = "Let workers join a tcp:// scheduler off loopback (LOCXIA_DASK_ALLOW_PLAINTEXT)."
  type        = bool
  default     = false
  nullable    = false
}

variable "dask_worker_packages" {
  description = "Pinned pip requirements a Dask worker installs."
  type        = list(string)
  default     = []
}

variable "ec2_ami_id" {
  description = "AMI of EC2 instances."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key (ignored by the stand-in)."
  type        = string
  default     = null
}

variable "assume_role_arn" {
  description = "Role Terraform assumes (ignored by the stand-in)."
  type        = string
  default     = null
}
