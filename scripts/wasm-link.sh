#!/usr/bin/env bash
# The linker of the shipped wasm (scripts/build.sh names it): the toolchain's rust-lld
# (rustc puts its directory first on the linker's PATH) with the same arguments, less
# one export.
#
# js-sys 0.3.107 defines `#[no_mangle] extern "C-unwind" fn __wbg_jspi_task_poll` (the
# trampoline of its JSPI tasks, src/futures/jspi.rs), and a cdylib exports every
# #[no_mangle] function of its dependencies, so the linker keeps it and all it reaches:
# the JSPI task, its waker and the waker's vtable. wasm-bindgen deletes the export later
# (a module with no JSPI exports never runs that code), but the vtable's four functions
# stay behind in the function table and their data in memory. Not exported, the linker
# drops them all (194 B of gzip).
#
# When the export is not there (js-sys renamed or dropped it), the link fails: the
# saving would be gone silently, and this script would be stale.
set -euo pipefail
args=()
dropped=0
while [ $# -gt 0 ]; do
  case "$1" in
    --export) if [ "${2:-}" = __wbg_jspi_task_poll ]; then shift 2; dropped=1; continue; fi ;;
    --export=__wbg_jspi_task_poll) shift; dropped=1; continue ;;
  esac
  args+=("$1")
  shift
done
if [ "$dropped" = 0 ]; then
  echo "wasm-link.sh: the linker was not asked to export __wbg_jspi_task_poll: has js-sys renamed it? (see this script)" >&2
  exit 1
fi
# rustc passes `-flavor wasm` first when it calls rust-lld itself; keep it so.
if [ "${args[0]:-}" != -flavor ]; then args=(-flavor wasm "${args[@]}"); fi
exec rust-lld "${args[@]}"
