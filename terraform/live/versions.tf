terraform {
  required_version = ">= 1.7.0" # for_each in import blocks

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }

  # Partial configuration: bucket, key, region and use_lockfile = true come from
  # `terraform init -backend-config=backend.hcl` (LOCXIA_TERRAFORM_BACKEND_CONFIG).
  backend "s3" {}
}
