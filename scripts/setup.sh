#!/usr/bin/env bash
# Installs what Yunbian needs on Debian/Ubuntu: nats-server (if missing) and the npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing nats-server (Debian package)…"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq nats-server
  else
    echo "nats-server is missing: install it (macOS: brew install nats-server) or set NATS_URL to a running server" >&2
  fi
fi

# onnxruntime-node's install step fetches GPU binaries from outside the npm registry; the CPU build ships in the package.
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
