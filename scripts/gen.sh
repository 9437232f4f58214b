#!/usr/bin/env bash
# Regenerates src/gen/ from proto/ with buf + ts-proto (both from node_modules; no network, no protoc).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
buf generate
