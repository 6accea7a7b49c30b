#!/usr/bin/env bash
# Builds the wasm and the wasm-bindgen glue into pkg/ (what the npm package ships).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --target wasm32-unknown-unknown --lib
src=target/wasm32-unknown-unknown/release/mdh_token.wasm
# Skip wasm-bindgen and wasm-opt when pkg/ was made from this very wasm and glue.
stamp="$( (sha256sum "$src" index.js; ls node_modules/.bin/wasm-opt 2>/dev/null) | sha256sum | cut -c1-16)"
if [ -f pkg/.stamp ] && [ "$(cat pkg/.stamp)" = "$stamp" ] && [ -f pkg/mdh_token_bg.wasm ]; then
  echo "built pkg/: up to date"
  exit 0
fi
rm -rf pkg
wasm-bindgen --target web --out-dir pkg --out-name mdh_token --no-typescript \
  "$src"
# wasm-opt from the binaryen npm package: size first (-Oz), as the release profile.
if [ -x node_modules/.bin/wasm-opt ]; then
  node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    pkg/mdh_token_bg.wasm -o pkg/mdh_token_bg.wasm
fi
echo "$stamp" > pkg/.stamp
wasm=$(gzip -9 -c pkg/mdh_token_bg.wasm | wc -c)
js=$(cat pkg/mdh_token.js pkg/snippets/*/inline*.js index.js | gzip -9 | wc -c)
echo "built pkg/: wasm $(wc -c < pkg/mdh_token_bg.wasm) B raw, ${wasm} B gzip; JS ${js} B gzip"
