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

# Tier 3's files that mostly wait on real timers (100 renewals of 2 s tokens; 5 tabs ×
# 3 renewals of 14 s tokens, twice) need little CPU: they start now, in a run of their
# own beside the steps below, instead of holding one of tier 3's slots for 3 minutes.
TIMER_BOUND=(tests/e2e/soak.test.js tests/e2e/crosstab.test.js)
work=$(mktemp -d)
node scripts/run-tests.mjs --results "$work/timer-bound.json" "${TIMER_BOUND[@]}" >"$work/timer-bound.log" 2>&1 &
timer_bound=$!
# A failing step ends the script: the run in the background ends with it.
trap 'kill "$timer_bound" 2>/dev/null || true; rm -rf "$work"' EXIT
# The API reference from the type declarations: a missing doc comment or a broken link
# fails here (typedoc.json: treatWarningsAsErrors); the demo serves it at /reference/.
# Skipped when its inputs did not change since a build of it passed.
bash scripts/reference.sh --if-stale
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
skips=()
for f in "${TIMER_BOUND[@]}"; do skips+=(--skip "$f"); done
status=0
node scripts/run-tests.mjs --results "$work/rest.json" "${skips[@]}" tests/ || status=1
echo "== tier 3, the timer-bound files (started after the build):"
wait "$timer_bound" || status=1
cat "$work/timer-bound.log"
node scripts/run-tests.mjs --summary "$work/timer-bound.json" "$work/rest.json" || status=1
took "tier 3"
[ "$status" = 0 ] || exit 1

echo "npm test: all tiers passed in $(( $(date +%s) - start )) s"
