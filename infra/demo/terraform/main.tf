# Stand-in for terraform/live: the AWS provider cannot be downloaded in CI, so each instance
# is a built-in terraform_data resource whose provisioners call the moto server through
# $LOCXIA_STANDIN_SHIM (infra/demo/shim.py). The primary resource of each module
# is named "this" and carries the attribute names of aws_db_instance / aws_instance in its
# input, so the guardrails read real and stand-in plans alike.
terraform {
  required_version = ">= 1.5.0"
}

locals {
  rds = { for name, i in var.instances : name => i if i.kind == "rds" }
  ec2 = { for name, i in var.instances : name => i if i.kind == "ec2" }
  tags = {
    (var.tag_key) = var.tag_value
    managed-by    = "locxia"
  }
}

module "rds" {
  source   = "./rds"
  for_each = local.rds

  name   = each.key
  spec   = each.value
  region = var.region
  tags   = merge(local.tags, each.value.tags, { Name = each.key })
}

module "ec2" {
  source   = "./ec2"
  for_each = local.ec2

  name   = each.key
  spec   = each.value
  region = var.region
  ami_id = var.ec2_ami_id
  tags   = merge(local.tags, each.value.tags, { Name = each.key })
}
