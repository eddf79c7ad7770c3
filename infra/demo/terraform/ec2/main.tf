variable "name" {
  type = string
}

variable "spec" {
  type = any
}

variable "region" {
  type = string
}

variable "ami_id" {
  type = string
}

variable "tags" {
  type = map(string)
}

resource "terraform_data" "this" {
  input = {
    name                    = var.name
    region                  = var.region
    ami                     = var.ami_id
    instance_type           = var.spec.instance_class
    root_volume_gb          = var.spec.storage_gb
    root_volume_type        = var.spec.storage_type
    disable_api_termination = var.spec.protected
    tags                    = var.tags
  }

  triggers_replace = [var.name, var.ami_id]

  provisioner "local-exec" {
    command = "$LOCXIA_STANDIN_SHIM ec2-create '${jsonencode(self.input)}'"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "$LOCXIA_STANDIN_SHIM ec2-terminate '${jsonencode(self.input)}'"
  }
}

locals {
  settings = {
    name          = var.name
    region        = var.region
    instance_type = var.spec.instance_class
    state         = var.spec.state == "stopped" ? "stopped" : "running"
  }
}

resource "terraform_data" "modify" {
  input            = local.settings
  triggers_replace = local.settings

  provisioner "local-exec" {
    command = "$LOCXIA_STANDIN_SHIM ec2-modify '${jsonencode(self.triggers_replace)}'"
  }

  depends_on = [terraform_data.this]
}

output "id" {
  value = terraform_data.this.id
}

output "arn" {
  value = "arn:aws:ec2:${var.region}:123456789012:instance/${terraform_data.this.id}"
}

output "private_ip" {
  value = "10.0.0.1"
}

output "state" {
  value = terraform_data.modify.output.state
}
