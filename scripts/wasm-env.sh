# Sourced by scripts/build.sh and scripts/test-web.sh (tier 2): the flags of every wasm32
# build of the crate, so that tier 2 compiles what ships (and reuses its dependencies).
# Source paths end up in the wasm (panic locations): map them to fixed names, so the
# same commit builds the same bytes wherever it is checked out.
# Short names, too: they only ever show in a panic message, which the shipped wasm
# never formats.
remap="--remap-path-prefix=$PWD=m --remap-path-prefix=$(rustc --print sysroot)=r"
for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do remap="$remap --remap-path-prefix=${d%/}=c"; done
# No reference types: JavaScriptCore of the Safari 16 era (WPE WebKit 2.38)
# traps with "RuntimeError: Out of bounds table access" on valid `table.get`s of
# wasm-bindgen's externref table once its baseline wasm JIT (BBQ) has compiled the code
# (with JSC_useBBQJIT=0 it runs). Without reference types wasm-bindgen keeps JS values
# in a JS array instead, and the wasm has no externref at all. Our crates are compiled
# without the feature here; scripts/no-reference-types.mjs clears the "+reference-types"
# that the precompiled core/alloc leave in the linked wasm, which wasm-bindgen reads.
# LLVM's inliner at a threshold of 8 (opt-level "z" means 5): a little more inlining,
# after which the shipped wasm is 190 B of gzip smaller (measured from 6 to 10 alike;
# 11 to 20 is larger than the default). A stable flag; the option is LLVM's.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$remap -C target-feature=-reference-types -C llvm-args=-inline-threshold=8"
