#!/usr/bin/env bash
# The gateway's no-execution audit, the layers that need the compiler. scripts/audit-gateway.sh
# is the quick line-by-line layer; these see what the code means, whatever its spelling.
#
#   clippy  clippy with gateway/clippy.toml's disallowed types and methods (every process, exec,
#           fork, spawn and dynamic-loading API) and no unsafe code, over the gateway, the
#           workspace crates it depends on, `app` (with `ssr`), whose control_plane module
#           is the panel, and `telegram`, the control plane's Telegram bot. Paths are resolved, so aliases, re-exports, `#[path]`, `include!` and
#           symlinked files are seen; the gateway alone has no tokio `process` to name.
#   deps    the gateway's and the Telegram bot's normal and build dependency graphs, as cargo resolves them (table-form
#           and renamed dependencies included): no process or dynamic-loading crate, and no
#           crate feature that adds one (tokio's `process`).
#   link    builds gateway/examples/standalone.rs, which reaches every public operation of the
#           gateway, and reads the libc functions the binary imports: no exec*, fork, vfork,
#           posix_spawn*, pidfd_spawn*, system, popen or dlopen.
#
# Usage: scripts/audit-gateway-build.sh [--workspace DIR] [clippy|deps|link|all]...
#   --workspace DIR  the Cargo workspace holding the `gateway` package (default: this repository)
#   AUDIT_CARGO_FLAGS  flags for every cargo command (default: --locked)
# Exit status: 0 clean, 1 violations found, 2 a layer could not run.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
workspace="$repo"
layers=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --workspace) workspace="$(cd "$2" && pwd)"; shift 2 ;;
    clippy | deps | link) layers+=("$1"); shift ;;
    all) layers+=(clippy deps link); shift ;;
    *) echo "usage: $0 [--workspace DIR] [clippy|deps|link|all]..." >&2; exit 2 ;;
  esac
done
[[ ${#layers[@]} -eq 0 ]] && layers=(clippy deps link)

read -r -a cargo_flags <<<"${AUDIT_CARGO_FLAGS:---locked}"
manifest="$workspace/Cargo.toml"
gateway_dir="$workspace/gateway"
if [[ ! -f $manifest || ! -f $gateway_dir/Cargo.toml ]]; then
  echo "audit-gateway: $workspace is not a workspace with a gateway/ package" >&2
  exit 2
fi

# Crates that can start a process or load code. Renamed or table-form dependencies still
# appear under these names, because the check reads cargo's resolved graph.
forbidden_crates='nix|libloading|subprocess|duct|duct_sh|async-process|command-group|process-wrap|tokio-process|shared_child|pty-process|portable-pty|rexpect|expectrl|xshell|cmd_lib|run_script|execute|exec|fork|daemonize|dlopen|dlopen2|dlib|shared_library'
# Features that add process support to a crate that is fine without them (crate:feature).
forbidden_features=(tokio:process rustix:runtime)
# libc functions that start a program or load code. Not forbidden: clone and clone3 (threads),
# and dlsym, which std imports to look up optional glibc functions already loaded.
forbidden_symbols='exec[a-z]*|fexecve|fork|vfork|_Fork|__fork|posix_spawn[a-z_]*|pidfd_spawnp?|system|popen|dlopen|dlmopen|__libc_dlopen_mode'

say() { echo "audit-gateway [$layer]: $*"; }

# The workspace crates in the gateway's dependency graph, the gateway first.
gateway_workspace_crates() {
  cargo tree "${cargo_flags[@]}" --manifest-path "$manifest" -p gateway -e normal,build --prefix none --format '{p}' |
    awk '$3 ~ /^\(\// { print $1 }' | awk '!seen[$0]++'
}

# Runs clippy with the gateway's configuration and prints its findings, one a line, as
# `file:line:column: message`; fails when clippy itself cannot run.
# --force-warn keeps every crate linted (a finding in a dependency does not stop its dependents)
# and cannot be silenced by an `allow` in the source.
clippy_findings() {
  local json status=0
  json=$(CLIPPY_CONF_DIR="$gateway_dir" cargo clippy "${cargo_flags[@]}" --manifest-path "$manifest" "$@" \
    --message-format json-diagnostic-short -- -A clippy::all --force-warn clippy::disallowed_types \
    --force-warn clippy::disallowed_methods --force-warn unsafe_code) || status=$?
  # A compile error is a finding too: e.g. naming tokio's process module, which the gateway's
  # tokio does not have.
  grep -E '"code":\{"code":"(clippy::disallowed_types|clippy::disallowed_methods|unsafe_code)"|"level":"error"' <<<"$json" |
    sed -nE 's/.*"rendered":"(([^"\\]|\\.)*)".*/\1/p' | sed -E 's/\\n$//; s/\\"/"/g; s/: warning: /: /' |
    grep -E '^[^ ]+:[0-9]+:[0-9]+: ' || true
  # cargo fails on a compile error, which the findings above name; otherwise a failure is clippy's.
  [[ $status -eq 0 ]] || grep -q '"level":"error"' <<<"$json"
}

layer_clippy() {
  if [[ ! -f $gateway_dir/clippy.toml ]]; then
    say "gateway/clippy.toml is missing; nothing to check against"
    return 2
  fi
  local crates packages=() found more
  crates=$(gateway_workspace_crates) || return 2
  for crate in $crates; do packages+=(-p "$crate"); done
  say "clippy with gateway/clippy.toml over: $(echo $crates)"
  found=$(clippy_findings "${packages[@]}" --all-targets) || { say "clippy could not run"; return 2; }
  if [[ -f $workspace/app/Cargo.toml ]]; then
    # A clippy configuration applies to a whole crate, so all of `app` is held to the gateway's
    # rules, not only its control_plane module; `app` has no reason to start processes either.
    say "clippy with gateway/clippy.toml over: app (features ssr)"
    more=$(clippy_findings -p app --features ssr --lib) || { say "clippy could not run on app"; return 2; }
    found=$(printf "%s\n%s" "$found" "$more")
  fi
  if [[ -f $workspace/telegram/Cargo.toml ]]; then
    # The Telegram bot is a channel of the control plane: it talks, and never starts anything.
    say "clippy with gateway/clippy.toml over: telegram"
    more=$(clippy_findings -p telegram --lib) || { say "clippy could not run on telegram"; return 2; }
    found=$(printf "%s\n%s" "$found" "$more")
  fi
  # A finding in the library shows again in its test target: name it once.
  found=$(sed '/^$/d' <<<"$found" | awk '!seen[$0]++')
  if [[ -z $found ]]; then
    say "PASS: no process or dynamic-loading API named, no unsafe code"
    return 0
  fi
  while IFS= read -r line; do echo "VIOLATION $line"; done <<<"$found"
  say "FAIL: $(wc -l <<<"$found") finding(s): a process or dynamic-loading API, unsafe code, or a compile error"
  return 1
}

layer_deps_of() {
  local package=$1 who="the gateway"
  [[ $package == telegram ]] && who="the Telegram bot"
  local tree violations=0
  tree=$(cargo tree "${cargo_flags[@]}" --manifest-path "$manifest" -p "$package" -e normal,build \
    --prefix none --format '{p} [{f}]') || { say "cargo tree failed"; return 2; }
  say "$(awk '{ print $1 " " $2 }' <<<"$tree" | sort -u | wc -l) package(s) in $package's normal and build dependencies"
  local crate
  for crate in $(awk '{ print $1 }' <<<"$tree" | sort -u | grep -xE "$forbidden_crates" || true); do
    echo "VIOLATION $who depends on $crate, which can start processes or load code:"
    cargo tree "${cargo_flags[@]}" --manifest-path "$manifest" -p "$package" -e normal,build -i "$crate" | sed 's/^/    /'
    violations=$((violations + 1))
  done
  local entry name feature
  for entry in "${forbidden_features[@]}"; do
    name=${entry%%:*} feature=${entry#*:}
    if grep -qE "^$name v[^ ]+( \([^)]*\))? \[([^]]*,)?$feature(,[^]]*)?\]" <<<"$tree"; then
      echo "VIOLATION $name is built with its \"$feature\" feature, asked for by:"
      # The branch of the inverted feature tree under that feature: who turns it on.
      cargo tree "${cargo_flags[@]}" --manifest-path "$manifest" -p "$package" -e normal,build,features \
        -i "$name" --prefix depth | awk -v want="$name feature \"$feature\"" '
          { match($0, /^[0-9]+/); depth = substr($0, 1, RLENGTH) + 0; text = substr($0, RLENGTH + 1) }
          !found && text == want { found = 1; top = depth; next }
          found && depth <= top { exit }
          found && depth <= top + 2 { printf "  %*s%s\n", 2 * (depth - top), "", text }'
      violations=$((violations + 1))
    fi
  done
  if [[ $violations -gt 0 ]]; then
    say "FAIL: $violations violation(s)"
    return 1
  fi
  say "PASS: $package has no process or dynamic-loading crate, no tokio process feature"
}

# The gateway, and the Telegram bot that talks to it: neither may be able to start a process.
layer_deps() {
  local package status=0
  for package in gateway telegram; do
    [[ $package == gateway || -f $workspace/$package/Cargo.toml ]] || continue
    layer_deps_of "$package" || status=$?
    [[ $status -eq 2 ]] && return 2
  done
  return "$status"
}

layer_link() {
  local built binary imports found
  for tool in nm readelf; do
    command -v "$tool" >/dev/null || { say "$tool (binutils) is needed"; return 2; }
  done
  built=$(cargo build "${cargo_flags[@]}" --manifest-path "$manifest" -p gateway --example standalone \
    --message-format json-render-diagnostics) || { say "the standalone example does not build"; return 2; }
  binary=$(grep -o '"executable":"[^"]*standalone"' <<<"$built" | tail -n 1 | cut -d'"' -f4)
  if [[ -z $binary || ! -x $binary ]]; then
    say "cannot find the built standalone example"
    return 2
  fi
  say "reading the imports of ${binary#"$workspace"/}"
  # Only a binary that takes libc from a shared library and has std inside it names the libc
  # functions it calls; a static binary or a shared libstd would hide them.
  local needed
  needed=$(readelf -d "$binary" | grep NEEDED || true)
  if ! grep -q 'libc\.so' <<<"$needed" || grep -q 'libstd-' <<<"$needed"; then
    say "the binary is not dynamically linked to libc with std built in; its imports prove nothing"
    return 2
  fi
  imports=$(nm -D --undefined-only "$binary" | awk '{ print $2 }' | sed 's/@.*//' | sort -u)
  found=$(grep -xE "$forbidden_symbols" <<<"$imports" || true)
  if [[ -n $found ]]; then
    echo "VIOLATION the gateway's binary imports: $(echo $found)"
    say "FAIL: the linked gateway can start a program or load code"
    return 1
  fi
  say "PASS: $(wc -l <<<"$imports") imported symbol(s), none that executes or loads code"
}

worst=0
failed=()
for layer in "${layers[@]}"; do
  status=0
  "layer_$layer" || status=$?
  if [[ $status -ne 0 ]]; then
    failed+=("$layer")
    # A violation (1) outranks a layer that could not run (2) in the exit status.
    if [[ $worst -eq 0 || $status -eq 1 ]]; then worst=$status; fi
  fi
done
layer=summary
if [[ ${#failed[@]} -gt 0 ]]; then
  say "FAIL in: ${failed[*]}"
else
  say "PASS: ${layers[*]}"
fi
exit "$worst"
