#!/usr/bin/env bash
# Tier 2 (scripts/test.sh runs it): tests/web/ against the build that ships, the crate
# without `std` in the release profile with the wasm32 flags of scripts/build.sh,
# in headless Chromium, then Firefox ESR (tests/web/run.mjs, the target's runner).
#   bash scripts/test-web.sh [filter]     MDH_TIER2_ENGINES=firefox limits the browsers
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/wasm-env.sh
cargo test --release --target wasm32-unknown-unknown --no-default-features --test web -- "$@"
