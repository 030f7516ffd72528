#!/usr/bin/env bash
# Runs `cargo test` with the arguments given, against the embedded PostgreSQL and with the
# environment cargo-leptos builds with (the compiler flags come from .cargo/config.toml for
# every build, so nothing is compiled twice). For working on one test:
#   ./scripts/cargo-test.sh -p server --test api saga::
# test.sh runs the whole set through this script.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_rust
if [ -z "${DATABASE_URL:-}" ]; then
    ensure_embedded_pg coupan_test yes
fi
ensure_jwt_secret
exec env LEPTOS_OUTPUT_NAME=coupan LEPTOS_SITE_ROOT=target/site \
    LEPTOS_SITE_PKG_DIR=pkg LEPTOS_SITE_ADDR=127.0.0.1:3000 LEPTOS_RELOAD_PORT=3001 \
    LEPTOS_LIB_DIR=frontend LEPTOS_BIN_DIR=server LEPTOS_JS_MINIFY=false LEPTOS_HASH_FILES=false \
    cargo test "$@"
