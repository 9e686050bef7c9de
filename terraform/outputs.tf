output "app_url" {
  description = "Where the app answers (once DNS points domain_name at CloudFront)."
  value       = "https://${var.domain_name}"
}

output "cloudfront_domain_name" {
  description = "CloudFront's host name: domain_name must be a CNAME (or Route 53 alias) of it."
  value       = aws_cloudfront_distribution.main.domain_name
}

output "cloudfront_distribution_id" {
  description = "For invalidating CloudFront after a deploy (the /pkg files are content-hashed and never need it)."
  value       = aws_cloudfront_distribution.main.id
}

output "alb_dns_name" {
  description = "The load balancer's host name: origin_domain_name must be a CNAME (or Route 53 alias) of it."
  value       = aws_lb.main.dns_name
}

output "ecr_repository_url" {
  description = "Push the server image here: <url>:<image_tag>."
  value       = aws_ecr_repository.app.repository_url
}

output "assets_bucket" {
  description = "S3 bucket for the browser bundle: upload site/pkg to s3://<bucket>/pkg/ before the tasks that name it start, never deleting older files."
  value       = aws_s3_bucket.assets.bucket
}

output "ecs_cluster_name" {
  description = "ECS cluster of the server."
  value       = aws_ecs_cluster.main.name
}

output "ecs_service_name" {
  description = "ECS service of the server."
  value       = aws_ecs_service.app.name
}

output "log_group" {
  description = "CloudWatch log group of the server."
  value       = aws_cloudwatch_log_group.app.name
}

output "parameter_prefix" {
  description = "SSM Parameter Store path of this environment's secrets: put app secrets at <prefix>/<NAME>."
  value       = local.parameter_prefix
}

output "kms_key_alias" {
  description = "KMS key for SecureString parameters (--key-id)."
  value       = aws_kms_alias.main.name
}

output "database_endpoint" {
  description = "RDS PostgreSQL endpoint (private)."
  value       = aws_db_instance.main.address
}

output "redis_endpoint" {
  description = "ElastiCache Redis primary endpoint (private, TLS, auth token in <prefix>/redis/auth-token)."
  value       = aws_elasticache_replication_group.main.primary_endpoint_address
}

output "ci_push_role_arn" {
  description = "Role the CI workflow assumes to push images (AWS_PUSH_ROLE_ARN)."
  value       = local.ci_enabled ? aws_iam_role.ci_push[0].arn : null
}

output "ci_plan_role_arn" {
  description = "Read-only role the CI workflow's plan job assumes (AWS_PLAN_ROLE_ARN of the github_plan_environment)."
  value       = local.ci_enabled ? aws_iam_role.ci_plan[0].arn : null
}

output "ci_apply_role_arn" {
  description = "Role the CI workflow's deploy job assumes to upload the bundle, apply the plan and invalidate CloudFront (AWS_APPLY_ROLE_ARN of the github_environment)."
  value       = local.ci_enabled ? aws_iam_role.ci_apply[0].arn : null
}
