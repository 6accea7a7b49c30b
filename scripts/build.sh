#!/usr/bin/env bash
# Builds the wasm and the wasm-bindgen glue into pkg/ (what the npm package ships).
set -euo pipefail
cd "$(dirname "$0")/.."
# Source paths end up in the wasm (panic locations): map them to fixed names, so the
# same commit builds the same bytes wherever it is checked out.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--remap-path-prefix=$PWD=/mdh-token --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo --remap-path-prefix=$(rustc --print sysroot)=/rust"
cargo build --release --target wasm32-unknown-unknown --lib
src=target/wasm32-unknown-unknown/release/mdh_token.wasm
# Skip wasm-bindgen and wasm-opt when pkg/ was made from this very wasm and glue.
stamp="$( (sha256sum "$src" index.js; ls node_modules/.bin/wasm-opt node_modules/.bin/esbuild 2>/dev/null) | sha256sum | cut -c1-16)"
if [ -f pkg/.stamp ] && [ "$(cat pkg/.stamp)" = "$stamp" ] && [ -f pkg/mdh_token_bg.wasm ]; then
  echo "built pkg/: up to date"
  exit 0
fi
rm -rf pkg
# index.js always passes the wasm URL, so the glue needs no default path of its own.
wasm-bindgen --target web --out-dir pkg --out-name mdh_token --no-typescript \
  --omit-default-module-path --remove-producers-section "$src"
# wasm-opt from the binaryen npm package: size first (-Oz), as the release profile.
if [ -x node_modules/.bin/wasm-opt ]; then
  node_modules/.bin/wasm-opt -Oz --converge --strip-producers --strip-target-features \
    --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    pkg/mdh_token_bg.wasm -o pkg/mdh_token_bg.wasm
fi
# Minify the generated JS: whitespace, comments and local names only (no eval, nothing
# a CSP would refuse).
if [ -x node_modules/.bin/esbuild ]; then
  for f in pkg/mdh_token.js pkg/snippets/*/*.js; do
    node_modules/.bin/esbuild "$f" --minify --format=esm --target=es2020 \
      --log-level=error --outfile="$f" --allow-overwrite
  done
fi
echo "$stamp" > pkg/.stamp
wasm=$(gzip -9 -c pkg/mdh_token_bg.wasm | wc -c)
js=$(cat pkg/mdh_token.js pkg/snippets/*/inline*.js index.js | gzip -9 | wc -c)
echo "built pkg/: wasm $(wc -c < pkg/mdh_token_bg.wasm) B raw, ${wasm} B gzip; JS ${js} B gzip"
