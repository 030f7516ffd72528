#!/usr/bin/env bash
# Runs every test: Rust unit tests, integration tests against a real PostgreSQL (one
# fresh database per test), the Playwright suite in Debian's Chromium against the release
# build that ./scripts/run.sh serves (same build, same server settings; its site in
# target/test/site, so an app started by run.sh keeps running), Schemathesis against the
# same release server (scripts/fuzz.sh), and the operations tests.
# Runs the deployment checks first (they need no Rust build). Installs what is missing;
# quick when everything is there. Prints the time of each step.
# COUPAN_SKIP_OPS=1 skips the operations tests (fixed ports 3300-3313, about 4 min).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; print_times' EXIT

source "$ROOT/scripts/browser.sh"

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
timed "API fuzzing (Schemathesis, from the OpenAPI document) against the release build" \
    env COUPAN_FUZZ_NO_BUILD=1 "$ROOT/scripts/fuzz.sh"
if [ -n "${COUPAN_SKIP_OPS:-}" ]; then
    say "COUPAN_SKIP_OPS is set: operations tests skipped"
else
    timed "operations tests: replicas behind nginx, rolling restart, faults (about 4 min)" ops_tests
fi
say "all tests passed$([ -z "${COUPAN_SKIP_OPS:-}" ] || echo " (without the operations tests)")"
