# CloudFront in front of everything: /pkg/* (the browser bundle) from S3, the rest from the load
# balancer uncached. The app keeps one origin for the browser, so pages, server functions, the REST
# API and live streams need no cross-origin set-up. WAF protects the distribution.

# --- the bundle bucket ---

resource "aws_s3_bucket" "assets" {
  #checkov:skip=CKV_AWS_144:The bundle is rebuilt from source and uploaded on every deploy; a second-region copy adds nothing.
  bucket = "${local.name}-assets-${local.account_id}"
}

resource "aws_s3_bucket_ownership_controls" "assets" {
  bucket = aws_s3_bucket.assets.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "assets" {
  bucket                  = aws_s3_bucket.assets.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "assets" {
  bucket = aws_s3_bucket.assets.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "assets" {
  bucket = aws_s3_bucket.assets.id

  rule {
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "assets" {
  bucket = aws_s3_bucket.assets.id

  rule {
    id     = "drop-old-bundles"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_logging" "assets" {
  bucket        = aws_s3_bucket.assets.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3-assets/"
}

resource "aws_s3_bucket_notification" "assets" {
  bucket      = aws_s3_bucket.assets.id
  eventbridge = true
}

data "aws_iam_policy_document" "assets_bucket" {
  statement {
    sid       = "CloudFrontReadsBundle"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.assets.arn}/*"]

    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.main.arn]
    }
  }

  statement {
    sid       = "DenyWithoutTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.assets.arn, "${aws_s3_bucket.assets.arn}/*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "assets" {
  bucket = aws_s3_bucket.assets.id
  policy = data.aws_iam_policy_document.assets_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.assets]
}

# --- CloudFront ---

resource "aws_cloudfront_origin_access_control" "assets" {
  name                              = "${local.name}-assets"
  description                       = "CloudFront reads the bundle bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

data "aws_cloudfront_cache_policy" "disabled" {
  name = "Managed-CachingDisabled"
}

data "aws_cloudfront_origin_request_policy" "all_viewer_except_host" {
  name = "Managed-AllViewerExceptHostHeader"
}

# The bundle's file names carry a hash of their content, so a file never changes: the edge keeps it
# for a year, as do browsers (the objects are uploaded with "public, max-age=31536000, immutable",
# see the README). A deploy adds new files next to the old ones and never needs to invalidate /pkg.
resource "aws_cloudfront_cache_policy" "bundle" {
  name        = "${local.name}-bundle"
  comment     = "Browser bundle under /pkg: content-hashed file names, immutable"
  min_ttl     = 0
  default_ttl = 31536000
  max_ttl     = 31536000

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true

    cookies_config {
      cookie_behavior = "none"
    }

    headers_config {
      header_behavior = "none"
    }

    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

# /metrics is for the monitoring inside the VPC only: the edge answers 404 without asking the origin.
resource "aws_cloudfront_function" "not_found" {
  name    = "${local.name}-not-found"
  comment = "Answers 404 (paths that are never public, such as /metrics)"
  runtime = "cloudfront-js-2.0"
  publish = true
  code    = <<-EOT
    function handler(event) {
      return { statusCode: 404, statusDescription: "Not Found" };
    }
  EOT
}

resource "aws_cloudfront_response_headers_policy" "security" {
  #checkov:skip=CKV_AWS_259:HSTS is sent for a year with includeSubDomains; "preload" commits the whole registrable domain to browsers' built-in lists, which is the domain owner's decision, not this stack's.
  name    = "${local.name}-security-headers"
  comment = "Security headers for every response"

  security_headers_config {
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = false
      override                   = true
    }

    content_type_options {
      override = true
    }

    frame_options {
      frame_option = "DENY"
      override     = true
    }

    referrer_policy {
      referrer_policy = "same-origin"
      override        = true
    }
  }
}

resource "aws_cloudfront_distribution" "main" {
  #checkov:skip=CKV2_AWS_47:The web ACL has the Log4j rules (AWSManagedRulesKnownBadInputsRuleSet); the anonymous-IP list this check also demands would block people on VPNs and corporate proxies.
  #checkov:skip=CKV_AWS_310:Origin failover groups only serve GET, HEAD and OPTIONS; the app's origin needs every method, and the load balancer already spans two availability zones.
  #checkov:skip=CKV_AWS_374:The app is offered worldwide; no country is blocked.
  #checkov:skip=CKV_AWS_305:The root path is a page rendered by the server, not an object; a default root object would rewrite it.
  enabled         = true
  is_ipv6_enabled = true
  comment         = local.name
  aliases         = [var.domain_name]
  price_class     = var.cloudfront_price_class
  http_version    = "http2and3"
  web_acl_id      = aws_wafv2_web_acl.edge.arn

  origin {
    origin_id   = "server"
    domain_name = var.origin_domain_name

    custom_origin_config {
      http_port                = 80
      https_port               = 443
      origin_protocol_policy   = "https-only"
      origin_ssl_protocols     = ["TLSv1.2"]
      origin_read_timeout      = var.cloudfront_origin_read_timeout
      origin_keepalive_timeout = 60
    }

    custom_header {
      name  = "X-Origin-Verify"
      value = sensitive(terraform_data.origin_verify.output)
    }
  }

  origin {
    origin_id                = "bundle"
    domain_name              = aws_s3_bucket.assets.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.assets.id
  }

  # Pages, server functions, the REST API and Server-Sent Events: never cached, streamed through.
  default_cache_behavior {
    target_origin_id           = "server"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = data.aws_cloudfront_cache_policy.disabled.id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_viewer_except_host.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    compress                   = false
  }

  # /metrics and anything under it: 404 at the edge (the load balancer answers 404 too, alb.tf).
  ordered_cache_behavior {
    path_pattern               = "/metrics*"
    target_origin_id           = "server"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = data.aws_cloudfront_cache_policy.disabled.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    compress                   = false

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.not_found.arn
    }
  }

  ordered_cache_behavior {
    path_pattern               = "/pkg/*"
    target_origin_id           = "bundle"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = aws_cloudfront_cache_policy.bundle.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    compress                   = true
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn      = var.cloudfront_certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }

  logging_config {
    bucket          = aws_s3_bucket.logs.bucket_domain_name
    prefix          = "cloudfront/"
    include_cookies = false
  }

  depends_on = [aws_s3_bucket_ownership_controls.logs]
}

# --- WAF (CloudFront scope, so in us-east-1) ---

locals {
  # Rules of AWSManagedRulesCommonRuleSet that only count on the API: they inspect the body or the
  # query string, which carry chat content there.
  waf_common_rules_counted_on_api = [
    "SizeRestrictions_BODY",
    "CrossSiteScripting_BODY",
    "CrossSiteScripting_QUERYARGUMENTS",
    "GenericLFI_BODY",
    "GenericLFI_QUERYARGUMENTS",
    "GenericRFI_BODY",
    "GenericRFI_QUERYARGUMENTS",
    "EC2MetaDataSSRF_BODY",
    "EC2MetaDataSSRF_QUERYARGUMENTS",
  ]

  # The same for AWSManagedRulesKnownBadInputsRuleSet: Java exploits that only a Java server would
  # act on, written in a message about them.
  waf_known_bad_inputs_rules_counted_on_api = [
    "JavaDeserializationRCE_BODY",
    "JavaDeserializationRCE_QUERYSTRING",
    "Log4JRCE_BODY",
    "Log4JRCE_QUERYSTRING",
  ]
}

resource "aws_wafv2_web_acl" "edge" {
  provider = aws.us_east_1

  name        = "${local.name}-edge"
  description = "${local.name}: AWS managed rules and a per-IP rate limit"
  scope       = "CLOUDFRONT"

  default_action {
    allow {}
  }

  # Chat messages are code and prose about code: paths such as ../, private and metadata addresses
  # (169.254.169.254) and Log4j-style ${...} strings are ordinary content there. So the managed rules
  # that inspect bodies and query strings run twice: blocking everywhere except the API (pages and
  # everything else), and only counting on the API (/api/, which includes the server functions under
  # /api/fn/), where the Rust server treats them as data. The URI path and header rules block on both.
  # Two instances of each group count their capacity twice: about 1,850 WCUs in all, more than the
  # 1,500 a web ACL's base price covers, so AWS charges extra per request (see AWS WAF pricing).

  rule {
    name     = "aws-common"
    priority = 10

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"

        # Requests carry up to 1 MiB (long system prompts), more than this rule's 8 KB limit.
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }

        # Chat messages legitimately contain markup and code.
        rule_action_override {
          name = "CrossSiteScripting_BODY"
          action_to_use {
            count {}
          }
        }

        scope_down_statement {
          not_statement {
            statement {
              byte_match_statement {
                search_string         = "/api/"
                positional_constraint = "STARTS_WITH"

                field_to_match {
                  uri_path {}
                }

                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-common"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-common-api"
    priority = 11

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"

        dynamic "rule_action_override" {
          for_each = local.waf_common_rules_counted_on_api

          content {
            name = rule_action_override.value
            action_to_use {
              count {}
            }
          }
        }

        scope_down_statement {
          byte_match_statement {
            search_string         = "/api/"
            positional_constraint = "STARTS_WITH"

            field_to_match {
              uri_path {}
            }

            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-common-api"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-known-bad-inputs"
    priority = 20

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"

        scope_down_statement {
          not_statement {
            statement {
              byte_match_statement {
                search_string         = "/api/"
                positional_constraint = "STARTS_WITH"

                field_to_match {
                  uri_path {}
                }

                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-known-bad-inputs-api"
    priority = 21

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"

        dynamic "rule_action_override" {
          for_each = local.waf_known_bad_inputs_rules_counted_on_api

          content {
            name = rule_action_override.value
            action_to_use {
              count {}
            }
          }
        }

        scope_down_statement {
          byte_match_statement {
            search_string         = "/api/"
            positional_constraint = "STARTS_WITH"

            field_to_match {
              uri_path {}
            }

            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-known-bad-inputs-api"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-ip-reputation"
    priority = 30

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-ip-reputation"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 40

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "rate-limit-per-ip"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${local.name}-edge"
    sampled_requests_enabled   = true
  }
}

# WAF log groups must be named aws-waf-logs-*.
resource "aws_cloudwatch_log_group" "waf" {
  provider = aws.us_east_1

  name              = "aws-waf-logs-${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.edge.arn
}

resource "aws_wafv2_web_acl_logging_configuration" "edge" {
  provider = aws.us_east_1

  resource_arn            = aws_wafv2_web_acl.edge.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]
}
