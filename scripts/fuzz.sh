#!/usr/bin/env bash
# Fuzzes the JSON API from its own OpenAPI document (GET /api/v1/openapi.json) with
# Schemathesis, against the release server as the browser tests run it (fresh database,
# the app's roles, the stand-in payment gateway): three runs, as nobody, as a customer and
# as a shop owner. A run fails on any 5xx answer and on any answer the document does not
# describe (status code, content type, headers, JSON schema). Bounded and repeatable: a
# fixed seed, a fixed number of cases per operation, one worker, no example database.
# scripts/test.sh runs it after the release build; by hand:
#   COUPAN_FUZZ_NO_BUILD=1 ./scripts/fuzz.sh        (reuses the last release build)
# Ports: COUPAN_FUZZ_PORT and COUPAN_FUZZ_GATEWAY_PORT, else the browser tests' ports
# (COUPAN_E2E_PORT, COUPAN_E2E_GATEWAY_PORT: they are free again when test.sh gets here),
# else 3106 and 3107. COUPAN_FUZZ_SERVER
# names another server binary (e.g. target/debug/server while working on the API).
# Schemathesis, pinned in scripts/fuzz-requirements.txt, lives in target/fuzz-venv
# (installed on the first run, reused while the requirements file is unchanged).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT

# The same seed every run: a failure found once is found again.
SEED=20261127
# Cases per operation of the fuzzing phase (the coverage phase adds its own: each
# boundary and wrong type of every parameter once).
MAX_EXAMPLES="${COUPAN_FUZZ_MAX_EXAMPLES:-100}"

venv="$ROOT/target/fuzz-venv"
requirements="$ROOT/scripts/fuzz-requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1) $venv"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$venv/bin/python" -c '' 2>/dev/null; then
    command -v python3 >/dev/null || apt_install python3 python3-venv
    say "installing Schemathesis into target/fuzz-venv (scripts/fuzz-requirements.txt)"
    rm -rf "$venv"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
    echo "$want" >"$stamp"
fi

if [ -z "${DATABASE_URL:-}" ]; then
    ensure_embedded_pg coupan_test yes
else
    export PG_ADMIN_BASE="${DATABASE_URL%/*}"
fi
ensure_jwt_secret
ensure_payment_key
if [ -z "${COUPAN_FUZZ_NO_BUILD:-}" ]; then
    timed "release build (site in target/test/site)" build_release_site "$TEST_SITE"
    cargo build -q --release -p paygate
fi

port="${COUPAN_FUZZ_PORT:-${COUPAN_E2E_PORT:-3106}}"
gw_port="${COUPAN_FUZZ_GATEWAY_PORT:-${COUPAN_E2E_GATEWAY_PORT:-3107}}"
base="http://127.0.0.1:$port"
server_bin="${COUPAN_FUZZ_SERVER:-$ROOT/target/release/server}"
pg_recreate_db coupan_fuzz
PAYGATE_ADDR="127.0.0.1:$gw_port" PAYGATE_SECRET_KEY="$COUPAN_PAYMENT_SECRET_KEY" \
    "$ROOT/target/release/paygate" >"$ROOT/target/fuzz-paygate.log" 2>&1 &
PIDS+=("$!")
log="$ROOT/target/fuzz-server.log"
images="$ROOT/target/fuzz-images"
rm -rf "$images"
say "starting $server_bin on 127.0.0.1:$port (log: target/fuzz-server.log)"
# Schemathesis signs up and logs in far more than a person does: the per-address limits
# are raised (edge.rs tests them), everything else is as in production.
(
    export_site_env "$TEST_SITE"
    DATABASE_URL="$APP_DB_URL" COUPAN_MIGRATE_DATABASE_URL="$MIGRATOR_DB_URL" \
        LEPTOS_SITE_ADDR="127.0.0.1:$port" RUST_LOG="${RUST_LOG:-info}" \
        COUPAN_METRICS_ADDR=127.0.0.1:0 \
        COUPAN_PAYMENT_URL="http://127.0.0.1:$gw_port" COUPAN_PAYMENT_ALLOW_HTTP=true \
        COUPAN_PAYMENT_SECRET_KEY="$COUPAN_PAYMENT_SECRET_KEY" \
        COUPAN_IMAGE_STORE="$images" \
        COUPAN_RATE_AUTH_PER_MIN=1000000 COUPAN_RATE_PURCHASE_PER_MIN=1000000 \
        exec "$server_bin"
) >"$log" 2>&1 &
server_pid=$!
PIDS+=("$server_pid")
for _ in $(seq 1 60); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; die "the server exited"; }
    sleep 0.5
done
curl -fsS "$base/healthz" >/dev/null || { cat "$log" >&2; die "the server did not answer"; }

# A customer and an owner (with a coupon, so the owner's lists are not empty): their
# tokens.
tokens="$("$venv/bin/python" - "$base" <<'EOF'
import json, sys, urllib.request

base = sys.argv[1]

def post(path, body, token=None):
    req = urllib.request.Request(base + path, json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req) as res:
        return json.load(res)

def account(email, role, shop=None):
    body = {"email": email, "password": "fuzzing password 1", "name": "Fuzz", "role": role}
    if shop:
        body["shop_name"] = shop
    post("/api/v1/auth/signup", body)
    return post("/api/v1/auth/token", {"email": email, "password": "fuzzing password 1"})["access_token"]

customer = account("fuzz-customer@example.com", "customer")
owner = account("fuzz-owner@example.com", "owner", "Fuzz Shop")
post("/api/v1/coupons", {"name": "Fuzz Latte", "description": "desc", "price": 4500, "stock": 50}, owner)
print(customer, owner)
EOF
)" || die "could not create the fuzzing accounts"
read -r customer_token owner_token <<<"$tokens"

# One run of Schemathesis as $1 (a name), with more arguments for it.
# - phases: examples, coverage and fuzzing; not stateful (its length depends on the links
#   it finds, and the matrix test, authz_matrix.rs, covers sequences across people);
# - checks: no 5xx, and status code, content type, headers and body as documented;
# - every operation, the live streams included: Schemathesis reads one event of a stream
#   and hangs up (scripts/schemathesis.toml), and never signs up by itself.
fuzz() {
    local who="$1"
    shift
    say "Schemathesis as $who"
    timeout 600 "$venv/bin/schemathesis" --config-file "$ROOT/scripts/schemathesis.toml" \
        run "$base/api/v1/openapi.json" \
        --url "$base" \
        --phases examples,coverage,fuzzing \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
        --max-examples "$MAX_EXAMPLES" --seed "$SEED" --generation-database none \
        --workers 1 --request-timeout 10 --no-color \
        --report junit --report-junit-path "$ROOT/target/fuzz-$who.xml" \
        "$@"
}

rc=0
timed "fuzzing as nobody" fuzz anonymous || rc=1
timed "fuzzing as a customer" fuzz customer -H "Authorization: Bearer $customer_token" || rc=1
timed "fuzzing as a shop owner" fuzz owner -H "Authorization: Bearer $owner_token" || rc=1
# An internal error the answers hide (a failed background step) is in the log.
if grep -q 'ERROR\|panicked' "$log"; then
    say "errors in the server's log (target/fuzz-server.log):"
    grep 'ERROR\|panicked' "$log" | tail -20 >&2
    rc=1
fi
[ "$rc" = 0 ] || die "fuzzing found answers the OpenAPI document does not allow (reports: target/fuzz-*.xml)"
say "fuzzing passed: no 5xx, every answer as documented"
