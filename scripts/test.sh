#!/usr/bin/env bash
# Runs every test: the deployment checks, Rust unit tests, integration tests against a
# real PostgreSQL (one fresh database per test), and the Playwright suite in Debian's
# Chromium against the real server. Installs what is missing; quick when everything is
# there.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
START=$(date +%s)

# First: needs no Rust build (renders deploy/k8s, Kubernetes schemas, checkov).
"$ROOT/scripts/deploy-check.sh"

ensure_toolchain
ensure_node
command -v curl >/dev/null || apt_install curl
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then apt_install chromium; fi
if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    say "installing end2end npm packages"
    (cd end2end && npm ci --no-audit --no-fund --silent)
fi
if [ -z "${DATABASE_URL:-}" ]; then
    ensure_embedded_pg coupan_test yes
else
    # A PostgreSQL of your own: DATABASE_URL must be a superuser (the Rust tests create a
    # database per test; the browser tests get a database and the app's roles made with it).
    export PG_ADMIN_BASE="${DATABASE_URL%/*}"
fi
ensure_jwt_secret
ensure_payment_key

say "formatting check"
cargo fmt --all -- --check

say "lints (clippy, warnings are errors)"
env RUSTFLAGS="--cfg erase_components" cargo clippy -q --workspace --all-targets -- -D warnings

say "building the site (debug)"
cargo leptos build

say "unit and integration tests"
"$ROOT/scripts/cargo-test.sh" -p app --features ssr -p server -p paygate -p invariants
env RUSTFLAGS="--cfg erase_components" cargo build -q -p paygate

E2E_PORT="${COUPAN_E2E_PORT:-3100}"
# A fresh database for the browser tests on every run, with the app's two roles: the app
# migrates it as the migrator at start and serves as the app's role.
pg_recreate_db coupan_e2e
GW_PORT="${COUPAN_E2E_GATEWAY_PORT:-3102}"
say "starting the payment gateway on 127.0.0.1:$GW_PORT"
PAYGATE_ADDR="127.0.0.1:$GW_PORT" PAYGATE_SECRET_KEY="$COUPAN_PAYMENT_SECRET_KEY" \
    "$ROOT/target/debug/paygate" >"$ROOT/target/e2e-paygate.log" 2>&1 &
GW_PID=$!
LOG="$ROOT/target/e2e-server.log"
# The browser suite signs up and logs in far more than one person a minute from one
# address: the per-IP limit of auth requests is raised for it (edge.rs tests the limit).
say "starting the server on 127.0.0.1:$E2E_PORT (log: target/e2e-server.log)"
DATABASE_URL="$APP_DB_URL" COUPAN_MIGRATE_DATABASE_URL="$MIGRATOR_DB_URL" \
    LEPTOS_SITE_ADDR="127.0.0.1:$E2E_PORT" LEPTOS_OUTPUT_NAME=coupan \
    LEPTOS_SITE_ROOT="$ROOT/target/site" LEPTOS_SITE_PKG_DIR=pkg RUST_LOG="${RUST_LOG:-info}" \
    COUPAN_METRICS_ADDR=127.0.0.1:0 \
    COUPAN_PAYMENT_URL="http://127.0.0.1:$GW_PORT" COUPAN_PAYMENT_ALLOW_HTTP=true \
    COUPAN_RATE_AUTH_PER_MIN="${COUPAN_RATE_AUTH_PER_MIN:-600}" \
    "$ROOT/target/debug/server" >"$LOG" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID $GW_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:$E2E_PORT/healthz" >/dev/null 2>&1 && break
    kill -0 $SERVER_PID 2>/dev/null || { cat "$LOG" >&2; die "the server exited"; }
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$E2E_PORT/healthz" >/dev/null || { cat "$LOG" >&2; die "the server did not answer"; }

say "browser tests (Playwright, Chromium)"
(cd end2end && COUPAN_E2E_URL="http://127.0.0.1:$E2E_PORT" COUPAN_E2E_GATEWAY_URL="http://127.0.0.1:$GW_PORT" npx playwright test)

# Several replicas behind nginx, rolling restart and fault tests (scripts/replicas.sh, own
# PostgreSQL cluster and ports 3300-3313; installs nginx when missing).
kill $SERVER_PID $GW_PID 2>/dev/null || true
if [ -n "${COUPAN_SKIP_OPS:-}" ]; then
    say "COUPAN_SKIP_OPS is set: operations tests skipped"
    say "tests passed (without the operations tests) in $(( $(date +%s) - START )) s"
    exit 0
fi
say "operations tests: replicas behind nginx, rolling restart, faults (about 4 min)"
"$ROOT/scripts/cargo-test.sh" -p ops -- --test-threads=1 --nocapture

say "all tests passed in $(( $(date +%s) - START )) s"
