variable "name" {
  type = string
}

variable "spec" {
  type = any
}

variable "region" {
  type = string
}

variable "tags" {
  type = map(string)
}

# What discovery found when the instance was adopted (pipelines/shape/adopt.py), or null.
variable "found" {
  type    = any
  default = null
}

locals {
  # The force-replacing inputs, as terraform/live gives them to terraform/modules/rds_instance:
  # an adopted instance keeps what it has.
  username                    = try(var.found.username, "locxia_admin")
  storage_encrypted           = try(var.found.storage_encrypted, true)
  kms_key_id                  = try(var.found.kms_key_id, null)
  manage_master_user_password = try(var.found.manage_master_user_password, true)

  # Exactly the AWS provider's force-new attributes of aws_db_instance, keyed by name (the list
  # and its source: pipelines/shape/forcenew.py, RDS; a test compares the two), with the value
  # terraform/modules/rds_instance gives each (null: left unset, Optional and Computed).
  forcenew = {
    availability_zone           = null
    backup_target               = null
    character_set_name          = null
    custom_iam_instance_profile = null
    db_name                     = null
    engine                      = var.spec.engine
    kms_key_id                  = local.kms_key_id
    nchar_character_set_name    = null
    restore_to_point_in_time    = null
    snapshot_identifier         = var.spec.snapshot_identifier
    storage_encrypted           = local.storage_encrypted
    timezone                    = null
    username                    = local.username
  }
  # terraform_data's import records no triggers (it cannot read the instance), so for an
  # adopted instance the values found are the baseline a create would have recorded: only a
  # force-new attribute the module sets and that differs from them is a trigger (null when
  # none does; one the module leaves unset is Optional and Computed: never a diff). An instance
  # Terraform created keeps every attribute as a trigger. Either way a change of any of them
  # plans a replacement, as the provider does.
  triggers = { for k, v in local.forcenew : k => v if var.found == null || (v != null && v != try(var.found[k], null)) }

  # Modifiable in place: the companion below applies them.
  modifiable = {
    instance_class      = var.spec.instance_class
    allocated_storage   = var.spec.storage_gb
    multi_az            = var.spec.multi_az
    deletion_protection = var.spec.protected
  }
  modified = { for k, v in local.modifiable : k => v if var.found == null || v != try(var.found[k], null) }
}

resource "terraform_data" "this" {
  input = {
    identifier                  = var.name
    region                      = var.region
    engine                      = var.spec.engine
    engine_version              = var.spec.engine_version
    instance_class              = var.spec.instance_class
    allocated_storage           = var.spec.storage_gb
    storage_type                = var.spec.storage_type
    multi_az                    = var.spec.multi_az
    deletion_protection         = var.spec.protected
    storage_encrypted           = local.storage_encrypted
    kms_key_id                  = local.kms_key_id
    username                    = local.username
    manage_master_user_password = local.manage_master_user_password
    skip_final_snapshot         = false
    final_snapshot_identifier   = coalesce(var.spec.final_snapshot_identifier, "${var.name}-final")
    snapshot_identifier         = var.spec.snapshot_identifier
    iops                        = var.spec.iops
    storage_throughput          = var.spec.throughput
    maintenance_window          = var.spec.maintenance_window
    backup_window               = var.spec.backup_window
    tags                        = var.tags
  }

  triggers_replace = length(local.triggers) == 0 ? null : local.triggers

  provisioner "local-exec" {
    command = "$LOCXIA_STANDIN_SHIM rds-create '${jsonencode(self.input)}'"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "$LOCXIA_STANDIN_SHIM rds-delete '${jsonencode(self.input)}'"
  }
}

# terraform_data has no update hook: modifications ride on a companion that is replaced
# when a modifiable attribute changes (the real provider modifies in place).
resource "terraform_data" "modify" {
  input            = merge({ identifier = var.name, region = var.region }, local.modifiable)
  triggers_replace = length(local.modified) == 0 ? null : local.modified

  provisioner "local-exec" {
    command = "$LOCXIA_STANDIN_SHIM rds-modify '${jsonencode(self.input)}'"
  }

  depends_on = [terraform_data.this]
}

output "identifier" {
  value = var.name
}

output "arn" {
  value = "arn:aws:rds:${var.region}:123456789012:db:${var.name}"
}

output "address" {
  value = "${var.name}.standin.invalid"
}

output "master_user_secret_arn" {
  value = null
}

output "final_snapshot_identifier" {
  value = terraform_data.this.output.final_snapshot_identifier
}
