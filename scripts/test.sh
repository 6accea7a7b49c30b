#!/usr/bin/env bash
# `npm test`: installs what is missing, builds the package, then runs the three tiers.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
bash scripts/build.sh

echo "== tier 1: pure core (native cargo test, virtual clock)"
cargo test --lib

# wasm-bindgen-test-runner takes its driver from CHROMEDRIVER / GECKODRIVER (GECKODRIVER
# first, so each run unsets the other) and the browser from a webdriver.json; both come
# from tests/support/browsers.js, the one place that knows where the browsers are.
caps=$(mktemp -d)
trap 'rm -rf "$caps"' EXIT
browsers() { node tests/support/browsers.js "$@"; }
echo "== tier 2: web shell (wasm-bindgen-test in headless Chromium, then Firefox ESR)"
chromedriver=$(browsers path chromedriver)
geckodriver=$(browsers path geckodriver)
browsers capabilities chromium > "$caps/chromium.json"
env -u GECKODRIVER CHROMEDRIVER="$chromedriver" WASM_BINDGEN_TEST_WEBDRIVER_JSON="$caps/chromium.json" \
  cargo test --target wasm32-unknown-unknown --test web
browsers capabilities firefox > "$caps/firefox.json"
env -u CHROMEDRIVER GECKODRIVER="$geckodriver" WASM_BINDGEN_TEST_WEBDRIVER_JSON="$caps/firefox.json" \
  cargo test --target wasm32-unknown-unknown --test web

echo "== tier 3: package, demo and broker (node:test; Chromium via playwright-core), and the"
echo "   cross-engine suite over WebDriver (Chromium, Firefox ESR, WebKitGTK, WPE WebKit 2.38)"
browsers versions | sed 's/^/   /'
node --test --test-concurrency=1 tests/

echo "npm test: all tiers passed in $(( $(date +%s) - start )) s"
