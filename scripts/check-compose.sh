#!/usr/bin/env bash
# Validates every compose file (no Docker engine needed): docker-compose config.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v docker-compose >/dev/null 2>&1; then
  check() { docker-compose -f "$1" config -q; }
elif docker compose version >/dev/null 2>&1; then
  check() { docker compose -f "$1" config -q; }
else
  echo "docker-compose is missing: apt-get install -y docker-compose (or install Docker Compose v2)" >&2
  exit 1
fi
for file in compose/*.yml; do
  check "$file"
  echo "valid: $file"
done
