#!/usr/bin/env bash
# `npm run mutants`: mutation testing of the pure core (src/core) with cargo-mutants.
# Each mutant (a small change to the code: an operator flipped, a body replaced by a
# constant) is built and run against `cargo test --lib`, natively; a mutant the tests
# do not notice is "missed". Prints the score, caught / viable, and fails under 95 %.
# Not part of `npm test` (it builds and tests every mutant: tens of minutes).
#
#   npm run mutants                               all of src/core
#   npm run mutants -- -f src/core/token.rs       one file (extra arguments go to cargo mutants)
#   MUTANTS_JOBS=1 npm run mutants                builds in parallel (default 2)
#
# Results land in target/mutants.out/ (caught.txt, missed.txt, timeout.txt, unviable.txt,
# outcomes.json, one log per mutant).
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned; plain `cargo install` (no --locked), as in scripts/setup.sh.
MUTANTS_VERSION=27.1.0
have=$(cargo mutants --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$MUTANTS_VERSION" ]; then
  t0=$SECONDS
  cargo install cargo-mutants --version "=$MUTANTS_VERSION"
  echo "mutants: cargo install cargo-mutants $MUTANTS_VERSION: $((SECONDS - t0)) s"
fi

# The core's multi-tab simulation runs 300 seeds per test run here (npm test runs
# ≥ 10,000): enough to catch a mutant, fast enough to run once per mutant.
export MDH_SIM_SEEDS="${MDH_SIM_SEEDS:-300}"
# A mutant that makes a loop endless is stopped by a timeout and counted as caught (the
# tests did not pass): 3× the unmutated run, measured first, and at least 60 s;
# MUTANTS_TIMEOUT=S sets it in seconds instead.
if [ -n "${MUTANTS_TIMEOUT:-}" ]; then
  timeout_args=(--timeout "$MUTANTS_TIMEOUT")
else
  timeout_args=(--timeout-multiplier 3 --minimum-test-timeout 60)
fi
MIN_SCORE=95
out=target/mutants.out

# All of src/core unless the arguments name files themselves (-f/--file add up).
files=(--file 'src/core/*.rs')
for a in "$@"; do
  case "$a" in -f | -f* | --file | --file=*) files=() ;; esac
done

t0=$SECONDS
set +e
cargo mutants "${files[@]}" --cargo-test-arg=--lib --jobs "${MUTANTS_JOBS:-2}" \
  "${timeout_args[@]}" --build-timeout 600 --output target --colors never "$@"
rc=$?
set -e
# 0: all caught, 2: some missed, 3: some timed out; anything else is a failure of the run.
if [ "$rc" != 0 ] && [ "$rc" != 2 ] && [ "$rc" != 3 ]; then
  echo "mutants: cargo mutants failed (exit $rc); see $out/" >&2
  exit "$rc"
fi

count() { if [ -f "$out/$1.txt" ]; then grep -c . "$out/$1.txt" || true; else echo 0; fi; }
caught=$(count caught)
timeout=$(count timeout)
missed=$(count missed)
unviable=$(count unviable)
viable=$((caught + timeout + missed))
if [ "$viable" = 0 ]; then
  echo "mutants: no viable mutant was tested" >&2
  exit 1
fi
score=$(( (caught + timeout) * 1000 / viable ))
echo "mutants: $((caught + timeout)) caught ($timeout of them by the timeout) of $viable viable," \
  "$missed missed, $unviable unviable: score $((score / 10)).$((score % 10)) % (minimum $MIN_SCORE %)," \
  "$((SECONDS - t0)) s"
# Per file: caught (timeouts included) / viable.
for f in caught timeout missed; do if [ -f "$out/$f.txt" ]; then sed "s/^/$f /" "$out/$f.txt"; fi; done |
  awk '{ split($2, p, ":"); n[p[1]]++; if ($1 != "missed") c[p[1]]++ }
       END { for (f in n) printf "mutants:   %-28s %4d / %-4d %5.1f %%\n", f, c[f], n[f], 100 * c[f] / n[f] }' | sort
if [ "$missed" != 0 ]; then
  echo "mutants: missed (in $out/missed.txt):"
  sed 's/^/  /' "$out/missed.txt"
fi
if [ "$score" -lt $((MIN_SCORE * 10)) ]; then
  echo "mutants: score under $MIN_SCORE %" >&2
  exit 1
fi
