#!/usr/bin/env bash
# Lints the deployment files:
#   - checkov over terraform/, the Dockerfile and the CI workflow (every skip carries its reason inline);
#   - `terraform fmt -check` and `terraform validate` over terraform/ when terraform is installed;
#   - docker-compose.yml against the Compose Specification JSON schema, and the CI workflow against
#     GitHub's workflow schema (both schemas ship inside the PyPI package check-jsonschema, which
#     validates with the jsonschema package);
#   - every variable docker-compose.yml interpolates is documented in .env.example;
#   - nginx: `nginx -t` on deploy/nginx/default.conf, and a live run in front of the real server
#     (scripts/check-nginx.sh).
# The linters live in a virtualenv under .tools/, installed once and reused (pinned versions).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

CHECKOV_VERSION=3.3.30
CHECK_JSONSCHEMA_VERSION=0.39.0
# A DNS server for the nginx check's re-resolution test (scripts/check-nginx.sh).
DNSLIB_VERSION=0.9.26
venv="$root/.tools/lint-venv"
stamp="$venv/.installed-checkov-$CHECKOV_VERSION-check-jsonschema-$CHECK_JSONSCHEMA_VERSION-dnslib-$DNSLIB_VERSION"

log() { printf '\033[1;34m[lint-infra]\033[0m %s\n' "$*" >&2; }
fail() { printf '\033[1;31m[lint-infra]\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi
}

# --- linters (skipped when the pinned versions are already installed) ---
if [[ ! -f "$stamp" ]]; then
  command -v python3 >/dev/null || fail "python3 is required"
  # Debian ships venv's pip bootstrap separately (python3-venv).
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    log "installing python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y --no-install-recommends python3-venv || {
      as_root apt-get update
      as_root apt-get install -y --no-install-recommends python3-venv
    }
  fi
  log "installing checkov $CHECKOV_VERSION, check-jsonschema $CHECK_JSONSCHEMA_VERSION and dnslib $DNSLIB_VERSION into .tools/lint-venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    "checkov==$CHECKOV_VERSION" "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" "dnslib==$DNSLIB_VERSION"
  touch "$stamp"
fi

# --- terraform fmt and validate ---
# validate needs the providers: from the registry when it answers, else from a local filesystem mirror
# (TF_PLUGIN_MIRROR, default /opt/tf-plugins: registry.terraform.io/hashicorp/aws/<version>/<os_arch>/).
# Either way the committed .terraform.lock.hcl decides the version and its checksums (-lockfile=readonly),
# and everything terraform writes stays in a temporary copy: no .terraform/ in the work tree.
if command -v terraform >/dev/null; then
  log "terraform fmt -check -recursive terraform"
  TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive -diff terraform || fail "terraform files are not formatted: run 'terraform fmt -recursive terraform'"

  tf_mirror="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
  tf_work="$(mktemp -d)"
  trap 'rm -rf "$tf_work"' EXIT
  cp terraform/*.tf terraform/.terraform.lock.hcl "$tf_work/"
  tf_init() { # $1: CLI configuration file
    TF_CLI_CONFIG_FILE="$1" TF_IN_AUTOMATION=1 terraform -chdir="$tf_work" init -backend=false -input=false \
      -lockfile=readonly -no-color >"$tf_work/init.log" 2>&1
  }
  tf_source=""
  if command -v curl >/dev/null && curl -fsS --max-time 5 -o /dev/null https://registry.terraform.io/.well-known/terraform.json 2>/dev/null; then
    mkdir -p "$root/.tools/terraform-plugin-cache"
    printf 'plugin_cache_dir = "%s"\n' "$root/.tools/terraform-plugin-cache" >"$tf_work/registry.tfrc"
    if tf_init "$tf_work/registry.tfrc"; then
      tf_source="the registry"
    else
      cat "$tf_work/init.log" >&2
      log "terraform init from the registry failed (above); trying the mirror $tf_mirror"
    fi
  fi
  if [[ -z "$tf_source" && -d "$tf_mirror/registry.terraform.io" ]]; then
    printf 'provider_installation {\n  filesystem_mirror {\n    path = "%s"\n  }\n}\n' "$tf_mirror" >"$tf_work/mirror.tfrc"
    rm -rf "$tf_work/.terraform"
    tf_init "$tf_work/mirror.tfrc" || { cat "$tf_work/init.log" >&2; fail "terraform init from the mirror $tf_mirror failed"; }
    tf_source="the mirror $tf_mirror"
  fi
  if [[ -n "$tf_source" ]]; then
    log "terraform validate (providers from $tf_source, as locked in terraform/.terraform.lock.hcl)"
    TF_CLI_CONFIG_FILE=/dev/null terraform -chdir="$tf_work" validate -no-color || fail "terraform validate failed"
  else
    log "neither the Terraform registry nor a provider mirror (TF_PLUGIN_MIRROR=$tf_mirror) is reachable: skipping 'terraform validate'"
  fi
else
  log "terraform is not installed: skipping 'terraform fmt -check' and 'terraform validate' (checkov still parses terraform/)"
fi

# --- Compose file and CI workflow against their schemas ---
log "docker-compose.yml against the Compose Specification schema"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
log ".github/workflows/*.yml against the GitHub workflow schema"
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml

log "every variable docker-compose.yml uses is listed in .env.example"
"$venv/bin/python" - <<'PY'
import re, sys
compose = open("docker-compose.yml", encoding="utf-8").read()
# ${NAME}, ${NAME:-default}, ${NAME:?message}; $$ escapes a literal dollar for the container's shell.
used = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", compose))
listed = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", open(".env.example", encoding="utf-8").read(), re.M))
missing = sorted(used - listed)
if missing:
    sys.exit(f"docker-compose.yml uses variables that .env.example does not list: {', '.join(missing)}")
print(f"ok -- {len(used)} variables, all listed")
PY

log "every variable the server reads is listed in .env.example and described in README.md"
"$venv/bin/python" - <<'PY'
import glob, re, sys
read = set()
for path in glob.glob("*/src/**/*.rs", recursive=True):
    text = open(path, encoding="utf-8").read()
    text = text.split("#[cfg(test)]", 1)[0]  # a file's tests come last and use made-up names
    read |= set(re.findall(r'env\.[a-z_]+\(\s*"([A-Z][A-Z0-9_]+)"', text))
listed = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", open(".env.example", encoding="utf-8").read(), re.M))
readme = open("README.md", encoding="utf-8").read()
problems = [f"{name} is not in .env.example" for name in sorted(read - listed)]
problems += [f"{name} is not described in README.md" for name in sorted(read) if f"`{name}`" not in readme]
if problems:
    sys.exit("\n".join(problems))
print(f"ok -- {len(read)} variables, all listed and described")
PY

# --- checkov ---
log "checkov over terraform/, Dockerfile and .github/workflows/"
report="$root/.tools/checkov"
rm -rf "$report"
: >"$root/.tools/checkov.log"
status=0
# --skip-download: no calls to any platform API (this works offline); nothing here needs one.
run_checkov() {
  local out="$1"; shift
  "$venv/bin/checkov" --skip-download --output json --output-file-path "$report/$out" "$@" \
    >/dev/null 2>>"$root/.tools/checkov.log" || status=$?
  if [[ ! -f "$report/$out/results_json.json" ]]; then
    cat "$root/.tools/checkov.log" >&2
    fail "checkov did not run (exit $status)"
  fi
}
run_checkov iac --framework terraform github_actions --directory terraform --directory .github/workflows
run_checkov dockerfile --framework dockerfile --file Dockerfile

"$venv/bin/python" - "$status" "$report/iac/results_json.json" "$report/dockerfile/results_json.json" <<'PY'
import json, sys
status, paths = int(sys.argv[1]), sys.argv[2:]
reports = []
for path in paths:
    data = json.load(open(path, encoding="utf-8"))
    reports += data if isinstance(data, list) else [data]
totals = {"passed": 0, "failed": 0, "skipped": 0}
for report in reports:
    summary = report.get("summary", {})
    kind = report.get("check_type", "?")
    print(f"  {kind:15} passed {summary.get('passed', 0):4}  failed {summary.get('failed', 0):3}  skipped {summary.get('skipped', 0):3}")
    for key in totals:
        totals[key] += summary.get(key, 0)
    results = report.get("results", {})
    for check in results.get("failed_checks", []):
        print(f"    FAILED  {check['check_id']} {check['check_name']}\n            {check['file_path']}:{check['file_line_range'][0]} {check['resource']}")
    for check in results.get("skipped_checks", []):
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        print(f"    skipped {check['check_id']} {check['resource']}: {reason}")
print(f"checkov: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
# checkov silently ignores a file it cannot parse (e.g. a workflow its own schema rejects).
seen = {r.get("check_type") for r in reports if sum(r.get("summary", {}).get(k, 0) for k in totals)}
missing = {"terraform", "dockerfile", "github_actions"} - seen
if missing:
    sys.exit(f"checkov ran no check for: {', '.join(sorted(missing))} (see .tools/checkov.log)")
if totals["failed"] or status:
    sys.exit(1)
PY

# --- nginx: the shipped configuration, parsed and run in front of the server ---
"$root/scripts/check-nginx.sh"
