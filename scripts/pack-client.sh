#!/usr/bin/env bash
# Builds the @pairgate/client package from clients/ts (plus the generated code it imports from src/gen)
# into a staging directory and `npm pack`s it into $1 (default dist/pack). Prints the tarball's path.
# The package keeps the repository layout (clients/ts/*.js, src/gen/**.js) so relative imports resolve;
# index.js / index.d.ts at its root re-export clients/ts.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-dist/pack}" && cd "${1:-dist/pack}" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
node_modules/.bin/tsc -p clients/ts/tsconfig.pack.json --outDir "$stage"
cp clients/ts/README.md "$stage/"
# The published manifest has no scripts (the source one only guards against packing clients/ts directly).
node -e 'const m = require("./clients/ts/package.json"); delete m.scripts; process.stdout.write(JSON.stringify(m, null, 2) + "\n")' > "$stage/package.json"
printf '"use strict";\n// @pairgate/client: see README.md.\nmodule.exports = require("./clients/ts/index.js");\n' > "$stage/index.js"
printf '// @pairgate/client: see README.md.\nexport * from "./clients/ts/index";\n' > "$stage/index.d.ts"
tarball=$(cd "$stage" && npm pack --ignore-scripts --silent --pack-destination "$out")
echo "$out/$tarball"
