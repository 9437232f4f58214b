#!/usr/bin/env bash
# Writes contract/pairgate-v1.json: the released pairgate.v1 contract as a buf image (JSON, pretty-printed
# so a review shows what changed). `make lint` runs `buf breaking` against it. Run this (`make
# contract-snapshot`) only when releasing a new contract version, never to make `buf breaking` pass.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
buf build --exclude-source-info -o "$tmp/image.json"
node -e 'const fs = require("fs"); fs.writeFileSync(process.argv[2], JSON.stringify(JSON.parse(fs.readFileSync(process.argv[1], "utf8")), null, 1) + "\n")' \
  "$tmp/image.json" contract/pairgate-v1.json
echo "wrote contract/pairgate-v1.json"
