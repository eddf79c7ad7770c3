# Stand-in for terraform/live: the AWS provider cannot be downloaded in CI, so each instance
# is a built-in terraform_data resource whose provisioners call the moto server through
# $LOCXIA_STANDIN_SHIM (infra/demo/shim.py). The primary resource of each module
# is named "this" and carries the attribute names of aws_db_instance / aws_instance in its
# input, so the guardrails read real and stand-in plans alike.
terraform {
  required_version = ">= 1.7.0" # for_each in import blocks
}

locals {
  rds = { for name, i in var.instances : name => i if i.kind == "rds" }
  ec2 = { for name, i in var.instances : name => i if i.kind == "ec2" }
  tags = {
    (var.tag_key) = var.tag_value
    managed-by    = "locxia"
  }
  # What discovery found on an adopted instance (as in terraform/live), null otherwise.
  found = { for name, i in var.instances : name => try(jsondecode(i.adopted.found), null) }
  # Dask workers, as in terraform/live.
  workers       = { for name, i in local.ec2 : name => i if i.purpose == "dask-worker" }
  purpose_tag   = { "locxia:purpose" = "dask-worker" }
  worker_script = one(module.dask_worker_user_data[*].user_data)
}

# The script terraform/live renders (./dask_worker_user_data is a copy of
# terraform/modules/dask_worker_user_data; a test keeps them equal). The stand-in's instances
# never boot, and the demo names no scheduler (its work runs on an embedded local cluster): the
# script then names the address `dask scheduler` listens on by default on this host.
module "dask_worker_user_data" {
  source = "./dask_worker_user_data"
  count  = length(local.workers) == 0 ? 0 : 1

  scheduler       = coalesce(var.dask_scheduler, "tcp://127.0.0.1:8786")
  packages        = var.dask_worker_packages
  tls_secret_arn  = var.network.dask_worker_tls_secret_arn
  allow_plaintext = var.dask_allow_plaintext
}

# Adoption, as in terraform/live: the instance AWS has is imported, never created. The
# import id of the stand-in's primary resource is what discovery found (a JSON document):
# terraform_data's import records only an id and cannot read the instance, so the id carries
# what the AWS provider's read would put in the state, and the plan's "before" (cost,
# guardrails) shows the instance as AWS has it. The companion that models in-place
# modifications is imported with it (an import, not a create).
import {
  for_each = var.imports.rds
  to       = module.rds[each.key].terraform_data.this
  id       = var.instances[each.key].adopted.found
}

import {
  for_each = var.imports.rds
  to       = module.rds[each.key].terraform_data.modify
  id       = each.value
}

import {
  for_each = var.imports.ec2
  to       = module.ec2[each.key].terraform_data.this
  id       = var.instances[each.key].adopted.found
}

import {
  for_each = var.imports.ec2
  to       = module.ec2[each.key].terraform_data.modify
  id       = each.value
}

module "rds" {
  source   = "./rds"
  for_each = local.rds

  name   = each.key
  spec   = each.value
  region = var.region
  found  = local.found[each.key]
  tags   = merge(local.tags, each.value.tags, { Name = each.key })
}

module "ec2" {
  source   = "./ec2"
  for_each = local.ec2

  name      = each.key
  spec      = each.value
  region    = var.region
  ami_id    = var.ec2_ami_id
  subnet_id = var.network.subnet_ids[0]
  found     = local.found[each.key]
  user_data = each.value.purpose == "dask-worker" ? local.worker_script : null
  tags      = merge(local.tags, each.value.tags, each.value.purpose == "dask-worker" ? local.purpose_tag : {}, { Name = each.key })
}
