#!/usr/bin/env bash
# Reproducible build check (scripts/test.sh runs it after the build): builds the
# package again from clean — the tracked source copied to another directory, a target
# directory of its own, nothing reused but the registry's sources and node_modules —
# and fails unless every file of its pkg/ is byte-identical to this checkout's pkg/.
# The other directory also proves that no path of the machine ends up in the output
# (scripts/wasm-env.sh remaps them).
#   bash scripts/repro.sh        (after bash scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f pkg/mdh_token_bg.wasm ] || { echo "repro: pkg/ is not built: run npm run build first" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mdh-token-repro.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# The files git tracks, as they are in the working tree (uncommitted edits included).
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$tmp/"
ln -s "$PWD/node_modules" "$tmp/node_modules"
t0=$SECONDS
CARGO_TARGET_DIR="$tmp/target" bash "$tmp/scripts/build.sh" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
# pkg/.stamp is left out: it is build.sh's cache key, not shipped, and it hashes cargo's
# raw wasm, whose symbol hashes depend on the checkout's path (cargo's -C metadata of a
# path package); the names that carry them are renamed by scripts/minify-names.mjs.
files=$(cd pkg && find . -type f ! -name .stamp | sort)
[ "$files" = "$(cd "$tmp/pkg" && find . -type f ! -name .stamp | sort)" ] || { echo "repro: the clean build made other files in pkg/" >&2; exit 1; }
for f in $files; do
  cmp "pkg/$f" "$tmp/pkg/$f" || { echo "repro: a clean build in another directory gave another pkg/${f#./}" >&2; exit 1; }
done
echo "repro: a clean build in another directory gave the same pkg/ ($(echo $files | sed 's|\./||g')), $((SECONDS - t0)) s"
