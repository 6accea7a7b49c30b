#!/usr/bin/env bash
# `npm test`: installs what is missing, builds the package, then runs the three tiers.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
t=$SECONDS
took() { echo "== $1: $((SECONDS - t)) s"; t=$SECONDS; }
bash scripts/setup.sh all
took setup
bash scripts/build.sh
took build
# The API reference from the type declarations: a missing doc comment or a broken link
# fails here (typedoc.json: treatWarningsAsErrors); the demo serves it at /reference/.
bash scripts/reference.sh
took "API reference"
echo "== reproducible build: the same pkg/ from a clean build in another directory"
bash scripts/repro.sh
took "reproducible build"

echo "== tier 1: pure core (native cargo test, virtual clock)"
cargo test --lib
took "tier 1"

echo "== tier 2: web shell, the shipped no_std build (tests/web/ in headless Chromium, then Firefox ESR)"
bash scripts/test-web.sh
took "tier 2"

echo "== tier 3: package, demo and broker (node:test; Chromium via playwright-core), and the"
echo "   cross-engine suite over WebDriver (Chromium, Firefox ESR, WebKitGTK, WPE WebKit 2.38)"
node tests/support/browsers.js versions | sed 's/^/   /'
# Each file in its own process, a few at once (scripts/run-tests.mjs; MDH_TEST_JOBS).
node scripts/run-tests.mjs tests/
took "tier 3"

echo "npm test: all tiers passed in $(( $(date +%s) - start )) s"
