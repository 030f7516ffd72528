#!/usr/bin/env bash
# Runs Coupan at http://127.0.0.1:3000 (release build), installing what is missing.
# Without DATABASE_URL it starts a private PostgreSQL in .data/ (kept between runs) with
# the app's two roles (the migrator applies the migrations at start, the app runs as a role
# that may only read and write rows) and loads the demo shops on first start. The stand-in
# payment gateway gets a secret key generated into .data/ (the app sends it) and is called
# over plain http on loopback, which the app is told to allow. The site is built into
# target/run/site, its own folder: ./scripts/test.sh can run meanwhile. Prints the time of
# each step, and the total once the app answers.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

tools() {
    ensure_toolchain
    ensure_wasm_opt
}
build() {
    build_release_site "$RUN_SITE"
    cargo build -q --release -p paygate
}

timed "tools (Rust, cargo-leptos, wasm-bindgen, wasm-opt)" tools
if [ -z "${DATABASE_URL:-}" ]; then
    timed "PostgreSQL (embedded cluster in .data)" ensure_embedded_pg coupan no
    export DATABASE_URL="$APP_DB_URL"
    export COUPAN_MIGRATE_DATABASE_URL="${COUPAN_MIGRATE_DATABASE_URL:-$MIGRATOR_DB_URL}"
    export COUPAN_DEMO_DATA="${COUPAN_DEMO_DATA:-true}"
fi
ensure_jwt_secret
timed "release build (site in target/run/site)" build

export_site_env "$RUN_SITE"
export LEPTOS_SITE_ADDR="${LEPTOS_SITE_ADDR:-127.0.0.1:3000}"
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
if [ -z "${COUPAN_PAYMENT_URL:-}" ]; then
    # The stand-in payment gateway, with its ledger kept next to the embedded database. It
    # checks the secret key (generated into .data/) and speaks plain http on loopback.
    ensure_payment_key
    mkdir -p "$DATA_DIR"
    PAYGATE_ADDR=127.0.0.1:3002 PAYGATE_LEDGER_FILE="$DATA_DIR/paygate-ledger.jsonl" \
        PAYGATE_SECRET_KEY="$COUPAN_PAYMENT_SECRET_KEY" \
        "$ROOT/target/release/paygate" >"$DATA_DIR/paygate.log" 2>&1 &
    PIDS+=($!)
    export COUPAN_PAYMENT_URL=http://127.0.0.1:3002
    export COUPAN_PAYMENT_ALLOW_HTTP=true
    say "payment gateway at $COUPAN_PAYMENT_URL (log: .data/paygate.log)"
fi

# Once the app answers: the time of every step and the total (the app keeps the terminal).
healthy() {
    local host="${LEPTOS_SITE_ADDR%:*}" port="${LEPTOS_SITE_ADDR##*:}" line=""
    case "$host" in 0.0.0.0 | "[::]" | "") host=127.0.0.1 ;; esac
    { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
    printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
    read -r -t 2 line <&3 || true
    exec 3>&-
    [[ "$line" == *" 200 "* ]]
}
APP_T0=$SECONDS
(
    for _ in $(seq 1 1200); do
        if healthy; then
            TIMES+=("$(printf '%6d s  %s' $((SECONDS - APP_T0)) "app start (migrations, demo data)")")
            print_times
            say "Coupan is serving at http://$LEPTOS_SITE_ADDR, $((SECONDS - SCRIPT_T0)) s after ./scripts/run.sh started"
            exit 0
        fi
        sleep 0.5
    done
) &
PIDS+=($!)
say "starting Coupan at http://$LEPTOS_SITE_ADDR"
"$ROOT/target/release/server"
