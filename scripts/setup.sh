#!/usr/bin/env bash
# Installs what building and testing need, idempotently: the wasm target, the
# wasm-bindgen CLI matching the pinned crate, Debian's Chromium + ChromeDriver and
# redis-server, and the npm devDependencies. Safe to run again: each step checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."
WB_VERSION=$(sed -n 's/^wasm-bindgen = .*"=\([0-9.]*\)".*/\1/p' Cargo.toml)

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$WB_VERSION" ]; then
  # Plain install (no --locked): the registry mirror lacks some newest transitive versions.
  cargo install wasm-bindgen-cli --version "=$WB_VERSION"
fi

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q chromium chromium-driver
  else
    echo "setup: Chromium is missing; run: sudo apt-get install chromium chromium-driver" >&2
    exit 1
  fi
fi

# redis-server: the broker's multi-instance tests run a real one (tests/broker/redis.test.js).
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q redis-server
  else
    echo "setup: redis-server is missing; run: sudo apt-get install redis-server" >&2
    exit 1
  fi
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
