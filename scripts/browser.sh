# The browser tests' pieces, shared by test.sh (everything) and e2e.sh (some specs):
# sourced after lib.sh, with PIDS set by the caller (killed on exit).

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
    (cd end2end && COUPAN_E2E_URL="http://127.0.0.1:$port" COUPAN_E2E_GATEWAY_URL="http://127.0.0.1:$gw_port" npx playwright test "$@")
    kill "$server_pid" "$gw_pid" 2>/dev/null || true
}
