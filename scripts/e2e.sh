#!/usr/bin/env bash
# Runs some (or all) Playwright specs against the release build, as test.sh does, without
# the other steps: ./scripts/e2e.sh tests/catalog.spec.ts tests/orders.spec.ts
# Ports: COUPAN_E2E_PORT (3100) and COUPAN_E2E_GATEWAY_PORT (3102). COUPAN_E2E_NO_BUILD=1
# reuses the last release build.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; print_times' EXIT
source "$ROOT/scripts/browser.sh"

timed "tools" tools
if [ -z "${DATABASE_URL:-}" ]; then
    timed "PostgreSQL (embedded cluster in .data)" ensure_embedded_pg coupan_test yes
else
    export PG_ADMIN_BASE="${DATABASE_URL%/*}"
fi
ensure_jwt_secret
ensure_payment_key
[ -n "${COUPAN_E2E_NO_BUILD:-}" ] || timed "release build (site in target/test/site)" build
timed "browser tests" browser_tests "$@"
