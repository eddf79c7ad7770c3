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

resource "terraform_data" "this" {
  input = {
    identifier                = var.name
    region                    = var.region
    engine                    = var.spec.engine
    engine_version            = var.spec.engine_version
    instance_class            = var.spec.instance_class
    allocated_storage         = var.spec.storage_gb
    storage_type              = var.spec.storage_type
    multi_az                  = var.spec.multi_az
    deletion_protection       = var.spec.protected
    storage_encrypted         = true
    skip_final_snapshot       = false
    final_snapshot_identifier = "${var.name}-final"
    tags                      = var.tags
  }

  # Like aws_db_instance: a new identifier or engine means a new database.
  triggers_replace = [var.name, var.spec.engine]

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
  triggers_replace = {
    identifier          = var.name
    region              = var.region
    instance_class      = var.spec.instance_class
    allocated_storage   = var.spec.storage_gb
    multi_az            = var.spec.multi_az
    deletion_protection = var.spec.protected
  }

  provisioner "local-exec" {
    command = "$LOCXIA_STANDIN_SHIM rds-modify '${jsonencode(self.triggers_replace)}'"
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
