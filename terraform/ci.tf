# Roles GitHub Actions assumes through OIDC (no stored AWS keys): one pushes images from the main
# branch, one runs `terraform plan` from the approval-gated environment. Set github_repository to
# create them.

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

# --- terraform plan (workflow job in the approval-gated environment) ---

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
      values   = ["repo:${var.github_repository}:environment:${var.github_environment}"]
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
  # Refreshing the SecureString parameters.
  statement {
    sid       = "DecryptParameters"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }

  # The state, and its lock file (S3-native locking).
  statement {
    sid       = "ReadState"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${var.state_bucket}"]
  }

  statement {
    sid       = "LockState"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["arn:${local.partition}:s3:::${var.state_bucket}/*"]
  }
}

resource "aws_iam_role_policy" "ci_plan" {
  count = local.ci_enabled && var.state_bucket != "" ? 1 : 0

  name   = "plan"
  role   = aws_iam_role.ci_plan[0].id
  policy = data.aws_iam_policy_document.ci_plan.json
}
