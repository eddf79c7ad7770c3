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
  # What discovery found on an adopted instance (pipelines/shape/adopt.py), {} otherwise. The
  # force-replacing inputs below take these values (try() falls back to the default when the
  # instance was not adopted), so adopting never plans a replacement; the list and its source
  # are in pipelines/shape/forcenew.py (ADOPTED).
  found = { for name, i in var.instances : name => try(jsondecode(i.adopted.found), {}) }
  # Dask workers: EC2 instances holding no data, tagged with their purpose (the guardrails read
  # the tag on the instance as it exists, pipelines/shape/ec2.py), booting a Dask worker.
  workers       = { for name, i in local.ec2 : name => i if i.purpose == "dask-worker" }
  purpose_tag   = { "locxia:purpose" = "dask-worker" }
  worker_script = one(module.dask_worker_user_data[*].user_data)
}

# One script for every worker (each names itself by its instance id at boot), rendered only
# when a row asks for workers: the scheduler is required then, and only then.
module "dask_worker_user_data" {
  source = "../modules/dask_worker_user_data"
  count  = length(local.workers) == 0 ? 0 : 1

  scheduler       = var.dask_scheduler
  packages        = var.dask_worker_packages
  tls_secret_arn  = var.network.dask_worker_tls_secret_arn
  allow_plaintext = var.dask_allow_plaintext
}

# Adoption: an instance AWS has and the state has not is imported, never created (Terraform
# >= 1.7 for for_each). Locxia lists it in var.imports until the apply that imports it.
import {
  for_each = var.imports.rds
  to       = module.rds[each.key].aws_db_instance.this
  id       = each.value
}

import {
  for_each = var.imports.ec2
  to       = module.ec2[each.key].aws_instance.this
  id       = each.value
}

import {
  for_each = var.imports.ec2
  to       = module.ec2[each.key].aws_ec2_instance_state.power
  id       = each.value
}

module "rds" {
  source   = "../modules/rds_instance"
  for_each = local.rds

  identifier                = each.key
  instance_class            = each.value.instance_class
  allocated_storage         = each.value.storage_gb
  storage_type              = each.value.storage_type
  iops                      = each.value.iops
  storage_throughput        = each.value.throughput
  engine                    = each.value.engine
  engine_version            = each.value.engine_version
  multi_az                  = each.value.multi_az
  protected                 = each.value.protected
  final_snapshot_identifier = each.value.final_snapshot_identifier
  snapshot_identifier       = each.value.snapshot_identifier
  db_subnet_group_name      = try(local.found[each.key].db_subnet_group_name, var.network.db_subnet_group_name)
  vpc_security_group_ids    = var.network.security_group_ids
  kms_key_id                = try(local.found[each.key].kms_key_id, var.kms_key_arn)
  storage_encrypted         = try(local.found[each.key].storage_encrypted, null)
  master_username           = try(local.found[each.key].username, null)
  # An adopted database keeps how its master password is managed: turning RDS management on
  # would rotate the live password into Secrets Manager.
  manage_master_user_password = try(local.found[each.key].manage_master_user_password, null)
  maintenance_window          = each.value.maintenance_window
  backup_window               = each.value.backup_window
  # Locxia holds changes that cause downtime until the row's maintenance window or an
  # approval (pipelines/shape/downtime.py, decision 60), so whatever it applies, it applies
  # now: AWS's own deferral would be invisible to Terraform and planned again on every run.
  apply_immediately = true
  tags              = merge(each.value.tags, { Name = each.key })
}

module "ec2" {
  source   = "../modules/ec2_instance"
  for_each = local.ec2

  name                   = each.key
  instance_type          = each.value.instance_class
  state                  = each.value.state == "stopped" ? "stopped" : "running"
  root_volume_gb         = each.value.storage_gb
  root_volume_type       = each.value.storage_type
  root_volume_iops       = each.value.iops
  root_volume_throughput = each.value.throughput
  protected              = each.value.protected
  ami_id                 = try(local.found[each.key].ami, var.ec2_ami_id)
  subnet_id              = try(local.found[each.key].subnet_id, var.network.subnet_ids[0])
  vpc_security_group_ids = var.network.security_group_ids
  iam_instance_profile   = each.value.purpose == "dask-worker" ? var.network.dask_worker_instance_profile : var.network.instance_profile
  user_data              = each.value.purpose == "dask-worker" ? local.worker_script : null
  kms_key_id             = try(local.found[each.key]["root_block_device.kms_key_id"], var.kms_key_arn)
  root_volume_encrypted  = try(local.found[each.key]["root_block_device.encrypted"], null)
  ebs_optimized          = try(local.found[each.key].ebs_optimized, null)
  public_ip              = try(local.found[each.key].associate_public_ip_address, null)
  tags                   = merge(each.value.tags, each.value.purpose == "dask-worker" ? local.purpose_tag : {})
}
