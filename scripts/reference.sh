#!/usr/bin/env bash
# The API reference (TypeDoc, typedoc.json) in www/reference/, which the demo serves at
# /reference/. `npm start` skips it when nothing it is made from changed since the last
# build; `npm test` always builds it, since the build is also the check (a missing doc
# comment or a broken link fails it, and a failed build writes nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
out=www/reference/index.html
if [ "${1:-}" = --if-stale ] && [ -f "$out" ] &&
  [ -z "$(find index.d.ts react/index.d.ts broker/index.d.ts testing/index.d.ts typedoc.json tsconfig.typedoc.json package-lock.json -newer "$out")" ]; then
  echo "API reference: up to date"
  exit 0
fi
node_modules/.bin/typedoc
touch "$out"
