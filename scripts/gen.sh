#!/usr/bin/env bash
# Regenerates src/gen/ from proto/ with buf + ts-proto (both from node_modules; no network, no protoc).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
buf generate
# The descriptor set behind server reflection: buf's exact FileDescriptorProtos (see
# src/transport/grpc/server.ts for why proto-loader's synthetic descriptors are not used).
buf build --exclude-source-info -o src/gen/pairgate.binpb
