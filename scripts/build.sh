#!/usr/bin/env bash
# Builds the wasm and the wasm-bindgen glue into pkg/ (what the npm package ships).
set -euo pipefail
cd "$(dirname "$0")/.."
# The wasm32 flags (path remapping, no reference types), shared with tier 2.
. scripts/wasm-env.sh
# The toolchain's rust-lld, through scripts/wasm-link.sh: it drops js-sys's JSPI export.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$PWD/scripts/wasm-link.sh"
# `--crate-type cdylib`: Cargo.toml's crate-type also lists rlib (the tests link the
# crate), and cargo drops the release profile's `lto` for a build that emits an rlib,
# so a plain `cargo build` linked js-sys, web-sys and wasm-bindgen un-LTO'd (cargo#9672,
# rust#51009): LTO here is 3.4 kB of gzip less.
cargo rustc --release --target wasm32-unknown-unknown --lib --no-default-features --crate-type cdylib
out="${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release"
src=$out/mdh_token.wasm
# Skip wasm-bindgen and wasm-opt when pkg/ was made from this very wasm and glue.
# (Contents only, not paths: a build elsewhere, scripts/repro.sh, gives the same stamp.)
stamp="$( (sha256sum "$src" src/js/entry.js scripts/build.sh scripts/wasm-link.sh scripts/*.mjs $(find src -name '*.js' | sort) | cut -d' ' -f1; ls node_modules/.bin/wasm-opt node_modules/.bin/esbuild node_modules/.bin/terser 2>/dev/null) | sha256sum | cut -c1-16)"
if [ -f pkg/.stamp ] && [ "$(cat pkg/.stamp)" = "$stamp" ] && [ -f pkg/mdh_token_bg.wasm ]; then
  echo "built pkg/: up to date"
  exit 0
fi
rm -rf pkg
mvp=$out/mdh_token.no-reference-types.wasm
node scripts/no-reference-types.mjs "$src" "$mvp"
# Panic messages and locations: nothing here reads them (see the script), so blanked.
node scripts/strip-panic-data.mjs "$mvp" "$mvp"
# src/js/entry.js always fetches the wasm itself, so the glue needs no default path of its own.
wasm-bindgen --target web --out-dir pkg --out-name mdh_token --no-typescript \
  --omit-default-module-path --remove-producers-section "$mvp"
# wasm-bindgen copies the crate's npm dependencies (jose, the broker's) into a
# pkg/package.json; nothing in pkg/ needs it, and without "type": "module" it would make
# Node and publint read pkg/*.js as CommonJS.
rm -f pkg/package.json
# wasm-opt from the binaryen npm package: size first (-Oz), as the release profile.
# Reference types are left out, so binaryen refuses a wasm that still uses them.
features=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --enable-multivalue)
# --flatten --rereloop (control flow rebuilt) before -Oz: 250 B gzip less than -Oz
# alone on the LTO'd wasm. No -ocimfs 50: it saved 135 B before the build was LTO'd and
# costs 70-85 B since. --low-memory-unused: the first 1 kB of linear memory is never
# used (it is the far end of Rust's 1 MB stack).
node_modules/.bin/wasm-opt --low-memory-unused --flatten --rereloop -Oz -Oz --converge \
  --strip-producers --strip-target-features \
  "${features[@]}" pkg/mdh_token_bg.wasm -o pkg/mdh_token_bg.wasm
# The table's dead slots share one trapping function (see the script).
node scripts/table-stubs.mjs pkg/mdh_token_bg.wasm pkg/mdh_token_bg.wasm
# Short import and export names in the wasm and the glue: wasm-bindgen's are hashed
# (`__wbg_fetch_cfb8829dbac84a02`) and compress badly. Emscripten does the same.
node scripts/minify-names.mjs node_modules/.bin/wasm-opt pkg "${features[@]}"
# The glue imports our JS modules (src/**/*.js) from copies in pkg/snippets/: point
# those at src/ itself, so that a module the entry imports too (src/js/errors.js) is
# bundled once.
for d in pkg/snippets/*/; do rm -rf "${d}src" && ln -s ../../../src "${d}src"; done
# One JS file: the entry (src/js/entry.js) with the glue and the JS it imports (src/**/*.js)
# bundled in, minified: whitespace, comments and local names only (no eval, nothing a
# CSP would refuse). Each file a browser loads costs a request and its own gzip.
node_modules/.bin/esbuild src/js/entry.js --bundle --minify --format=esm --target=es2020 \
  --log-level=error --outfile=pkg/mdh_token.js --allow-overwrite
rm -rf pkg/snippets
# Then terser's compressor, two passes, with its safe defaults (no `unsafe*` option):
# it inlines and folds what esbuild's minifier leaves (single-use functions, constant
# branches): 283 B of gzip less than esbuild alone (7,930 -> 7,647 B, node bench/size.js).
node_modules/.bin/terser pkg/mdh_token.js --module --compress passes=2 --mangle \
  --output pkg/mdh_token.js
# The wasm inside the bundle, at its end (see the script); pkg/mdh_token_bg.wasm stays for
# engines without DecompressionStream.
node scripts/inline-wasm.mjs pkg/mdh_token_bg.wasm pkg/mdh_token.js
# The TokenError constructor for mdh-token/react (a separate entry, not bundled): the same
# source the bundle inlines, so the package's own module exports nothing undeclared.
node_modules/.bin/esbuild src/js/errors.js --minify --format=esm --target=es2020 \
  --log-level=error --outfile=pkg/errors.js --allow-overwrite
echo "$stamp" > pkg/.stamp
wasm=$(gzip -9 -c pkg/mdh_token_bg.wasm | wc -c)
js=$(gzip -9 -c pkg/mdh_token.js | wc -c)
echo "built pkg/: mdh_token.js (the wasm inside) ${js} B gzip; mdh_token_bg.wasm $(wc -c < pkg/mdh_token_bg.wasm) B raw, ${wasm} B gzip (engines without DecompressionStream)"
