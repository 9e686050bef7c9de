locals {
  name = "${var.project}-${var.environment}"
  tags = merge(
    {
      Project     = var.project
      Environment = var.environment
      ManagedBy   = "terraform"
    },
    var.tags,
  )

  azs        = data.aws_availability_zones.available.names
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # SSM Parameter Store path for this environment's secrets: /<project>/<environment>/<NAME>.
  parameter_prefix = "/${var.project}/${var.environment}"

  container_port = 3000
  app_uid        = 10001
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Exactly the two zones the network spans (by default <region>a and <region>b).
data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "zone-name"
    values = length(var.availability_zones) > 0 ? var.availability_zones : ["${var.aws_region}a", "${var.aws_region}b"]
  }
}
