#!/usr/bin/env bash
# Several Coupan replicas on loopback, for the ops tests (ops/tests) and for trying things
# by hand: 2-3 app processes (target/debug/server, built by `cargo leptos build` or by the
# tests of the server crate; site: target/site or COUPAN_REPLICAS_SITE_ROOT) against
# ONE PostgreSQL of their own (not the shared embedded cluster, so restarting it disturbs
# nothing else), the stand-in payment gateway (target/debug/paygate, ledger kept in a
# file so it survives a gateway restart), and Debian's nginx in front (round robin).
#
#   scripts/replicas.sh up [N]        start everything (N replicas, default 3), fresh database
#   scripts/replicas.sh down          stop everything (the cluster's files are kept)
#   scripts/replicas.sh status        what runs where
#   scripts/replicas.sh env           the addresses, as KEY=VALUE lines (also in target/replicas/env)
#   scripts/replicas.sh restart I     take replica I out of nginx's rotation, SIGTERM it, wait for it
#                                     to exit, start it, wait for /readyz, put it back
#   scripts/replicas.sh stop I        SIGTERM replica I and wait for it to exit
#   scripts/replicas.sh kill9 I       SIGKILL replica I (no waiting for anything)
#   scripts/replicas.sh start I       start replica I and wait for /readyz
#   scripts/replicas.sh gateway-stop | gateway-start
#   scripts/replicas.sh pg-restart [S]  stop PostgreSQL (fast), keep it down S seconds (default 0), start it
#   scripts/replicas.sh pg-stop | pg-start
#
# Ports (override with the variables): nginx COUPAN_REPLICAS_PORT (3300), paygate +1,
# replica I on +10+I (3311, 3312, 3313) and its /metrics on +1+I (3302, 3303, 3304);
# PostgreSQL the first free port from
# COUPAN_REPLICAS_PG_PORT (25400) to +9: below the kernel's ephemeral range (32768-60999),
# where any client socket may hold the port just when PostgreSQL (re)starts and binds it
# (seen once: "could not bind ... Address already in use"). Everything lives in
# target/replicas/: pids,
# logs (replica-I.log, paygate.log, nginx/access.log), the nginx config, the ledger file.
# Replicas get high rate limits and 127.0.0.1 as trusted proxy; any COUPAN_* variable
# set by the caller (say COUPAN_BREAKER_OPEN_SECS) is passed on. They connect as the app's
# role and migrate as the migrator (scripts/db-roles.sql); the gateway checks the secret key
# (target/replicas/payment-secret-key) and serves its admin routes (the ledger) for the tests.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RUN="$(cd "$HERE/.." && pwd)/target/replicas"
mkdir -p "$RUN"
# The cluster: its own data dir, its own fallback dir when the checkout is private.
export COUPAN_DATA_DIR="$RUN"
export COUPAN_PG_FALLBACK_DIR="/var/tmp/coupan-replicas-pg-$(printf '%s' "$RUN" | md5sum | cut -c1-10)"
source "$HERE/lib.sh"

BASE_PORT="${COUPAN_REPLICAS_PORT:-3300}"
NGINX_PORT="$BASE_PORT"
GW_PORT=$((BASE_PORT + 1))
PG_FIRST_PORT="${COUPAN_REPLICAS_PG_PORT:-25400}"
DB_NAME=coupan_ops
SERVER_BIN="$ROOT/target/debug/server"
PAYGATE_BIN="$ROOT/target/debug/paygate"
# The site the replicas serve (./scripts/test.sh passes its own release site).
SITE_ROOT="${COUPAN_REPLICAS_SITE_ROOT:-$ROOT/target/site}"
NGX="$RUN/nginx"

replica_port() { echo $((BASE_PORT + 10 + $1)); }
metrics_port() { echo $((BASE_PORT + 1 + $1)); }
count() { cat "$RUN/count" 2>/dev/null || echo 0; }
pid_of() { cat "$RUN/$1.pid" 2>/dev/null || true; }
alive() { local p; p="$(pid_of "$1")"; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
check_index() {
    [[ "${1:-}" =~ ^[1-9]$ ]] && [ "$1" -le "$(count)" ] || die "no replica ${1:-?} (have $(count))"
}

# Waits until $1 answers 2xx, at most $2 seconds; the process named $3 must stay alive.
wait_http() {
    local url="$1" secs="$2" name="${3:-}" i
    for ((i = 0; i < secs * 10; i++)); do
        curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null && return 0
        if [ -n "$name" ] && ! alive "$name"; then
            tail -20 "$RUN/$name.log" >&2 || true
            die "$name exited (log above: target/replicas/$name.log)"
        fi
        sleep 0.1
    done
    die "$url did not answer within $secs s"
}

# Sends $2 to process $1 and waits (up to $3 s) for it to exit; then SIGKILL.
stop_process() {
    local name="$1" sig="$2" secs="$3" pid i
    pid="$(pid_of "$name")"
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill "-$sig" "$pid" 2>/dev/null || true
        for ((i = 0; i < secs * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "$name did not exit within $secs s after SIG$sig; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        fi
    fi
    rm -f "$RUN/$name.pid"
}

# Runs a command detached (own session, no inherited terminal or pipes), logging to
# target/replicas/$1.log, and records its pid.
spawn() {
    local name="$1"
    shift
    setsid "$@" </dev/null >>"$RUN/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
}

load_env() {
    [ -s "$RUN/env" ] || die "not up (run: scripts/replicas.sh up)"
    # shellcheck disable=SC1091
    source "$RUN/env.private"
}

# --- PostgreSQL ------------------------------------------------------------------------

pg_up() {
    local port
    if [ -s "$RUN/pg-port" ] && pg_ctl_own status >/dev/null 2>&1; then
        port="$(cat "$RUN/pg-port")"
    else
        for port in $(seq "$PG_FIRST_PORT" $((PG_FIRST_PORT + 9))); do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
        done
    fi
    export COUPAN_PG_PORT="$port" COUPAN_PG_FSYNC=off
    PG_PORT="$port"
    unset DATABASE_URL
    ensure_embedded_pg "$DB_NAME" yes
    PGPASSWORD="$COUPAN_PG_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U coupan -d postgres -tAc "show data_directory" >"$RUN/pg-dir"
}

pg_ctl_own() {
    local bindir pgdata
    bindir="$(pg_bindir)" || die "PostgreSQL binaries not found"
    pgdata="$(cat "$RUN/pg-dir" 2>/dev/null)" || return 1
    [ -n "$pgdata" ] || return 1
    if is_root; then
        PG_USER=postgres
    fi
    pg_as_owner "$bindir/pg_ctl" -D "$pgdata" "$@"
}

pg_stop() {
    say "stopping PostgreSQL (fast)"
    pg_ctl_own -m fast -w -t 60 stop >/dev/null
}

pg_start() {
    local pgdata port
    pgdata="$(cat "$RUN/pg-dir")"
    port="$(cat "$RUN/pg-port")"
    say "starting PostgreSQL on 127.0.0.1:$port"
    # The options ensure_embedded_pg (lib.sh) starts the cluster with.
    pg_ctl_own -l "$pgdata/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c max_connections=300 -c fsync=off" >/dev/null
}

# --- the gateway -----------------------------------------------------------------------

gateway_start() {
    alive paygate && return 0
    say "starting paygate on 127.0.0.1:$GW_PORT"
    spawn paygate env PAYGATE_ADDR="127.0.0.1:$GW_PORT" PAYGATE_LEDGER_FILE="$RUN/ledger.jsonl" \
        PAYGATE_SECRET_KEY="$COUPAN_PAYMENT_SECRET_KEY" PAYGATE_ADMIN_ROUTES=true \
        RUST_LOG=info "$PAYGATE_BIN"
    wait_http "http://127.0.0.1:$GW_PORT/healthz" 30 paygate
}

gateway_stop() {
    say "stopping paygate"
    stop_process paygate TERM 10
}

# --- replicas --------------------------------------------------------------------------

replica_start() {
    local i="$1" port
    port="$(replica_port "$i")"
    alive "replica-$i" && die "replica $i is already running"
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && die "port $port is in use"
    say "starting replica $i on 127.0.0.1:$port"
    echo "---- start $(date -Is)" >>"$RUN/replica-$i.log"
    spawn "replica-$i" env DATABASE_URL="$APP_DB_URL" COUPAN_MIGRATE_DATABASE_URL="$MIGRATOR_DB_URL" \
        JWT_SECRET="$JWT_SECRET" \
        LEPTOS_OUTPUT_NAME=coupan LEPTOS_SITE_ROOT="$SITE_ROOT" LEPTOS_SITE_PKG_DIR=pkg \
        LEPTOS_SITE_ADDR="127.0.0.1:$port" RUST_LOG="${RUST_LOG:-info}" \
        COUPAN_METRICS_ADDR="127.0.0.1:$(metrics_port "$i")" \
        COUPAN_PAYMENT_URL="http://127.0.0.1:$GW_PORT" COUPAN_PAYMENT_ALLOW_HTTP=true \
        COUPAN_PAYMENT_SECRET_KEY="$COUPAN_PAYMENT_SECRET_KEY" \
        COUPAN_PUBLIC_ORIGIN="${COUPAN_PUBLIC_ORIGIN:-http://127.0.0.1:$NGINX_PORT}" \
        COUPAN_RATE_AUTH_PER_MIN="${COUPAN_RATE_AUTH_PER_MIN:-1000000}" \
        COUPAN_RATE_PURCHASE_PER_MIN="${COUPAN_RATE_PURCHASE_PER_MIN:-1000000}" \
        COUPAN_TRUSTED_PROXIES="${COUPAN_TRUSTED_PROXIES:-127.0.0.1}" \
        COUPAN_DB_MAX_CONNECTIONS="${COUPAN_DB_MAX_CONNECTIONS:-20}" \
        COUPAN_PAYMENT_TIMEOUT_MS="${COUPAN_PAYMENT_TIMEOUT_MS:-2000}" \
        COUPAN_BREAKER_OPEN_SECS="${COUPAN_BREAKER_OPEN_SECS:-2}" \
        COUPAN_SHUTDOWN_TIMEOUT_SECS="${COUPAN_SHUTDOWN_TIMEOUT_SECS:-15}" \
        "$SERVER_BIN"
}

replica_wait_ready() {
    wait_http "http://127.0.0.1:$(replica_port "$1")/readyz" 60 "replica-$1"
}

replica_stop() {
    say "stopping replica $1 (SIGTERM)"
    stop_process "replica-$1" TERM 30
}

# --- nginx -----------------------------------------------------------------------------

nginx_conf() {
    local n="$1" out="${2:-0}" i user="" flag
    # As root the master would run its workers as `nobody`: say so explicitly (Debian's
    # group is nogroup). Workers never write temp files (see the buffer settings below),
    # so they need no access to target/replicas.
    if is_root; then user="user nobody nogroup;"; fi
    mkdir -p "$NGX/tmp"
    {
        cat <<EOF
# Generated by scripts/replicas.sh; do not edit.
$user
worker_processes 1;
pid $RUN/nginx.pid;
lock_file $NGX/nginx.lock;
error_log $NGX/error.log warn;
events { worker_connections 4096; }
http {
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    # Bodies are at most 1 MiB (the app refuses more) and kept in memory; responses are
    # never spooled to disk.
    client_max_body_size 1m;
    client_body_buffer_size 1m;
    proxy_max_temp_file_size 0;

    # The caller's X-Request-Id, or nginx's own random id: the app echoes it, logs it and
    # stores it with the events the request causes.
    map \$http_x_request_id \$coupan_request_id {
        default \$http_x_request_id;
        ""      \$request_id;
    }
    log_format combined_upstream '\$remote_addr [\$time_iso8601] "\$request" \$status '
                                 'upstream=\$upstream_addr upstream_status=\$upstream_status '
                                 'rid=\$coupan_request_id rt=\$request_time';
    access_log $NGX/access.log combined_upstream;

    upstream coupan {
        # Round robin. No keepalive: every request is a new connection, so a replica that
        # stopped listening (draining, killed) is skipped at connect time.
EOF
        for ((i = 1; i <= n; i++)); do
            flag=""
            [ "$i" = "$out" ] && flag=" down"
            echo "        server 127.0.0.1:$(replica_port "$i") max_fails=1 fail_timeout=2s$flag;"
        done
        cat <<EOF
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://coupan;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Request-Id \$coupan_request_id;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
            # Try the next replica when one cannot be reached. nginx never resends a
            # request that was already sent with a non-idempotent method (POST), so a
            # purchase is never placed twice by the proxy. 503 is NOT in the list: the
            # app's 503 is a deliberate answer (load shed, database unreachable) with
            # Retry-After; counting it as a failure would mark every replica down during
            # a database outage and turn those answers into 502 "no live upstreams".
            proxy_next_upstream error timeout http_502;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 10s;
        }
    }
}
EOF
    } >"$NGX/nginx.conf"
}

nginx_start() {
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx
    local bin
    bin="$(command -v nginx || echo /usr/sbin/nginx)"
    mkdir -p "$NGX"
    nginx_conf "$(count)"
    "$bin" -t -q -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf" || die "bad nginx config ($NGX/nginx.conf)"
    say "starting nginx on 127.0.0.1:$NGINX_PORT"
    "$bin" -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf"
    wait_http "http://127.0.0.1:$NGINX_PORT/healthz" 10
}

# Takes replica $1 out of nginx's rotation (0: none) with a graceful reload: old workers
# finish the requests they have in hand, new ones send nothing to that replica.
nginx_rotate() {
    alive nginx || return 0
    nginx_conf "$(count)" "$1"
    kill -HUP "$(pid_of nginx)"
    # The reload is asynchronous; give the new workers a moment to take over.
    sleep 1
}

nginx_stop() {
    stop_process nginx QUIT 10
}

# --- commands --------------------------------------------------------------------------

write_env() {
    local n="$1" i urls="" metrics=""
    for ((i = 1; i <= n; i++)); do
        urls="$urls${urls:+,}http://127.0.0.1:$(replica_port "$i")"
        metrics="$metrics${metrics:+,}http://127.0.0.1:$(metrics_port "$i")"
    done
    {
        echo "COUPAN_OPS_URL=http://127.0.0.1:$NGINX_PORT"
        echo "COUPAN_OPS_REPLICAS=$urls"
        echo "COUPAN_OPS_METRICS=$metrics"
        echo "COUPAN_OPS_GATEWAY_URL=http://127.0.0.1:$GW_PORT"
        echo "COUPAN_OPS_GATEWAY_KEY=$COUPAN_PAYMENT_SECRET_KEY"
        # The superuser's URL: the tests inspect the database (pg_stat_activity too).
        echo "COUPAN_OPS_DATABASE_URL=$DATABASE_URL"
        echo "COUPAN_OPS_DIR=$RUN"
    } >"$RUN/env"
    {
        echo "export DATABASE_URL='$DATABASE_URL'"
        echo "export APP_DB_URL='$APP_DB_URL'"
        echo "export MIGRATOR_DB_URL='$MIGRATOR_DB_URL'"
        echo "export JWT_SECRET='$JWT_SECRET'"
        echo "export COUPAN_PAYMENT_SECRET_KEY='$COUPAN_PAYMENT_SECRET_KEY'"
        echo "export COUPAN_PG_PASSWORD='$COUPAN_PG_PASSWORD'"
        echo "export PG_ADMIN_BASE='$PG_ADMIN_BASE'"
        echo "PG_PORT='$PG_PORT'"
    } >"$RUN/env.private"
    chmod 600 "$RUN/env" "$RUN/env.private"
}

cmd_up() {
    local n="${1:-3}" i
    [[ "$n" =~ ^[1-9]$ ]] || die "up N: N from 1 to 9"
    [ -x "$SERVER_BIN" ] && [ -d "$SITE_ROOT" ] || die "build first: cargo leptos build (no $SERVER_BIN or $SITE_ROOT)"
    [ -x "$PAYGATE_BIN" ] || die "build first: cargo build -p paygate"
    cmd_down quiet
    # A start that fails half way leaves nothing running.
    trap 'if [ -z "${UP_DONE:-}" ]; then cmd_down quiet; fi' EXIT
    rm -f "$RUN"/replica-*.log "$RUN/paygate.log" "$RUN/ledger.jsonl" "$NGX/access.log" "$NGX/error.log"
    pg_up
    pg_recreate_db "$DB_NAME"
    [ -s "$RUN/jwt-secret" ] || (umask 077; head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RUN/jwt-secret")
    JWT_SECRET="$(cat "$RUN/jwt-secret")"
    unset COUPAN_PAYMENT_SECRET_KEY
    ensure_payment_key
    echo "$n" >"$RUN/count"
    write_env "$n"
    gateway_start
    # The first replica applies the migrations; the others start once it is ready.
    replica_start 1
    replica_wait_ready 1
    for ((i = 2; i <= n; i++)); do replica_start "$i"; done
    for ((i = 2; i <= n; i++)); do replica_wait_ready "$i"; done
    nginx_start
    UP_DONE=1
    say "up: $n replicas behind http://127.0.0.1:$NGINX_PORT"
    cat "$RUN/env"
}

cmd_down() {
    local i
    [ "${1:-}" = quiet ] || say "stopping everything"
    nginx_stop
    for i in $(seq 1 9); do
        [ -e "$RUN/replica-$i.pid" ] && stop_process "replica-$i" TERM 30
    done
    stop_process paygate TERM 10
    if [ -s "$RUN/pg-dir" ] && pg_ctl_own status >/dev/null 2>&1; then
        pg_ctl_own -m fast -w -t 60 stop >/dev/null || true
    fi
    rm -f "$RUN/env" "$RUN/env.private"
    echo 0 >"$RUN/count"
}

cmd_status() {
    local i n
    n="$(count)"
    for ((i = 1; i <= n; i++)); do
        local ready
        ready="$(curl -s -m 2 "http://127.0.0.1:$(replica_port "$i")/readyz" 2>/dev/null || echo down)"
        echo "replica $i: port $(replica_port "$i") pid $(pid_of "replica-$i") $(alive "replica-$i" && echo running || echo stopped) $ready"
    done
    for ((i = 1; i <= n; i++)); do
        echo "replica $i metrics: port $(metrics_port "$i")"
    done
    echo "paygate: port $GW_PORT pid $(pid_of paygate) $(alive paygate && echo running || echo stopped)"
    echo "nginx: port $NGINX_PORT pid $(pid_of nginx) $(alive nginx && echo running || echo stopped)"
    echo "postgres: port $(cat "$RUN/pg-port" 2>/dev/null) $(pg_ctl_own status >/dev/null 2>&1 && echo running || echo stopped)"
}

cmd="${1:-}"
shift || true
case "$cmd" in
up) cmd_up "$@" ;;
down) cmd_down ;;
status) cmd_status ;;
env) load_env && cat "$RUN/env" ;;
restart)
    check_index "${1:-}"; load_env
    # Out of nginx's rotation first: the server closes its listener on SIGTERM, and a
    # connection still in the kernel's accept queue then is reset; nginx cannot resend a
    # POST it already sent, so it would answer 502. (A load balancer with health checks
    # or Kubernetes' endpoint removal plays this part in production.)
    nginx_rotate "$1"
    replica_stop "$1"; replica_start "$1"; replica_wait_ready "$1"
    nginx_rotate 0
    ;;
stop) check_index "${1:-}"; replica_stop "$1" ;;
kill9)
    check_index "${1:-}"
    say "killing replica $1 (SIGKILL)"
    stop_process "replica-$1" KILL 10
    ;;
start) check_index "${1:-}"; load_env; replica_start "$1"; replica_wait_ready "$1" ;;
gateway-stop) gateway_stop ;;
gateway-start) load_env; gateway_start ;;
pg-stop) pg_stop ;;
pg-start) pg_start ;;
pg-restart)
    secs="${1:-0}"
    [[ "$secs" =~ ^[0-9]+$ ]] || die "pg-restart [SECONDS]"
    pg_stop
    sleep "$secs"
    pg_start
    ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
