#!/usr/bin/env bash
# `npm test`: installs what is missing, builds the package, then runs the three tiers.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
bash scripts/build.sh
# The API reference from the type declarations: a missing doc comment or a broken link
# fails here (typedoc.json: treatWarningsAsErrors); the demo serves it at /reference/.
node_modules/.bin/typedoc

echo "== tier 1: pure core (native cargo test, virtual clock)"
cargo test --lib

echo "== tier 2: web shell, the shipped no_std build (tests/web/ in headless Chromium, then Firefox ESR)"
bash scripts/test-web.sh

echo "== tier 3: package, demo and broker (node:test; Chromium via playwright-core), and the"
echo "   cross-engine suite over WebDriver (Chromium, Firefox ESR, WebKitGTK, WPE WebKit 2.38)"
node tests/support/browsers.js versions | sed 's/^/   /'
node --test --test-concurrency=1 tests/

echo "npm test: all tiers passed in $(( $(date +%s) - start )) s"
