# One customer-managed key for the region: logs, database, cache, parameters, images, files and the bundle.

resource "aws_kms_key" "main" {
  description             = "${local.name}: logs, database, cache, parameters, images, files and the browser bundle"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_main.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

data "aws_iam_policy_document" "kms_main" {
  #checkov:skip=CKV_AWS_109:This is a KMS key policy: "*" is the key itself, and the account root statement is what lets IAM policies grant use of the key.
  #checkov:skip=CKV_AWS_111:This is a KMS key policy: "*" is the key itself; the service statements are limited by encryption-context and source-ARN conditions.
  #checkov:skip=CKV_AWS_356:This is a KMS key policy, where the resource can only be "*" (the key itself).
  # Key policies name the key itself as "*". The account's IAM policies decide who else may use it.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncrypts"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.aws_region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:*"]
    }
  }

  # CloudFront reads the bundle from the KMS-encrypted bucket through origin access control.
  statement {
    sid       = "CloudFrontDecryptsBundle"
    actions   = ["kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "AWS:SourceArn"
      values   = ["arn:${local.partition}:cloudfront::${local.account_id}:distribution/*"]
    }
  }
}

# us-east-1 key for the WAF logs (a log group's key must be in the log group's region).
resource "aws_kms_key" "edge" {
  provider = aws.us_east_1

  description             = "${local.name}: CloudFront WAF logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_edge.json
}

resource "aws_kms_alias" "edge" {
  provider = aws.us_east_1

  name          = "alias/${local.name}-edge"
  target_key_id = aws_kms_key.edge.key_id
}

data "aws_iam_policy_document" "kms_edge" {
  #checkov:skip=CKV_AWS_109:This is a KMS key policy: "*" is the key itself, and the account root statement is what lets IAM policies grant use of the key.
  #checkov:skip=CKV_AWS_111:This is a KMS key policy: "*" is the key itself; the logs statement is limited by an encryption-context condition.
  #checkov:skip=CKV_AWS_356:This is a KMS key policy, where the resource can only be "*" (the key itself).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncrypts"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.us-east-1.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:us-east-1:${local.account_id}:log-group:*"]
    }
  }
}
