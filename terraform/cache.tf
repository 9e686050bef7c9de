# ElastiCache Redis, provisioned for fanning live events out across several server tasks.
# Clients connect with TLS and the auth token kept in Parameter Store (rediss://:<token>@<endpoint>:6379).

# The auth token: 64 hex digits from two random (version 4) UUIDs, 244 random bits; made once and kept.
resource "terraform_data" "redis_auth_token" {
  input = replace("${uuid()}${uuid()}", "-", "")

  lifecycle {
    ignore_changes = [input]
  }
}

resource "aws_elasticache_subnet_group" "main" {
  name       = local.name
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_cloudwatch_log_group" "redis" {
  name              = "/elasticache/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_elasticache_replication_group" "main" {
  replication_group_id = local.name
  description          = "${local.name}: live event fan-out"

  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  port                 = 6379
  num_cache_clusters   = 2
  parameter_group_name = "default.redis7"

  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.main.name
  security_group_ids         = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn
  transit_encryption_enabled = true
  auth_token                 = sensitive(terraform_data.redis_auth_token.output)
  # A new token is added next to the old one, which stays valid: clients holding it keep working.
  auth_token_update_strategy = "ROTATE"

  auto_minor_version_upgrade = true
  snapshot_retention_limit   = 7
  snapshot_window            = "01:00-02:00"
  maintenance_window         = "sun:04:30-sun:05:30"

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.redis.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }
}

resource "aws_ssm_parameter" "redis_auth_token" {
  name        = "${local.parameter_prefix}/redis/auth-token"
  description = "Auth token of the ElastiCache Redis replication group"
  type        = "SecureString"
  key_id      = aws_kms_key.main.arn
  value       = sensitive(terraform_data.redis_auth_token.output)
}
