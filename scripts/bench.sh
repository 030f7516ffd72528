#!/usr/bin/env bash
# Coupan's benchmark (issue #5): builds in release mode, starts a fresh PostgreSQL cluster,
# the payment gateway and the app, runs every scenario with target/release/bench, prints
# the report and writes it to BENCHMARKS.md. Not part of ./scripts/test.sh.
#
#   ./scripts/bench.sh              full run (a few minutes on 2 cores)
#   ./scripts/bench.sh --quick      short smoke run (small seed, seconds per scenario)
#
# Options: --quick, --no-build (use the binaries already in target/release),
# --out FILE (default BENCHMARKS.md; --quick defaults to target/bench/BENCHMARKS-quick.md),
# --keep (leave PostgreSQL, the gateway and the app running afterwards),
# --note TEXT (added to the report, e.g. "other builds were running"),
# --only LIST (some of ceiling,flash,live,saga,pages,bundle; for working on one target;
# the bundle is measured in every run, `--only bundle` measures nothing else).
# Ports: app 3400, gateway 3401, PostgreSQL 25420 (override with BENCH_APP_PORT,
# BENCH_GATEWAY_PORT, BENCH_PG_PORT; BENCH_RUN_DIR for the cluster and logs).
# BENCH_LIVE_STREAMS: streams held open in the live scenario (default 5000).
# Exits non-zero if an invariant is violated.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

COMMAND="./scripts/bench.sh${*:+ $*}"
QUICK="" BUILD=yes KEEP="" OUT="" DRIVER_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=yes; DRIVER_ARGS+=(--quick) ;;
        --no-build) BUILD="" ;;
        --keep) KEEP=yes ;;
        --out) OUT="$2"; shift ;;
        --note) DRIVER_ARGS+=(--note "$2"); shift ;;
        --only) DRIVER_ARGS+=(--only "$2"); shift ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[ -n "$OUT" ] || OUT="$([ -n "$QUICK" ] && echo "$ROOT/target/bench/BENCHMARKS-quick.md" || echo "$ROOT/BENCHMARKS.md")"

# The live scenario holds 5,000 streams open: a socket each in the app and in the driver
# (both inherit this limit), plus the pools and files. Raised to the hard limit when the
# soft one is lower; a hard limit below that is reported, and the scenario fails to open
# every stream.
WANT_FILES=$(( ${BENCH_LIVE_STREAMS:-5000} + 2048 ))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$WANT_FILES" ]; then
    HARD="$(ulimit -Hn)"
    if [ "$HARD" = unlimited ] || [ "$HARD" -ge "$WANT_FILES" ]; then
        ulimit -n "$WANT_FILES"
    else
        ulimit -n "$HARD"
        say "note: open files limited to $HARD (hard limit); the live scenario needs $WANT_FILES"
    fi
fi

APP_PORT="${BENCH_APP_PORT:-3400}"
GW_PORT="${BENCH_GATEWAY_PORT:-3401}"
BENCH_PG_PORT="${BENCH_PG_PORT:-25420}"
BENCH_DIR="$ROOT/target/bench"
SITE_DIR="$BENCH_DIR/site"
# PostgreSQL's cluster and the servers' logs; BENCH_RUN_DIR lets two runs (on other ports) share a checkout.
RUN_DIR="${BENCH_RUN_DIR:-$BENCH_DIR}"
mkdir -p "$BENCH_DIR" "$RUN_DIR"

# --- tools -------------------------------------------------------------------------
ensure_toolchain
ensure_wasm_opt
command -v curl >/dev/null || apt_install curl
command -v wrk >/dev/null || apt_install wrk
command -v brotli >/dev/null || apt_install brotli
command -v gzip >/dev/null || apt_install gzip
BINDIR="$(pg_bindir)" || { apt_install postgresql postgresql-contrib; BINDIR="$(pg_bindir)"; }
command -v pgbench >/dev/null || [ -x "$BINDIR/pgbench" ] || apt_install postgresql-contrib
PGBENCH_DIR="$(dirname "$(command -v pgbench || echo "$BINDIR/pgbench")")"
export PATH="$PATH:$PGBENCH_DIR:$BINDIR"

# --- build (release) ---------------------------------------------------------------
if [ -n "$BUILD" ]; then
    # Built as ./scripts/run.sh builds it (lib.sh: the flags of .cargo/config.toml, so the
    # bundle measured is the one that hydrates), into a folder of its own: another command
    # of the checkout never rewrites it. The app serves it and the report measures its bundle.
    say "building the site and server (release)"
    build_release_site "$SITE_DIR"
    say "building the payment gateway and the bench driver (release)"
    # Separately: together they would unify features and rebuild shared dependencies.
    cargo build -q --release -p paygate
    cargo build -q --release -p bench
fi
for bin in server paygate bench; do
    [ -x "target/release/$bin" ] || die "target/release/$bin is missing (run without --no-build)"
done
[ -d "$SITE_DIR/pkg" ] || die "$SITE_DIR has no release site (run without --no-build)"

# --- a fresh PostgreSQL cluster of its own ----------------------------------------
PG_USER=""
if is_root; then
    PG_USER=postgres
    id -u "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
fi
PGPARENT="$RUN_DIR"
if is_root; then
    chmod o+x "$RUN_DIR" "$BENCH_DIR" "$ROOT/target" 2>/dev/null || true
    if ! runuser -u "$PG_USER" -- test -x "$RUN_DIR"; then
        PGPARENT="/var/tmp/coupan-bench-$(printf '%s' "$RUN_DIR" | md5sum | cut -c1-10)"
        mkdir -p "$PGPARENT" && chmod 755 "$PGPARENT"
    fi
fi
PGDATA_DIR="$PGPARENT/pg"
stop_pg() { pg_as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast stop >/dev/null 2>&1 || true; }
stop_pg  # a cluster left running by an earlier --keep run
if (exec 3<>"/dev/tcp/127.0.0.1/$BENCH_PG_PORT") 2>/dev/null; then
    die "port $BENCH_PG_PORT is in use (set BENCH_PG_PORT to a free port)"
fi
rm -rf "$PGDATA_DIR"
mkdir -p "$PGDATA_DIR"
PG_PW="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PWFILE="$PGPARENT/pg.pw"
(umask 077; printf '%s' "$PG_PW" > "$PWFILE")
if is_root; then chown "$PG_USER" "$PGDATA_DIR" "$PWFILE"; fi
say "creating a fresh PostgreSQL cluster in $PGDATA_DIR (port $BENCH_PG_PORT)"
pg_as_owner "$BINDIR/initdb" -D "$PGDATA_DIR" -U bench --pwfile="$PWFILE" \
    --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --locale=C.UTF-8 >/dev/null
rm -f "$PWFILE"
pg_as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $BENCH_PG_PORT -c unix_socket_directories='' -c max_connections=400" >/dev/null \
    || { tail -20 "$PGDATA_DIR/server.log" >&2; die "PostgreSQL did not start (log above)"; }
PG_BASE="postgres://bench:$PG_PW@127.0.0.1:$BENCH_PG_PORT"
PGPASSWORD="$PG_PW" psql -h 127.0.0.1 -p "$BENCH_PG_PORT" -U bench -d postgres -qc 'create database coupan_bench' >/dev/null
# The app's two roles (scripts/db-roles.sql): it migrates as the migrator and serves as a
# role that may only read and write rows, as everywhere. The driver (seeding, invariants)
# and pgbench use the superuser.
MIGRATOR_PW="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
APP_PW="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
psql "$PG_BASE/postgres" -q -v ON_ERROR_STOP=1 -v database=coupan_bench \
    -v migrator=coupan_migrator -v migrator_password="$MIGRATOR_PW" \
    -v app=coupan_app -v app_password="$APP_PW" -f "$ROOT/scripts/db-roles.sql" >/dev/null
APP_DB_URL="postgres://coupan_app:$APP_PW@127.0.0.1:$BENCH_PG_PORT/coupan_bench"
MIGRATOR_DB_URL="postgres://coupan_migrator:$MIGRATOR_PW@127.0.0.1:$BENCH_PG_PORT/coupan_bench"
# The stand-in gateway's secret key (the app sends it; the driver reads the ledger with it).
GW_KEY="test_sk_$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"

GW_PID="" APP_PID=""
cleanup() {
    set +e  # the exit status is the benchmark's, whatever the servers answer to SIGTERM
    if [ -z "$KEEP" ]; then
        [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null
        [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null
        if [ -n "$APP_PID" ]; then
            wait "$APP_PID" 2>/dev/null
            APP_STATUS=$?
            # 143 = ended by our SIGTERM; anything else is worth a look.
            [ "$APP_STATUS" = 0 ] || [ "$APP_STATUS" = 143 ] \
                || say "note: the app exited with status $APP_STATUS on SIGTERM (see target/bench/server.log)"
        fi
        stop_pg
    else
        say "left running: app pid $APP_PID (:$APP_PORT), gateway pid $GW_PID (:$GW_PORT), PostgreSQL in $PGDATA_DIR"
    fi
}
trap cleanup EXIT

# --- the payment gateway and the app -----------------------------------------------
for port in "$APP_PORT" "$GW_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is in use"; fi
done
rm -f "$RUN_DIR/paygate-ledger.jsonl"
say "starting the payment gateway on 127.0.0.1:$GW_PORT"
PAYGATE_ADDR="127.0.0.1:$GW_PORT" PAYGATE_LATENCY_MS=0 PAYGATE_FAILURE_RATE=0 \
    PAYGATE_SECRET_KEY="$GW_KEY" PAYGATE_ADMIN_ROUTES=true \
    PAYGATE_LEDGER_FILE="$RUN_DIR/paygate-ledger.jsonl" RUST_LOG=warn \
    "$ROOT/target/release/paygate" >"$RUN_DIR/paygate.log" 2>&1 &
GW_PID=$!

say "starting the app on 127.0.0.1:$APP_PORT (log: target/bench/server.log)"
DATABASE_URL="$APP_DB_URL" COUPAN_MIGRATE_DATABASE_URL="$MIGRATOR_DB_URL" \
    JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    LEPTOS_OUTPUT_NAME=coupan LEPTOS_SITE_ROOT="$SITE_DIR" LEPTOS_SITE_PKG_DIR=pkg \
    LEPTOS_SITE_ADDR="127.0.0.1:$APP_PORT" LEPTOS_ENV=PROD \
    COUPAN_PAYMENT_URL="http://127.0.0.1:$GW_PORT" COUPAN_PAYMENT_ALLOW_HTTP=true \
    COUPAN_PAYMENT_SECRET_KEY="$GW_KEY" COUPAN_METRICS_ADDR=off COUPAN_DEMO_DATA=false \
    COUPAN_LOG_FORMAT=json RUST_LOG=warn \
    COUPAN_RATE_AUTH_PER_MIN=1000000 COUPAN_RATE_PURCHASE_PER_MIN=1000000 \
    "$ROOT/target/release/server" >"$RUN_DIR/server.log" 2>&1 &
APP_PID=$!
for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$APP_PORT/readyz" >/dev/null 2>&1 && break
    kill -0 "$APP_PID" 2>/dev/null || { tail -20 "$RUN_DIR/server.log" >&2; die "the app exited"; }
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$APP_PORT/readyz" >/dev/null || { tail -20 "$RUN_DIR/server.log" >&2; die "the app is not ready"; }
curl -fsS "http://127.0.0.1:$GW_PORT/healthz" >/dev/null || { tail -20 "$RUN_DIR/paygate.log" >&2; die "the gateway is not answering"; }

# --- the scenarios -----------------------------------------------------------------
# The postmaster's pid (first line of postmaster.pid): the CPU budget counts it and all its
# children (backends, background workers).
PG_PID="$(head -1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)"
say "running the scenarios"
set +e
BENCH_ROOT="$ROOT" BENCH_APP_URL="http://127.0.0.1:$APP_PORT" BENCH_GATEWAY_URL="http://127.0.0.1:$GW_PORT" \
    BENCH_GATEWAY_KEY="$GW_KEY" \
    BENCH_DATABASE_URL="$PG_BASE/coupan_bench" BENCH_PG_BASE_URL="$PG_BASE" BENCH_APP_PID="$APP_PID" \
    BENCH_GATEWAY_PID="$GW_PID" BENCH_PG_PID="$PG_PID" BENCH_SITE_DIR="$SITE_DIR" \
    "$ROOT/target/release/bench" "${DRIVER_ARGS[@]}" --out "$OUT" --command "$COMMAND"
STATUS=$?
set -e
if ! kill -0 "$APP_PID" 2>/dev/null; then
    tail -20 "$RUN_DIR/server.log" >&2
    die "the app died during the benchmark"
fi
[ "$STATUS" = 0 ] || die "the benchmark failed (status $STATUS)"
say "done: report in ${OUT#"$ROOT"/}"
