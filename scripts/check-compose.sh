#!/usr/bin/env bash
# Validates every compose file (no Docker engine needed): docker-compose config; and, where
# nats-server is installed, every NATS config in compose/nats/ with `nats-server -t` (the
# repository's copies must load into Debian's 2.9.10 too: the tests start servers from them).
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
nats_server=$(command -v nats-server || ls /usr/sbin/nats-server /usr/bin/nats-server 2>/dev/null | head -1 || true)
if [ -z "$nats_server" ]; then
  echo "nats-server not installed: NATS configs not checked"
  exit 0
fi
# The configs include the deployment's NATS trust from ./trust (compose mounts it there): check
# them in a copy beside a trust made for the check.
[ -f dist/tools/nats-trust/main.js ] || npm run build --silent
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp compose/nats/*.conf "$work/"
node dist/tools/nats-trust/main.js init "$work/trust" >/dev/null
node dist/tools/nats-trust/main.js site "$work/trust" check "$work/trust" >/dev/null
# jetstream-sync-always.conf is left out: compose mounts it for nats-server 2.10 and later.
for conf in compose/nats/*.conf; do
  case "$conf" in *jetstream-sync*.conf) continue ;; esac
  checked="$work/$(basename "$conf")"
  # A site's deny list as compose/docker-compose.edge.yml sets it (siteLeafDenyExports).
  if ! out=$(NATS_SERVER_NAME=check YUNBIAN_SITE=check YUNBIAN_LEAF_NAME=check \
    YUNBIAN_HUB_LEAF_URL=nats-leaf://127.0.0.1:7422 \
    YUNBIAN_LEAF_DENY_EXPORTS='["yb.samples.check.>", "$O.yb-payloads-check.>", "$O.yb-training-checkpoints-check.>", "_INBOX_check.>"]' \
    "$nats_server" -c "$checked" -t 2>&1); then
    echo "$out" >&2
    exit 1
  fi
  echo "loads into $("$nats_server" --version): $conf"
done
