#!/usr/bin/env bash
# Installs what building and testing need, idempotently. `setup.sh demo` (npm start):
# the Rust toolchain rust-toolchain.toml pins with its wasm target, the wasm-bindgen CLI
# matching the pinned crate and the npm devDependencies, what building the package and
# running the demo take. `setup.sh all`
# (the default; npm test) adds the browsers and WebDriver servers of the tests (Debian
# packages, and geckodriver from crates.io: Debian has none), redis-server and the test
# apps. Safe to run again: each step checks before it installs, and says how long it
# took when it did. The npm installs run beside the cargo builds (network and disk
# against CPU), so a cold run waits for the longer of the two, not their sum.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
case "$mode" in
  demo | all) ;;
  *) echo "usage: bash scripts/setup.sh [demo|all]" >&2; exit 2 ;;
esac
WB_VERSION=$(sed -n 's/^wasm-bindgen = .*"=\([0-9.]*\)".*/\1/p' Cargo.toml)

# npm ci when node_modules is missing or older than the lock file; in the background.
bg_pids=()
npm_install() { # dir
  local t0=$SECONDS
  npm ci --prefix "$1" --no-audit --no-fund >/dev/null
  echo "setup: npm ci in $1: $((SECONDS - t0)) s"
}
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm_install . &
  bg_pids+=($!)
fi
# Test apps that install like a host's (tests/apps/*: own package.json and lock, e.g.
# React 17 + MyDataHelps UI with its `overrides` entry), the same way.
if [ "$mode" = all ]; then
  for app in tests/apps/*/; do
    if [ ! -d "${app}node_modules" ] || [ "${app}package-lock.json" -nt "${app}node_modules/.package-lock.json" ]; then
      npm_install "${app%/}" &
      bg_pids+=($!)
    fi
  done
fi

# Debian's browsers and drivers: Chromium + ChromeDriver, Firefox ESR, WebKitGTK's
# WebKitWebDriver (drives its MiniBrowser) with Xvfb, and WPE WebKit's WPEWebDriver with
# cog (headless). tests/support/browsers.js finds them. And redis-server: the broker's
# multi-instance tests run a real one (tests/broker/redis.test.js).
apt_install() { # packages…
  local t0=$SECONDS log
  log=$(mktemp)
  export DEBIAN_FRONTEND=noninteractive
  if apt-get -o DPkg::Lock::Timeout=600 update -q >"$log" 2>&1 &&
    apt-get -o DPkg::Lock::Timeout=600 install -y -q "$@" >>"$log" 2>&1; then
    echo "setup: apt-get install $*: $((SECONDS - t0)) s"
    rm -f "$log"
  else
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
}
if [ "$mode" = all ]; then
  apt_packages=(chromium chromium-driver firefox-esr webkit2gtk-driver xvfb xauth wpewebkit-driver cog redis-server)
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "setup: missing Debian packages; run: sudo apt-get install ${missing[*]}" >&2
      exit 1
    fi
    # Beside the cargo builds below: apt is mostly download and unpacking.
    apt_install "${missing[@]}" &
    bg_pids+=($!)
  fi
fi

# The toolchain rust-toolchain.toml pins, with its components and the wasm32 target
# (a no-op when they are installed). `rustup toolchain install` reads the file since
# rustup 1.28; an older rustup installs it on `rustup show`.
rustup toolchain install 2>/dev/null || rustup show active-toolchain
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

# The two tools are built unoptimised: they run for milliseconds on what the tests give
# them, and opt-level 0 without LTO halves their build, the longest step of a cold
# setup (wasm-bindgen-cli 128 -> 55 s, geckodriver ~100 -> 50 s on 2 cores; the glue
# and wasm wasm-bindgen writes are byte-identical). Plain install (no --locked): the
# registry mirror lacks some newest transitive versions.
cargo_install() { # crate version [args…]
  CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_INCREMENTAL=false \
    cargo install "$1" --version "=$2" "${@:3}"
}

if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$WB_VERSION" ]; then
  t0=$SECONDS
  # Only the wasm-bindgen binary: the crate's test runner is not used (tests/web/run.mjs is).
  cargo_install wasm-bindgen-cli "$WB_VERSION" --bin wasm-bindgen
  echo "setup: cargo install wasm-bindgen-cli $WB_VERSION: $((SECONDS - t0)) s"
fi

# geckodriver (Firefox's WebDriver server), pinned; `cargo install` puts it in
# $CARGO_HOME/bin, built as wasm-bindgen-cli above.
GECKODRIVER_VERSION=0.37.1
if [ "$mode" = all ]; then
  gecko=$(node tests/support/browsers.js path geckodriver 2>/dev/null || true)
  if [ -z "$gecko" ] || [ "$("$gecko" --version | awk 'NR==1 {print $2}')" != "$GECKODRIVER_VERSION" ]; then
    t0=$SECONDS
    cargo_install geckodriver "$GECKODRIVER_VERSION"
    echo "setup: cargo install geckodriver $GECKODRIVER_VERSION: $((SECONDS - t0)) s"
  fi
fi

# The background installs (npm, apt): a failure of any fails the setup.
for pid in "${bg_pids[@]}"; do wait "$pid"; done
