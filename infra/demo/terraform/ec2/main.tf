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

variable "subnet_id" {
  type = string
}

variable "tags" {
  type = map(string)
}

# cloud-init user data (a Dask worker's script), or null: as terraform/modules/ec2_instance.
variable "user_data" {
  type    = string
  default = null
}

# What discovery found when the instance was adopted (pipelines/shape/adopt.py), or null.
variable "found" {
  type    = any
  default = null
}

locals {
  # The force-replacing inputs, as terraform/live gives them to terraform/modules/ec2_instance:
  # an adopted instance keeps what it has.
  ami                         = try(var.found.ami, var.ami_id)
  subnet_id                   = try(var.found.subnet_id, var.subnet_id)
  associate_public_ip_address = try(var.found.associate_public_ip_address, false)
  ebs_optimized               = try(var.found.ebs_optimized, true)
  root_encrypted              = try(var.found["root_block_device.encrypted"], true)
  root_kms_key_id             = try(var.found["root_block_device.kms_key_id"], null)

  # Exactly the AWS provider's force-new attributes of aws_instance, keyed by name (the list and
  # its source: pipelines/shape/forcenew.py, EC2; a test compares the two), with the value
  # terraform/modules/ec2_instance gives each (null: left unset, Optional and Computed).
  forcenew = {
    ami                            = local.ami
    associate_public_ip_address    = local.associate_public_ip_address
    availability_zone              = null
    cpu_core_count                 = null
    cpu_threads_per_core           = null
    ebs_optimized                  = local.ebs_optimized
    ephemeral_block_device         = null
    hibernation                    = null
    host_id                        = null
    ipv6_address_count             = null
    ipv6_addresses                 = null
    key_name                       = null
    launch_template                = null
    placement_group                = null
    placement_partition_number     = null
    private_dns_name_options       = null
    private_ip                     = null
    "root_block_device.encrypted"  = local.root_encrypted
    "root_block_device.kms_key_id" = local.root_kms_key_id
    security_groups                = null
    subnet_id                      = local.subnet_id
    tenancy                        = null
  }
  # user_data is force-new only with user_data_replace_on_change, which the module sets exactly
  # when it sets user_data (pipelines/shape/forcenew.py, EC2_USER_DATA). The provider keeps the
  # SHA-1 of the script in its state (StateFunc userDataHashSum), and so does the stand-in.
  user_data_sha1     = var.user_data == null ? null : sha1(var.user_data)
  forcenew_user_data = var.user_data == null ? {} : { user_data = local.user_data_sha1 }

  # As in ../rds: for an adopted instance only what differs from what was found is a trigger.
  triggers = merge(
    { for k, v in local.forcenew : k => v if var.found == null || (v != null && v != try(var.found[k], null)) },
    local.forcenew_user_data,
  )

  # Modifiable in place: the companion below applies them (type change stopped, as AWS wants).
  modifiable = {
    instance_type           = var.spec.instance_class
    disable_api_termination = var.spec.protected
    state                   = var.spec.state == "stopped" ? "stopped" : "running"
  }
  modified = { for k, v in local.modifiable : k => v if var.found == null || v != try(var.found[k], null) }
}

resource "terraform_data" "this" {
  input = {
    name                        = var.name
    region                      = var.region
    ami                         = local.ami
    subnet_id                   = local.subnet_id
    instance_type               = var.spec.instance_class
    root_volume_gb              = var.spec.storage_gb
    root_volume_type            = var.spec.storage_type
    root_volume_iops            = var.spec.iops
    root_volume_throughput      = var.spec.throughput
    root_volume_encrypted       = local.root_encrypted
    associate_public_ip_address = local.associate_public_ip_address
    ebs_optimized               = local.ebs_optimized
    disable_api_termination     = var.spec.protected
    user_data                   = local.user_data_sha1
    tags                        = var.tags
  }

  triggers_replace = length(local.triggers) == 0 ? null : local.triggers

  provisioner "local-exec" {
    command = "$LOCXIA_STANDIN_SHIM ec2-create '${jsonencode(self.input)}'"
    # the script itself, base64 (it holds quotes the shell command line must not see)
    environment = {
      LOCXIA_STANDIN_USER_DATA = var.user_data == null ? "" : base64encode(var.user_data)
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "$LOCXIA_STANDIN_SHIM ec2-terminate '${jsonencode(self.input)}'"
  }
}

resource "terraform_data" "modify" {
  input            = merge({ name = var.name, region = var.region }, local.modifiable)
  triggers_replace = length(local.modified) == 0 ? null : local.modified

  provisioner "local-exec" {
    command = "$LOCXIA_STANDIN_SHIM ec2-modify '${jsonencode(self.input)}'"
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
