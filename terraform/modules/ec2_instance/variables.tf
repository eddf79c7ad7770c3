variable "name" {
  description = "Instance name (the params.instances name), set as the Name tag."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name: 2-40 of a-z 0-9 -, starting with a letter, no '--'."
  }
}

variable "instance_type" {
  description = "EC2 instance type, e.g. m6i.large. No default: sizing always comes from params.instances."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]+\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like <family>.<size>."
  }
}

variable "state" {
  description = "Power state: running or stopped (schedule windows stop instances at night)."
  type        = string

  validation {
    condition     = contains(["running", "stopped"], var.state)
    error_message = "state must be running or stopped."
  }
}

variable "root_volume_gb" {
  description = "Root volume size in GB (EBS volumes only grow)."
  type        = number

  validation {
    condition     = var.root_volume_gb >= 8 && var.root_volume_gb <= 65536 && floor(var.root_volume_gb) == var.root_volume_gb
    error_message = "root_volume_gb must be a whole number of GB between 8 and 65536."
  }
}

variable "root_volume_type" {
  description = "Root volume type: gp2, gp3, io1 or io2."
  type        = string

  validation {
    condition     = contains(["gp2", "gp3", "io1", "io2"], var.root_volume_type)
    error_message = "root_volume_type must be gp2, gp3, io1 or io2."
  }
}

variable "root_volume_iops" {
  description = "Provisioned IOPS of the root volume: required for io1 (100-64000) and io2 (100-256000), optional for gp3 (3000-16000). EC2 API reference, EbsBlockDevice."
  type        = number
  default     = null

  validation {
    condition     = var.root_volume_iops == null ? true : var.root_volume_iops >= 100 && var.root_volume_iops <= 256000
    error_message = "root_volume_iops must be between 100 and 256000."
  }
}

variable "root_volume_throughput" {
  description = "gp3 root volume throughput in MiBps (125-1000); null keeps the 125 MiBps baseline."
  type        = number
  default     = null

  validation {
    condition     = var.root_volume_throughput == null ? true : var.root_volume_throughput >= 125 && var.root_volume_throughput <= 1000
    error_message = "root_volume_throughput must be between 125 and 1000 MiBps."
  }
}

variable "ami_id" {
  description = "AMI to boot."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "subnet_id" {
  description = "Private subnet of the instance."
  type        = string
}

variable "vpc_security_group_ids" {
  description = "Security groups of the instance."
  type        = list(string)
}

variable "iam_instance_profile" {
  description = "Instance profile giving the instance its own AWS permissions (a Dask worker: access_roles' dask_worker profile)."
  type        = string
  nullable    = false
}

variable "protected" {
  description = "Protected instances get termination protection; Locxia never plans their deletion."
  type        = bool
}

variable "kms_key_id" {
  description = "KMS key ARN for the root volume; null uses the AWS managed key."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of the instance and its volumes (the provider adds the project tag)."
  type        = map(string)
  default     = {}
}

variable "public_ip" {
  description = "Associate a public IP address (force-new): false for every instance Locxia creates; an adopted instance passes what it has."
  type        = bool
  default     = false
  nullable    = false
}

variable "ebs_optimized" {
  description = "EBS-optimised instance (force-new in the AWS provider): an adopted instance passes what it has."
  type        = bool
  default     = true
  nullable    = false
}

variable "root_volume_encrypted" {
  description = "Encrypt the root volume (force-new): true for every instance Locxia creates; an adopted instance passes what it has."
  type        = bool
  default     = true
  nullable    = false
}

variable "user_data" {
  description = "cloud-init user data (plain text), e.g. dask_worker_user_data's script; the instance is replaced when it changes. Null (every general instance) leaves user data unmanaged. EC2 limits user data to 16 KB."
  type        = string
  default     = null

  validation {
    condition     = var.user_data == null ? true : length(var.user_data) <= 16384
    error_message = "user_data is limited to 16 KB (EC2 RunInstances UserData)."
  }
}
