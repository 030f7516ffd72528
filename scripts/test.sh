#!/usr/bin/env bash
# Runs every test: Rust unit tests, integration tests against a real PostgreSQL (one
# fresh database per test), the Playwright suite in Debian's Chromium against the release
# build that ./scripts/run.sh serves (same build, same server settings; its site in
# target/test/site, so an app started by run.sh keeps running), and the operations tests.
# Runs the deployment checks first (they need no Rust build). Installs what is missing;
# quick when everything is there. Prints the time of each step.
# COUPAN_SKIP_OPS=1 skips the operations tests (fixed ports 3300-3313, about 4 min).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; print_times' EXIT

tools() {
    ensure_toolchain
    ensure_wasm_opt
    ensure_node
    command -v curl >/dev/null || apt_install curl
    if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then apt_install chromium; fi
    if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
        timed "installing end2end npm packages" in_root sh -c 'cd end2end && npm ci --no-audit --no-fund --silent'
    fi
}

# The release build, exactly as run.sh builds it (only the site folder differs).
build() {
    build_release_site "$TEST_SITE"
    cargo build -q --release -p paygate
}

# Playwright against target/release/server serving target/test/site with run.sh's
# settings (export_site_env: LEPTOS_ENV=PROD ...), on a fresh database with the app's two
# roles: the app migrates it as the migrator at start and serves as the app's role. The
# gateway checks the payment secret key and is called over plain http on loopback.
browser_tests() {
    local port="${COUPAN_E2E_PORT:-3100}" gw_port="${COUPAN_E2E_GATEWAY_PORT:-3102}"
    pg_recreate_db coupan_e2e
    say "starting the payment gateway on 127.0.0.1:$gw_port"
    PAYGATE_ADDR="127.0.0.1:$gw_port" PAYGATE_SECRET_KEY="$COUPAN_PAYMENT_SECRET_KEY" \
        "$ROOT/target/release/paygate" >"$ROOT/target/e2e-paygate.log" 2>&1 &
    local gw_pid=$!
    PIDS+=("$gw_pid")
    local log="$ROOT/target/e2e-server.log"
    say "starting the release server on 127.0.0.1:$port (log: target/e2e-server.log)"
    # The browser tests' pictures: a fresh folder per run, like their database.
    local images="$ROOT/target/e2e-images"
    rm -rf "$images"
    # The browser suite signs up and logs in far more than one person a minute from one
    # address: the per-IP limit of auth requests is raised for it (edge.rs tests the limit).
    (
        export_site_env "$TEST_SITE"
        DATABASE_URL="$APP_DB_URL" COUPAN_MIGRATE_DATABASE_URL="$MIGRATOR_DB_URL" \
            LEPTOS_SITE_ADDR="127.0.0.1:$port" RUST_LOG="${RUST_LOG:-info}" \
            COUPAN_METRICS_ADDR=127.0.0.1:0 \
            COUPAN_PAYMENT_URL="http://127.0.0.1:$gw_port" COUPAN_PAYMENT_ALLOW_HTTP=true \
            COUPAN_PAYMENT_SECRET_KEY="$COUPAN_PAYMENT_SECRET_KEY" \
            COUPAN_IMAGE_STORE="$images" \
            COUPAN_RATE_AUTH_PER_MIN="${COUPAN_RATE_AUTH_PER_MIN:-600}" \
            exec "$ROOT/target/release/server"
    ) >"$log" 2>&1 &
    local server_pid=$!
    PIDS+=("$server_pid")
    for _ in $(seq 1 60); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; die "the server exited"; }
        sleep 0.5
    done
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$log" >&2; die "the server did not answer"; }
    (cd end2end && COUPAN_E2E_URL="http://127.0.0.1:$port" COUPAN_E2E_GATEWAY_URL="http://127.0.0.1:$gw_port" npx playwright test)
    kill "$server_pid" "$gw_pid" 2>/dev/null || true
}

# Several replicas behind nginx, rolling restart and fault tests (scripts/replicas.sh, own
# PostgreSQL cluster and ports 3300-3313; installs nginx when missing). The replicas run
# target/debug/server, which the server crate's tests built, and serve the test site.
ops_tests() {
    cargo build -q -p paygate
    COUPAN_REPLICAS_SITE_ROOT="$TEST_SITE" "$ROOT/scripts/cargo-test.sh" -p ops -- --test-threads=1 --nocapture
}

timed "deployment checks (deploy/k8s, Kubernetes schemas, checkov)" "$ROOT/scripts/deploy-check.sh"
timed "tools (Rust, cargo-leptos, wasm-bindgen, wasm-opt, Node, Chromium, Playwright)" tools
if [ -z "${DATABASE_URL:-}" ]; then
    timed "PostgreSQL (embedded cluster in .data)" ensure_embedded_pg coupan_test yes
else
    # A PostgreSQL of your own: DATABASE_URL must be a superuser (the Rust tests create a
    # database per test; the browser tests get a database and the app's roles made with it).
    export PG_ADMIN_BASE="${DATABASE_URL%/*}"
fi
ensure_jwt_secret
ensure_payment_key
timed "formatting check" cargo fmt --all -- --check
timed "lints (clippy, warnings are errors)" cargo clippy -q --workspace --all-targets -- -D warnings
timed "release build, as ./scripts/run.sh builds it (site in target/test/site)" build
# One test at a time: each #[sqlx::test] runs its app on a runtime of its own, and a page
# request of one test could stall for good while another test's runtime shut down (seen as
# 503s after the 30 s request timeout, and once as a hang that used up CI's time). The
# server runs on one runtime, so this is the tests' arrangement, not the server's; one
# thread costs about as much time as two on a 2-core machine (44 s against 33-48 s).
timed "unit and integration tests" "$ROOT/scripts/cargo-test.sh" -p app --features ssr -p server -p paygate -p invariants -- --test-threads=1
timed "browser tests (Playwright, Chromium) against the release build" browser_tests
if [ -n "${COUPAN_SKIP_OPS:-}" ]; then
    say "COUPAN_SKIP_OPS is set: operations tests skipped"
else
    timed "operations tests: replicas behind nginx, rolling restart, faults (about 4 min)" ops_tests
fi
say "all tests passed$([ -z "${COUPAN_SKIP_OPS:-}" ] || echo " (without the operations tests)")"
