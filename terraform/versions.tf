terraform {
  # S3-native state locking (use_lockfile) needs 1.10 or later.
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    # .terraform.lock.hcl pins the exact release (5.100.0) and its checksums.
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Remote state: `terraform init -backend-config=backend.hcl` (see backend.hcl.example).
  backend "s3" {}
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = local.tags
  }
}

# CloudFront's certificate and its WAF web ACL live in us-east-1, whatever the main region.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = local.tags
  }
}
