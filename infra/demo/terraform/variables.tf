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
  }))
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
  })
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
