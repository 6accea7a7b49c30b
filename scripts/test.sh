#!/usr/bin/env bash
# `npm test`: installs what is missing, builds the package, then runs the three tiers.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
bash scripts/build.sh

echo "== tier 1: pure core (native cargo test, virtual clock)"
cargo test --lib

echo "== tier 2: web shell (wasm-bindgen-test in headless Chromium)"
CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver} cargo test --target wasm32-unknown-unknown --test web

echo "== tier 3: package, demo and broker (node:test; Chromium via playwright-core)"
node --test --test-concurrency=1 tests/

echo "npm test: all tiers passed in $(( $(date +%s) - start )) s"
