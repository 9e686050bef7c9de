#!/usr/bin/env bash
# Static audit of the control plane's gateway, which must never execute anything: it only
# writes task files for a separate execution plane.
#
# Fails when any Rust file under the gateway mentions process execution (std::process,
# tokio::process, Command::new, libc exec*/system/fork/posix_spawn, nix exec/fork) or dynamic
# code loading (libloading, dlopen), or when the gateway's Cargo.toml depends on a crate for
# either. Comments count too: the gateway has no reason to name these at all.
#
# This is the first, quick layer: it reads lines, not meaning, so an alias, a path spelt with
# spaces, an included file or a re-export slips past it. scripts/audit-gateway-build.sh runs
# the layers that see meaning (clippy, the dependency graph, the linked binary's imports).
#
# Usage: scripts/audit-gateway.sh [FOLDER]   (default: the repository's gateway/)
# Exit status: 0 clean, 1 violations found, 2 the folder cannot be audited.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${1:-$repo/gateway}"
if [[ ! -d $target ]]; then
  echo "audit-gateway: $target is not a folder" >&2
  exit 2
fi

# Extended regular expressions, one per forbidden construct.
source_patterns=(
  'std::process'
  'tokio::process'
  'async_process'
  'process::(Command|Stdio|Child|exit)'
  'use std::\{[^}]*\bprocess\b'
  'Command::new'
  'std::os::unix::process'
  'libc::(exec[a-z]*|fexecve|system|fork|vfork|clone|posix_spawn[a-z]*|popen|dlopen|dlsym)\b'
  'nix::unistd::(exec[a-z]*|fexecve|fork)\b'
  'nix::(spawn|unistd::\{[^}]*\b(exec[a-z]*|fork)\b)'
  '\b(execv|execve|execvp|execvpe|execl|execle|execlp|fexecve|posix_spawnp?)\('
  '\b(fork|vfork|system|popen)\('
  'libloading'
  '\bdlopen\b'
  '\bdlsym\b'
  '\bsubprocess\b'
  '\bduct::'
)
dependency_pattern='^\s*(libloading|nix|subprocess|duct|command-group|async-process|process-wrap|dlopen[a-z0-9_-]*|exec)\s*='

mapfile -t files < <(find "$target" -type f -name '*.rs' -not -path '*/target/*' | sort)
manifest="$target/Cargo.toml"

echo "audit-gateway: scanning ${#files[@]} Rust file(s) under $target"
for file in "${files[@]}"; do
  echo "  ${file#"$target"/}"
done
[[ -f $manifest ]] && echo "  Cargo.toml (dependencies)"

if [[ ${#files[@]} -eq 0 && ! -f $manifest ]]; then
  echo "audit-gateway: nothing to audit under $target" >&2
  exit 2
fi

violations=0
if [[ ${#files[@]} -gt 0 ]]; then
  for pattern in "${source_patterns[@]}"; do
    while IFS= read -r hit; do
      [[ -z $hit ]] && continue
      echo "VIOLATION ${hit#"$target"/}    (pattern: $pattern)"
      violations=$((violations + 1))
    done < <(grep -nHE -- "$pattern" "${files[@]}" || true)
  done
fi
if [[ -f $manifest ]]; then
  while IFS= read -r hit; do
    [[ -z $hit ]] && continue
    echo "VIOLATION Cargo.toml:$hit    (a process or dynamic-loading dependency)"
    violations=$((violations + 1))
  done < <(grep -nE -- "$dependency_pattern" "$manifest" || true)
fi

if [[ $violations -gt 0 ]]; then
  echo "audit-gateway: FAIL: $violations violation(s); the gateway must not execute anything"
  exit 1
fi
echo "audit-gateway: PASS: no process execution or dynamic code loading found"
