# Roles GitHub Actions assumes through OIDC (no stored AWS keys). Set github_repository to create them.
#   ci_push   pushes images to the ECR repository, from workflow runs on the main branch;
#   ci_plan   runs `terraform plan`, read-only, from the github_plan_environment (production-plan);
#   ci_apply  uploads the browser bundle, applies the reviewed plan and invalidates CloudFront, from
#             the github_environment (production), whose required reviewers approve each run.

locals {
  ci_enabled    = var.github_repository != ""
  github_oidc   = "token.actions.githubusercontent.com"
  oidc_provider = local.ci_enabled ? (var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn) : ""
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.ci_enabled && var.create_github_oidc_provider ? 1 : 0

  url            = "https://${local.github_oidc}"
  client_id_list = ["sts.amazonaws.com"]
  # GitHub's published thumbprints; AWS no longer checks them for this provider but the API wants one.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
}

data "aws_iam_openid_connect_provider" "github" {
  count = local.ci_enabled && !var.create_github_oidc_provider ? 1 : 0

  url = "https://${local.github_oidc}"
}

# --- push images (workflow runs on the main branch) ---

data "aws_iam_policy_document" "ci_push_assume" {
  count = local.ci_enabled ? 1 : 0

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc}:sub"
      values   = ["repo:${var.github_repository}:ref:refs/heads/main"]
    }
  }
}

resource "aws_iam_role" "ci_push" {
  count = local.ci_enabled ? 1 : 0

  name               = "${local.name}-ci-push"
  assume_role_policy = data.aws_iam_policy_document.ci_push_assume[0].json
}

data "aws_iam_policy_document" "ci_push" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # not resource-scoped by AWS
  }

  statement {
    sid = "PushImages"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [aws_ecr_repository.app.arn]
  }

  statement {
    sid       = "EncryptLayers"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "ci_push" {
  count = local.ci_enabled ? 1 : 0

  name   = "push-images"
  role   = aws_iam_role.ci_push[0].id
  policy = data.aws_iam_policy_document.ci_push.json
}

# --- terraform plan (read-only: the plan job runs without approval) ---

data "aws_iam_policy_document" "ci_plan_assume" {
  count = local.ci_enabled ? 1 : 0

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc}:sub"
      values   = ["repo:${var.github_repository}:environment:${var.github_plan_environment}"]
    }
  }
}

resource "aws_iam_role" "ci_plan" {
  count = local.ci_enabled ? 1 : 0

  name               = "${local.name}-ci-plan"
  assume_role_policy = data.aws_iam_policy_document.ci_plan_assume[0].json
}

# Reading every resource of the configuration.
resource "aws_iam_role_policy_attachment" "ci_plan_read_only" {
  count = local.ci_enabled ? 1 : 0

  role       = aws_iam_role.ci_plan[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}

data "aws_iam_policy_document" "ci_plan" {
  # Refreshing the SecureString parameters (ReadOnlyAccess reads them, this key decrypts them).
  statement {
    sid       = "DecryptParameters"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }

  # The state: read it (ReadOnlyAccess grants s3:GetObject too; listed here to be explicit).
  statement {
    sid       = "ReadState"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${var.state_bucket}"]
  }

  statement {
    sid       = "ReadStateObjects"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${var.state_bucket}/*"]
  }

  # S3-native locking (use_lockfile) writes <key>.tflock next to the state and deletes it afterwards.
  # Only lock files: the plan role can never write the state itself.
  statement {
    sid       = "LockState"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["arn:${local.partition}:s3:::${var.state_bucket}/*.tflock"]
  }
}

resource "aws_iam_role_policy" "ci_plan" {
  count = local.ci_enabled && var.state_bucket != "" ? 1 : 0

  name   = "plan"
  role   = aws_iam_role.ci_plan[0].id
  policy = data.aws_iam_policy_document.ci_plan.json
}

# --- terraform apply (the deploy job, behind the environment's required reviewers) ---
#
# Applying means creating, changing and deleting everything this configuration describes: a network,
# a load balancer, CloudFront and WAF, a database, a cache, a file system, ECS, ECR, KMS keys, log
# groups, parameters, IAM roles and S3 buckets. Listing single actions per resource would break the
# deploy whenever a resource or a provider upgrade needs one more, so the role has every action of
# those services, and is scoped to this project where the resource names allow it: the two buckets
# and the state, the parameters under the project's prefix, the ECR repository, the IAM roles named
# <project>-<environment>-* and the GitHub OIDC provider, KMS keys tagged with the project and
# environment. The services without such names (EC2/VPC, load balancing, CloudFront, WAF, RDS,
# ElastiCache, EFS, ECS, Application Auto Scaling, CloudWatch and its logs) are granted account-wide.
# Since the configuration manages the CI roles themselves, this role can change them, its own
# included: what guards it is that only the reviewed deploy job can assume it, and that it applies
# only the plan the reviewers saw. A dedicated AWS account per environment is the sharpest boundary.

data "aws_iam_policy_document" "ci_apply_assume" {
  count = local.ci_enabled ? 1 : 0

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc}:sub"
      values   = ["repo:${var.github_repository}:environment:${var.github_environment}"]
    }
  }
}

resource "aws_iam_role" "ci_apply" {
  count = local.ci_enabled ? 1 : 0

  name                 = "${local.name}-ci-apply"
  assume_role_policy   = data.aws_iam_policy_document.ci_apply_assume[0].json
  max_session_duration = 7200 # an apply that replaces the database can take more than an hour
}

locals {
  iam_prefix = "arn:${local.partition}:iam::${local.account_id}"
}

data "aws_iam_policy_document" "ci_apply" {
  #checkov:skip=CKV_AWS_107:The apply role gets ECR login tokens (not resource-scoped by AWS) and manages the project's own IAM roles, which ci.tf, ecs.tf, database.tf and network.tf define; it has no rights on IAM users or their keys.
  #checkov:skip=CKV_AWS_109:Applying sets resource policies (bucket, key, file system, log and repository policies) of what this configuration manages; where resources have project names (buckets, keys, parameters, repository, roles) the grants are scoped to them, see the comment above.
  #checkov:skip=CKV_AWS_111:The infrastructure services this configuration uses (VPC, load balancing, CloudFront, WAF, RDS, ElastiCache, EFS, ECS, autoscaling, CloudWatch) have no project-specific resource names to scope writes to; only the reviewed deploy job can assume the role.
  #checkov:skip=CKV_AWS_356:Same as CKV_AWS_111: "*" is limited to the services this configuration uses, whose resources have no predictable project names; everything that has them is scoped.

  statement {
    sid = "InfrastructureServices"
    actions = [
      "application-autoscaling:*",
      "cloudfront:*",
      "cloudwatch:*",
      "ec2:*",
      "ecs:*",
      "elasticache:*",
      "elasticfilesystem:*",
      "elasticloadbalancing:*",
      "logs:*",
      "rds:*",
      "wafv2:*",
      "acm:DescribeCertificate",
      "acm:ListCertificates",
      "ecr:GetAuthorizationToken",
      "ecr:DescribeRegistry",
      "iam:GetOpenIDConnectProvider",
      "iam:ListOpenIDConnectProviders",
      "kms:CreateKey",
      "kms:ListAliases",
      "kms:ListKeys",
      "route53:GetChange",
      "route53:ListHostedZones",
      "s3:ListAllMyBuckets",
      "ssm:DescribeParameters",
      "sts:GetCallerIdentity",
    ]
    resources = ["*"]
  }

  # KMS keys this configuration created carry its Project and Environment tags (default_tags).
  statement {
    sid       = "ProjectKeys"
    actions   = ["kms:*"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.project]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Environment"
      values   = [var.environment]
    }
  }

  # Tagging a key as it is created, and its aliases.
  statement {
    sid       = "TagNewProjectKeys"
    actions   = ["kms:TagResource"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Project"
      values   = [var.project]
    }
  }

  statement {
    sid       = "ProjectKeyAliases"
    actions   = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"]
    resources = ["arn:${local.partition}:kms:*:${local.account_id}:alias/${local.name}*"]
  }

  # The log and bundle buckets; the upload of the browser bundle.
  statement {
    sid     = "ProjectBuckets"
    actions = ["s3:*"]
    resources = [
      "arn:${local.partition}:s3:::${local.name}-*-${local.account_id}",
      "arn:${local.partition}:s3:::${local.name}-*-${local.account_id}/*",
    ]
  }

  statement {
    sid       = "State"
    actions   = ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["arn:${local.partition}:s3:::${var.state_bucket}", "arn:${local.partition}:s3:::${var.state_bucket}/*"]
  }

  statement {
    sid       = "ProjectParameters"
    actions   = ["ssm:*"]
    resources = ["arn:${local.partition}:ssm:${var.aws_region}:${local.account_id}:parameter${local.parameter_prefix}/*"]
  }

  statement {
    sid       = "ProjectImages"
    actions   = ["ecr:*"]
    resources = [aws_ecr_repository.app.arn]
  }

  statement {
    sid     = "ProjectRoles"
    actions = ["iam:*"]
    resources = [
      "${local.iam_prefix}:role/${local.name}-*",
      "${local.iam_prefix}:oidc-provider/${local.github_oidc}",
    ]
  }

  # ECS, load balancing, RDS, ElastiCache, EFS, autoscaling and WAF logging create their service-linked
  # roles on first use in an account.
  statement {
    sid       = "ServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["${local.iam_prefix}:role/aws-service-role/*"]

    condition {
      test     = "StringLike"
      variable = "iam:AWSServiceName"
      values = [
        "ecs.amazonaws.com",
        "ecs.application-autoscaling.amazonaws.com",
        "elasticache.amazonaws.com",
        "elasticfilesystem.amazonaws.com",
        "elasticloadbalancing.amazonaws.com",
        "rds.amazonaws.com",
        "wafv2.amazonaws.com",
      ]
    }
  }

  # The managed policies ci.tf and database.tf attach (ReadOnlyAccess, the RDS monitoring role) are read.
  statement {
    sid       = "ReadManagedPolicies"
    actions   = ["iam:GetPolicy", "iam:GetPolicyVersion"]
    resources = ["arn:${local.partition}:iam::aws:policy/*"]
  }

  dynamic "statement" {
    for_each = var.route53_zone_id == "" ? [] : [var.route53_zone_id]

    content {
      sid       = "ProjectRecords"
      actions   = ["route53:*"]
      resources = ["arn:${local.partition}:route53:::hostedzone/${statement.value}"]
    }
  }
}

resource "aws_iam_role_policy" "ci_apply" {
  count = local.ci_enabled && var.state_bucket != "" ? 1 : 0

  name   = "apply"
  role   = aws_iam_role.ci_apply[0].id
  policy = data.aws_iam_policy_document.ci_apply.json
}
