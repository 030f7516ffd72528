#!/usr/bin/env bash
# Runs Coupan at http://127.0.0.1:3000 (release build), installing what is missing.
# Without DATABASE_URL it starts a private PostgreSQL in .data/ (kept between runs) with
# the app's two roles (the migrator applies the migrations at start, the app runs as a role
# that may only read and write rows) and loads the demo shops on first start. The stand-in
# payment gateway gets a secret key generated into .data/ (the app sends it) and is called
# over plain http on loopback, which the app is told to allow.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_toolchain
ensure_wasm_opt
if [ -z "${DATABASE_URL:-}" ]; then
    ensure_embedded_pg coupan no
    export DATABASE_URL="$APP_DB_URL"
    export COUPAN_MIGRATE_DATABASE_URL="${COUPAN_MIGRATE_DATABASE_URL:-$MIGRATOR_DB_URL}"
    export COUPAN_DEMO_DATA="${COUPAN_DEMO_DATA:-true}"
fi
ensure_jwt_secret

say "building (release)"
cargo leptos build --release
cargo build -q --release -p paygate

export LEPTOS_OUTPUT_NAME=coupan
export LEPTOS_SITE_ROOT="$ROOT/target/site"
export LEPTOS_SITE_PKG_DIR=pkg
export LEPTOS_SITE_ADDR="${LEPTOS_SITE_ADDR:-127.0.0.1:3000}"
export LEPTOS_ENV=PROD
if [ -z "${COUPAN_PAYMENT_URL:-}" ]; then
    # The stand-in payment gateway, with its ledger kept next to the embedded database. It
    # checks the secret key (generated into .data/) and speaks plain http on loopback.
    ensure_payment_key
    mkdir -p "$DATA_DIR"
    PAYGATE_ADDR=127.0.0.1:3002 PAYGATE_LEDGER_FILE="$DATA_DIR/paygate-ledger.jsonl" \
        PAYGATE_SECRET_KEY="$COUPAN_PAYMENT_SECRET_KEY" \
        "$ROOT/target/release/paygate" >"$DATA_DIR/paygate.log" 2>&1 &
    GW_PID=$!
    trap 'kill $GW_PID 2>/dev/null || true' EXIT
    export COUPAN_PAYMENT_URL=http://127.0.0.1:3002
    export COUPAN_PAYMENT_ALLOW_HTTP=true
    say "payment gateway at $COUPAN_PAYMENT_URL (log: .data/paygate.log)"
fi
say "starting Coupan at http://$LEPTOS_SITE_ADDR"
"$ROOT/target/release/server"
