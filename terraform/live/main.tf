# The root module Locxia plans and applies. Terraform never reads PostgreSQL: its only input
# from the parameter tables is the generated instances.auto.tfvars.json.
provider "aws" {
  region = var.region

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "locxia-terraform"
    }
  }

  default_tags {
    tags = {
      (var.tag_key) = var.tag_value
      managed-by    = "locxia"
    }
  }
}

locals {
  rds = { for name, i in var.instances : name => i if i.kind == "rds" }
  ec2 = { for name, i in var.instances : name => i if i.kind == "ec2" }
}

module "rds" {
  source   = "../modules/rds_instance"
  for_each = local.rds

  identifier             = each.key
  instance_class         = each.value.instance_class
  allocated_storage      = each.value.storage_gb
  storage_type           = each.value.storage_type
  engine                 = each.value.engine
  engine_version         = each.value.engine_version
  multi_az               = each.value.multi_az
  protected              = each.value.protected
  db_subnet_group_name   = var.network.db_subnet_group_name
  vpc_security_group_ids = var.network.security_group_ids
  kms_key_id             = var.kms_key_arn
  tags                   = merge(each.value.tags, { Name = each.key })
}

module "ec2" {
  source   = "../modules/ec2_instance"
  for_each = local.ec2

  name                   = each.key
  instance_type          = each.value.instance_class
  state                  = each.value.state == "stopped" ? "stopped" : "running"
  root_volume_gb         = each.value.storage_gb
  root_volume_type       = each.value.storage_type
  protected              = each.value.protected
  ami_id                 = var.ec2_ami_id
  subnet_id              = var.network.subnet_ids[0]
  vpc_security_group_ids = var.network.security_group_ids
  iam_instance_profile   = var.network.instance_profile
  kms_key_id             = var.kms_key_arn
  tags                   = each.value.tags
}
