# The server on ECS Fargate in the private subnets, behind the load balancer, with CPU autoscaling.

resource "aws_ecs_cluster" "main" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/ecs/${local.name}/server"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

locals {
  # Secrets: DATABASE_URL from this configuration, the rest created by operators (see the README).
  secret_parameter_arns = merge(
    { DATABASE_URL = aws_ssm_parameter.database_url.arn },
    {
      for name in var.app_secret_names :
      name => "arn:${local.partition}:ssm:${var.aws_region}:${local.account_id}:parameter${local.parameter_prefix}/${name}"
    },
  )

  # Every secret a task receives: the parameters above, and REDIS_URL from Secrets Manager.
  secret_arns = merge(local.secret_parameter_arns, { REDIS_URL = aws_secretsmanager_secret.redis_url.arn })

  app_environment = merge(
    # The public address, and the names requests arrive under: CloudFront forwards the origin's
    # name to the load balancer. app_environment may override both.
    {
      PUBLIC_URL    = "https://${var.domain_name}"
      ALLOWED_HOSTS = "${var.domain_name},${var.origin_domain_name}"
    },
    var.app_environment,
    {
      LEPTOS_SITE_ADDR         = "0.0.0.0:${local.container_port}"
      LEPTOS_SITE_ROOT         = "/app/site"
      RUST_LOG                 = var.rust_log
      LOG_FORMAT               = "json"
      DATABASE_MAX_CONNECTIONS = tostring(var.database_max_connections)
      SHUTDOWN_GRACE_SECONDS   = tostring(var.shutdown_grace_seconds)
      # Viewers reach the tasks through CloudFront and the load balancer, which each append the
      # address they were reached from to X-Forwarded-For: trusting both, the limits per client
      # address see the viewer.
      TRUSTED_PROXIES = join(",", concat([var.vpc_cidr], sort([for entry in data.aws_ec2_managed_prefix_list.cloudfront.entries : entry.cidr])))
    },
  )

  container = {
    name      = "server"
    image     = "${aws_ecr_repository.app.repository_url}:${var.image_tag}"
    essential = true
    user      = "${local.app_uid}:${local.app_uid}"

    portMappings = [{ containerPort = local.container_port, protocol = "tcp" }]

    environment = [for name in sort(keys(local.app_environment)) : { name = name, value = local.app_environment[name] }]
    secrets     = [for name in sort(keys(local.secret_arns)) : { name = name, valueFrom = local.secret_arns[name] }]

    # Tasks read their secrets only when they start: a new DATABASE_URL (a rotated database password)
    # or REDIS_URL (a rotated auth token) changes the task definition through these labels, so the
    # same apply replaces the running tasks.
    dockerLabels = {
      "ais-chatrooms.database-url-version" = tostring(aws_ssm_parameter.database_url.version)
      "ais-chatrooms.redis-url-version"    = aws_secretsmanager_secret_version.redis_url.version_id
    }

    readonlyRootFilesystem = true
    privileged             = false
    mountPoints = [
      { sourceVolume = "data", containerPath = "/app/data", readOnly = false },
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]

    # Live streams hold one connection each.
    ulimits = [{ name = "nofile", softLimit = 65535, hardLimit = 65535 }]

    healthCheck = {
      command     = ["CMD-SHELL", "curl -fsS -o /dev/null http://127.0.0.1:${local.container_port}/healthz || exit 1"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }

    # SIGTERM, then the server's own grace period plus a margin before SIGKILL.
    stopTimeout = min(var.shutdown_grace_seconds + 15, 120)

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.app.name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = "server"
      }
    }
  }
}

resource "aws_ecs_task_definition" "app" {
  family                   = local.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([local.container])

  volume {
    name = "data"

    efs_volume_configuration {
      file_system_id     = aws_efs_file_system.data.id
      transit_encryption = "ENABLED"

      authorization_config {
        access_point_id = aws_efs_access_point.data.id
        iam             = "ENABLED"
      }
    }
  }

  # Task-local scratch space (the root file system is read-only).
  volume {
    name = "tmp"
  }
}

resource "aws_ecs_service" "app" {
  name             = "server"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.app.arn
  desired_count    = var.desired_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  # `terraform apply` returns once the new tasks are healthy, so the bundle can be uploaded next.
  wait_for_steady_state = true

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.app.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.app.arn
    container_name   = "server"
    container_port   = local.container_port
  }

  lifecycle {
    # Autoscaling owns the task count after the first apply.
    ignore_changes = [desired_count]
  }

  depends_on = [aws_lb_listener_rule.from_cloudfront, aws_efs_mount_target.data]
}

# --- autoscaling ---

resource "aws_appautoscaling_target" "app" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.app.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_count
  max_capacity       = var.max_count
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${local.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.app.service_namespace
  resource_id        = aws_appautoscaling_target.app.resource_id
  scalable_dimension = aws_appautoscaling_target.app.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "memory" {
  name               = "${local.name}-memory"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.app.service_namespace
  resource_id        = aws_appautoscaling_target.app.resource_id
  scalable_dimension = aws_appautoscaling_target.app.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = 75
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageMemoryUtilization"
    }
  }
}

# --- IAM: the execution role starts tasks, the task role is what the server may do ---

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${local.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [aws_ecr_repository.app.arn]
  }

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # not resource-scoped by AWS
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.app.arn}:*"]
  }

  statement {
    sid       = "ReadSecrets"
    actions   = ["ssm:GetParameters"]
    resources = values(local.secret_parameter_arns)
  }

  statement {
    sid       = "ReadRedisUrl"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.redis_url.arn]
  }

  statement {
    sid       = "DecryptImageAndSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-server-tasks"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name               = "${local.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "MountSharedData"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.data.arn]

    condition {
      test     = "StringEquals"
      variable = "elasticfilesystem:AccessPointArn"
      values   = [aws_efs_access_point.data.arn]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "server"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
