#!/usr/bin/env bash
# Installs what building and testing need, idempotently: the Rust toolchain that
# rust-toolchain.toml pins with its wasm target, the wasm-bindgen CLI matching the
# pinned crate, the browsers and WebDriver servers of the tests (Debian packages, and
# geckodriver from crates.io: Debian has none), redis-server, and the npm
# devDependencies. Safe to run again: each step checks before it installs, and says how
# long it took when it did.
set -euo pipefail
cd "$(dirname "$0")/.."
WB_VERSION=$(sed -n 's/^wasm-bindgen = .*"=\([0-9.]*\)".*/\1/p' Cargo.toml)

# The toolchain rust-toolchain.toml pins, with its components and the wasm32 target
# (a no-op when they are installed). `rustup toolchain install` reads the file since
# rustup 1.28; an older rustup installs it on `rustup show`.
rustup toolchain install 2>/dev/null || rustup show active-toolchain

if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$WB_VERSION" ]; then
  # Plain install (no --locked): the registry mirror lacks some newest transitive versions.
  cargo install wasm-bindgen-cli --version "=$WB_VERSION"
fi

# Debian's browsers and drivers: Chromium + ChromeDriver, Firefox ESR, WebKitGTK's
# WebKitWebDriver (drives its MiniBrowser) with Xvfb, and WPE WebKit's WPEWebDriver with
# cog (headless). tests/support/browsers.js finds them. And redis-server: the broker's
# multi-instance tests run a real one (tests/broker/redis.test.js).
apt_packages=(chromium chromium-driver firefox-esr webkit2gtk-driver xvfb xauth wpewebkit-driver cog redis-server)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    t0=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}"
    echo "setup: apt-get install ${missing[*]}: $((SECONDS - t0)) s"
  else
    echo "setup: missing Debian packages; run: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# geckodriver (Firefox's WebDriver server), pinned; `cargo install` puts it in
# $CARGO_HOME/bin. Plain install (no --locked), as for wasm-bindgen-cli.
GECKODRIVER_VERSION=0.37.1
gecko=$(node tests/support/browsers.js path geckodriver 2>/dev/null || true)
if [ -z "$gecko" ] || [ "$("$gecko" --version | awk 'NR==1 {print $2}')" != "$GECKODRIVER_VERSION" ]; then
  t0=$SECONDS
  cargo install geckodriver --version "=$GECKODRIVER_VERSION"
  echo "setup: cargo install geckodriver $GECKODRIVER_VERSION: $((SECONDS - t0)) s"
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# Test apps that install like a host's (tests/apps/*: own package.json and lock, e.g.
# React 17 + MyDataHelps UI with its `overrides` entry), the same way.
for app in tests/apps/*/; do
  if [ ! -d "${app}node_modules" ] || [ "${app}package-lock.json" -nt "${app}node_modules/.package-lock.json" ]; then
    npm ci --prefix "$app" --no-audit --no-fund
  fi
done
