#!/usr/bin/env bash
# Fails when src/gen/ is not what `make gen` produces from proto/ (stale or hand-edited generated code).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r src/gen "$tmp/before"
bash scripts/gen.sh
if ! diff -r "$tmp/before" src/gen >/dev/null; then
  diff -r "$tmp/before" src/gen | head -40 >&2
  echo "src/gen is stale: run 'make gen' and commit the result." >&2
  exit 1
fi
echo "src/gen is up to date."
