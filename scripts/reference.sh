#!/usr/bin/env bash
# The API reference (TypeDoc, typedoc.json) in www/reference/, which the demo serves at
# /reference/. The build is also a check: a missing doc comment or a broken link fails
# it, and a failed build writes nothing. With --if-stale (npm start and npm test) it is
# skipped when nothing it is made from changed since the last build that passed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=www/reference/index.html
if [ "${1:-}" = --if-stale ] && [ -f "$out" ] &&
  [ -z "$(find index.d.ts react/index.d.ts broker/index.d.ts testing/index.d.ts typedoc.json tsconfig.typedoc.json package-lock.json www/public/favicon.svg -newer "$out")" ]; then
  echo "API reference: up to date"
  exit 0
fi
node_modules/.bin/typedoc
touch "$out"
