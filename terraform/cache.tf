# ElastiCache Redis: the server tasks share live room events and stop requests through it.
# Clients connect with TLS and the auth token; the server's REDIS_URL
# (rediss://:<token>@<endpoint>:6379) is kept in Secrets Manager and handed to each task at start.

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
  description          = "${local.name}: live events shared by the server tasks"

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

# The server's REDIS_URL. The token is 64 hex digits, so it needs no escaping in the URL.
resource "aws_secretsmanager_secret" "redis_url" {
  #checkov:skip=CKV2_AWS_57:The auth token inside is rotated by terraform (auth_token_update_strategy ROTATE keeps the old token valid meanwhile), which writes a new secret version; a rotation Lambda would change the token behind terraform's back.
  name                    = "${local.name}/REDIS_URL"
  description             = "REDIS_URL of the server (TLS and auth token)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "redis_url" {
  secret_id     = aws_secretsmanager_secret.redis_url.id
  secret_string = "rediss://:${sensitive(terraform_data.redis_auth_token.output)}@${aws_elasticache_replication_group.main.primary_endpoint_address}:6379"
}
