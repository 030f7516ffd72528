#!/usr/bin/env bash
# Runs Coupan at http://127.0.0.1:3000 (release build), installing what is missing.
# Without DATABASE_URL it starts a private PostgreSQL in .data/ (kept between runs) and
# loads the demo shops on first start.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_toolchain
ensure_wasm_opt
if [ -z "${DATABASE_URL:-}" ]; then
    ensure_embedded_pg coupan no
    export COUPAN_DEMO_DATA="${COUPAN_DEMO_DATA:-true}"
fi
ensure_jwt_secret

say "building (release)"
cargo leptos build --release

export LEPTOS_OUTPUT_NAME=coupan
export LEPTOS_SITE_ROOT="$ROOT/target/site"
export LEPTOS_SITE_PKG_DIR=pkg
export LEPTOS_SITE_ADDR="${LEPTOS_SITE_ADDR:-127.0.0.1:3000}"
export LEPTOS_ENV=PROD
say "starting Coupan at http://$LEPTOS_SITE_ADDR"
exec "$ROOT/target/release/server"
