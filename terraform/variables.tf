# --- naming and placement ---

variable "project" {
  description = "Name prefix of every resource."
  type        = string
  default     = "ais-chatrooms"
}

variable "environment" {
  description = "Environment name, e.g. prod or staging; part of every resource name."
  type        = string
  default     = "prod"
}

variable "aws_region" {
  description = "Region for everything except CloudFront's certificate and WAF (always us-east-1)."
  type        = string
  default     = "eu-west-1"
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# --- network ---

variable "availability_zones" {
  description = "The two availability zones to use, e.g. [\"eu-west-1a\", \"eu-west-1b\"]. Empty: <region>a and <region>b."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || length(var.availability_zones) == 2
    error_message = "Give exactly two availability zones, or none."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; public and private /24 subnets are carved from it in two availability zones."
  type        = string
  default     = "10.40.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway for both private subnets (cheaper) instead of one per availability zone (survives an AZ outage)."
  type        = bool
  default     = false
}

# --- domain names and certificates ---

variable "domain_name" {
  description = "Public host name of the app, served by CloudFront, e.g. chat.example.com."
  type        = string
}

variable "origin_domain_name" {
  description = "Host name CloudFront uses to reach the load balancer over HTTPS, e.g. origin.chat.example.com. Must be covered by alb_certificate_arn and resolve to the load balancer."
  type        = string
}

variable "alb_certificate_arn" {
  description = "ARN of an ACM certificate in aws_region for origin_domain_name (the load balancer's HTTPS listener)."
  type        = string
}

variable "cloudfront_certificate_arn" {
  description = "ARN of an ACM certificate in us-east-1 for domain_name (CloudFront)."
  type        = string
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone for domain_name and origin_domain_name. Empty: create the two DNS records yourself (see the outputs)."
  type        = string
  default     = ""
}

variable "cloudfront_price_class" {
  description = "CloudFront price class: PriceClass_100, PriceClass_200 or PriceClass_All."
  type        = string
  default     = "PriceClass_100"
}

variable "cloudfront_origin_read_timeout" {
  description = "Seconds CloudFront waits for the next bytes from the load balancer (60 at most unless AWS raises the quota, then up to 180). Live streams must send something (a keep-alive comment) more often than this."
  type        = number
  default     = 60
}

variable "alb_idle_timeout" {
  description = "Seconds the load balancer keeps an idle connection open: long, for Server-Sent Events."
  type        = number
  default     = 3600
}

variable "waf_rate_limit" {
  description = "Requests per five minutes one client IP may make before WAF blocks it."
  type        = number
  default     = 3000
}

variable "origin_verify_previous" {
  description = "A previous X-Origin-Verify value the load balancer still accepts next to the current one, while CloudFront rolls out a new one (see the README, \"Upgrading an existing deployment\"). Empty otherwise."
  type        = string
  default     = ""
  sensitive   = true
}

# --- the service ---

variable "image_tag" {
  description = "Tag of the server image in the ECR repository this configuration creates (e.g. the git commit)."
  type        = string
}

variable "task_cpu" {
  description = "Fargate task CPU units (1024 = 1 vCPU)."
  type        = number
  default     = 512
}

variable "task_memory" {
  description = "Fargate task memory in MiB."
  type        = number
  default     = 1024
}

# The tasks share live events through Redis (cache.tf, REDIS_URL) and own runs and replies through
# leases in PostgreSQL: two tasks keep the rooms going when one dies or is replaced by a deploy.
variable "desired_count" {
  description = "Tasks to start with; autoscaling moves it between min_count and max_count afterwards."
  type        = number
  default     = 2
}

variable "min_count" {
  description = "Fewest tasks autoscaling keeps running; two, so losing one interrupts nothing."
  type        = number
  default     = 2
}

variable "max_count" {
  description = "Most tasks autoscaling may start."
  type        = number
  default     = 6

  validation {
    condition     = var.max_count >= var.min_count
    error_message = "max_count must be at least min_count."
  }
}

variable "cpu_target_percent" {
  description = "Average CPU utilisation autoscaling aims for."
  type        = number
  default     = 60
}

variable "rust_log" {
  description = "RUST_LOG of the server."
  type        = string
  default     = "info"
}

variable "database_max_connections" {
  description = "DATABASE_MAX_CONNECTIONS per task; keep max_count times this below the database's max_connections."
  type        = number
  default     = 10
}

variable "shutdown_grace_seconds" {
  description = "SHUTDOWN_GRACE_SECONDS of the server; ECS waits this plus 15 seconds before killing a stopping task."
  type        = number
  default     = 10
}

variable "app_environment" {
  description = "Further non-secret environment variables of the server, e.g. { OPENAI_BASE_URL = \"...\", AZURE_OPENAI_ENDPOINT = \"...\" }."
  type        = map(string)
  default     = {}
}

variable "app_secret_names" {
  description = "Environment variables the server reads from SSM Parameter Store (SecureString), each at <parameter prefix>/<NAME>, e.g. [\"OPENAI_API_KEY\"]. Create each parameter before adding its name here (see the README)."
  type        = list(string)
  default     = []
}

variable "monitoring_cidrs" {
  description = "IPv4 networks (inside the VPC or peered with it) whose Prometheus scrapes the tasks' /metrics on port 3000 directly. Empty: no such access; /metrics is never public either way."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.monitoring_cidrs : can(cidrhost(cidr, 0)) && !startswith(cidr, "0.0.0.0/")])
    error_message = "Give IPv4 networks such as 10.40.0.0/16; 0.0.0.0/0 would open the tasks to everyone."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps logs (the server's, VPC flow logs, WAF, database, cache)."
  type        = number
  default     = 365
}

# --- data stores ---

variable "db_engine_version" {
  description = "PostgreSQL major version on RDS."
  type        = string
  default     = "16"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  description = "Initial RDS storage in GiB."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage" {
  description = "RDS storage autoscaling ceiling in GiB."
  type        = number
  default     = 100
}

variable "db_multi_az" {
  description = "Run a standby database in the second availability zone."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Protect the database and the load balancer from deletion (turn off only to tear an environment down)."
  type        = bool
  default     = true
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.micro"
}

variable "redis_engine_version" {
  description = "ElastiCache Redis engine version."
  type        = string
  default     = "7.1"
}

variable "log_bucket_retention_days" {
  description = "Days the log bucket keeps load balancer and CloudFront access logs."
  type        = number
  default     = 400
}

# --- continuous integration (GitHub Actions through OIDC) ---

variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflow may push images, plan and apply this configuration. Empty: no CI roles."
  type        = string
  default     = ""
}

variable "github_environment" {
  description = "GitHub environment with required reviewers that the deploy job (bundle upload, terraform apply, CDN invalidation) runs in; only it may assume the apply role."
  type        = string
  default     = "production"
}

variable "github_plan_environment" {
  description = "GitHub environment (deployments from main only, no reviewers) that the terraform plan job runs in; only it may assume the read-only plan role."
  type        = string
  default     = "production-plan"

  validation {
    condition     = var.github_plan_environment != var.github_environment
    error_message = "github_plan_environment must differ from github_environment: each role trusts one environment, and the unreviewed plan job must not be able to assume the apply role."
  }
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC identity provider; false when the account already has one."
  type        = bool
  default     = true
}

variable "state_bucket" {
  description = "S3 bucket holding this configuration's state (the plan role reads it and writes only the lock file; the apply role reads and writes it)."
  type        = string
  default     = ""
}
