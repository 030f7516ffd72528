# shellcheck shell=bash
# Shared setup for ./scripts/run.sh and ./scripts/test.sh: installs what is missing,
# quickly skipping what is already there, and starts the embedded PostgreSQL.
# Sourced, not executed. Every step prints one line.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${COUPAN_DATA_DIR:-$ROOT/.data}"
CARGO_LEPTOS_VERSION="0.3.11"
BINARYEN_VERSION="123.0.0"
PG_PORT="${COUPAN_PG_PORT:-54329}"

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# Compile-checked queries use the committed .sqlx data, never a live database.
export SQLX_OFFLINE=true

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31merror: %s\033[0m\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

# --- time per step --------------------------------------------------------------------
# `timed NAME CMD...` runs CMD (a command or a function of this shell, so its exports
# stay), printing "==> NAME" before and "    NAME: N s" after; `print_times` lists every
# step with its time (a step inside another indented under it), a step cut short by a
# failure, and the total since the script started.
SCRIPT_T0=$SECONDS
TIMES=()
STEP_NAMES=()
STEP_T0S=()
timed() {
    local name="$1" depth=${#STEP_NAMES[@]}
    shift
    say "$name"
    STEP_NAMES+=("$name")
    STEP_T0S+=("$SECONDS")
    local at=${#TIMES[@]}
    TIMES+=("")
    # A failure ends the script here (set -e), and print_times names the unfinished step;
    # called where errexit is off (`cmd || timed ...`), the status is passed on.
    "$@"
    local rc=$? d=$((SECONDS - STEP_T0S[depth]))
    unset 'STEP_NAMES[depth]' 'STEP_T0S[depth]'
    TIMES[at]="$(printf '%6d s  %*s%s' "$d" $((depth * 2)) "" "$name")"
    printf '    %s: %d s\n' "$name" "$d" >&2
    return $rc
}
print_times() {
    local i line
    say "time per step"
    for line in "${TIMES[@]}"; do [ -z "$line" ] || printf '%s\n' "$line" >&2; done
    for i in "${!STEP_NAMES[@]}"; do
        printf '%6d s  %*s%s (did not finish)\n' $((SECONDS - STEP_T0S[i])) $((i * 2)) "" "${STEP_NAMES[i]}" >&2
    done
    printf '%6d s  total\n' $((SECONDS - SCRIPT_T0)) >&2
}

APT_UPDATED=""
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found; install these packages yourself: $*"
    local sudo=""
    if ! is_root; then
        command -v sudo >/dev/null || die "need root to install: $* (or install them yourself)"
        sudo="sudo"
    fi
    if [ -z "$APT_UPDATED" ]; then
        timed "apt-get update" $sudo apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    timed "installing $* (apt)" env DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_rust() {
    if ! command -v rustup >/dev/null; then
        command -v curl >/dev/null || apt_install curl ca-certificates
        timed "installing rustup" install_rustup
        export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    fi
    # RUSTUP_AUTO_INSTALL may be 0: install the pinned toolchain explicitly (quick when it
    # is there; it also adds a missing component or target).
    local channel
    channel="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$ROOT/rust-toolchain.toml")"
    if rustup toolchain list 2>/dev/null | grep -q "^$channel-"; then
        install_toolchain
    else
        timed "installing Rust $channel (rustup)" install_toolchain
    fi
}
install_rustup() { curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none >/dev/null; }
install_toolchain() {
    (cd "$ROOT" && rustup toolchain install >/dev/null 2>&1) || (cd "$ROOT" && rustup toolchain install)
}
# Runs a command in the checkout (cargo install then uses the pinned toolchain).
in_root() { (cd "$ROOT" && "$@"); }

# Builds a command-line tool with LTO off and many codegen units: both cores stay busy
# and the link is short; the tools' speed at run time does not matter here.
fast_tool_build() {
    env CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true "$@"
}

ensure_cargo_leptos() {
    if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
        # The tool's own release profile asks for fat LTO and one codegen unit: its last
        # crate then compiles on one core for ~9 minutes. A build tool does not need that.
        timed "installing cargo-leptos $CARGO_LEPTOS_VERSION (several minutes the first time)" \
            in_root fast_tool_build cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
    fi
}

ensure_wasm_bindgen() {
    local want
    want="$(grep -A1 '^name = "wasm-bindgen"$' "$ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')"
    [ -n "$want" ] || die "wasm-bindgen not found in Cargo.lock"
    if ! wasm-bindgen --version 2>/dev/null | grep -q " $want\$"; then
        # --locked fails for this version (its lockfile names a yanked crate).
        timed "installing wasm-bindgen-cli $want (several minutes the first time)" \
            in_root fast_tool_build cargo install wasm-bindgen-cli --version "$want" --force
    fi
}

ensure_node() {
    command -v npm >/dev/null || apt_install nodejs npm
}

ensure_wasm_opt() {
    if ! wasm-opt --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
        ensure_node
        timed "installing wasm-opt (npm binaryen@$BINARYEN_VERSION)" \
            npm install -g --silent "binaryen@$BINARYEN_VERSION" >/dev/null
    fi
}

ensure_toolchain() {
    ensure_rust
    ensure_cargo_leptos
    ensure_wasm_bindgen
}

# --- the release build ----------------------------------------------------------------
# run.sh, test.sh and bench.sh build and serve the app the same way: `cargo leptos build
# --release` (its flags come from .cargo/config.toml alone) and target/release/server with
# LEPTOS_ENV=PROD. Each command has a site folder of its own, so none rewrites the files
# another one is serving (a running app would answer 404 for its wasm, or serve a wasm
# of other code):
RUN_SITE="$ROOT/target/run/site"   # ./scripts/run.sh
TEST_SITE="$ROOT/target/test/site" # ./scripts/test.sh (the browser tests)
# ./scripts/bench.sh: target/bench/site. target/site (cargo-leptos's default) is left to
# `cargo leptos build|watch` by hand, scripts/replicas.sh and the Dockerfile.

# Builds the release server and the release site into folder $1.
build_release_site() {
    LEPTOS_SITE_ROOT="$1" cargo leptos build --release
}

# The variables target/release/server needs to serve the site in folder $1 as run.sh
# does (the Dockerfile sets the same ones).
export_site_env() {
    export LEPTOS_OUTPUT_NAME=coupan LEPTOS_SITE_ROOT="$1" LEPTOS_SITE_PKG_DIR=pkg LEPTOS_ENV=PROD
}

if [ -n "${RUSTFLAGS:-}${CARGO_ENCODED_RUSTFLAGS:-}${CARGO_BUILD_RUSTFLAGS:-}" ]; then
    say "note: RUSTFLAGS is set: it replaces the flags of .cargo/config.toml (--cfg erase_components) in every build"
fi

# --- embedded PostgreSQL -------------------------------------------------------------

pg_bindir() {
    local d
    for d in "${COUPAN_PG_BINDIR:-}" $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -n "$d" ] && [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

# Runs a PostgreSQL server binary as the unprivileged owner of the cluster
# (PostgreSQL refuses to run as root).
PG_USER=""
pg_as_owner() {
    if is_root; then (cd / && runuser -u "$PG_USER" -- "$@"); else "$@"; fi
}

# Starts (creating on first use) the private cluster in $DATA_DIR/pg and exports
# DATABASE_URL for database $1. Never touches a cluster it did not create.
ensure_embedded_pg() {
    local db="$1" install_if_missing="${2:-yes}"
    local bindir
    if ! bindir="$(pg_bindir)"; then
        if [ "$install_if_missing" = yes ] && command -v apt-get >/dev/null && { is_root || command -v sudo >/dev/null; }; then
            apt_install postgresql postgresql-contrib
            bindir="$(pg_bindir)" || die "PostgreSQL was installed but initdb is not found"
        else
            die "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL to a PostgreSQL database you own."
        fi
    fi
    local pgparent="$DATA_DIR"
    mkdir -p "$DATA_DIR"
    if is_root; then
        PG_USER=postgres
        id -u "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
        # The server runs as $PG_USER: it must be able to reach the data directory.
        chmod o+x "$DATA_DIR"
        if ! runuser -u "$PG_USER" -- test -x "$DATA_DIR"; then
            # A parent folder is private (e.g. the checkout is under /root): keep the
            # cluster in a folder of its own, named after this checkout.
            # COUPAN_PG_FALLBACK_DIR: a cluster of another data dir (scripts/replicas.sh).
            pgparent="${COUPAN_PG_FALLBACK_DIR:-/var/tmp/coupan-pg-$(printf '%s' "$ROOT" | md5sum | cut -c1-10)}"
            mkdir -p "$pgparent" && chmod 755 "$pgparent"
            say "user $PG_USER cannot reach $DATA_DIR; the embedded cluster lives in $pgparent"
        fi
    fi
    local pgdata="$pgparent/pg"
    local pwfile="$DATA_DIR/pg-password"
    if [ -s "$pgdata/PG_VERSION" ] && [ ! -s "$pwfile" ]; then
        # A cluster whose password is lost (its .data was deleted): start afresh.
        pg_as_owner "$bindir/pg_ctl" -D "$pgdata" -m fast stop >/dev/null 2>&1 || true
        rm -rf "$pgdata"
    fi
    if [ ! -s "$pgdata/PG_VERSION" ]; then
        say "creating the embedded PostgreSQL cluster in $pgdata"
        rm -rf "$pgdata"
        mkdir -p "$pgdata"
        [ -s "$pwfile" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$pwfile")
        local tmp_pw="$pgparent/pg.pw"
        cp "$pwfile" "$tmp_pw"
        if is_root; then chown "$PG_USER" "$pgdata" "$tmp_pw"; fi
        pg_as_owner "$bindir/initdb" -D "$pgdata" -U coupan --pwfile="$tmp_pw" \
            --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --locale=C.UTF-8 >/dev/null
        rm -f "$tmp_pw"
    fi
    local pw
    pw="$(cat "$pwfile")"
    # The port this cluster used last time, unless one is asked for.
    local portfile="$DATA_DIR/pg-port"
    if [ -z "${COUPAN_PG_PORT:-}" ] && [ -s "$portfile" ]; then PG_PORT="$(cat "$portfile")"; fi
    if ! pg_as_owner "$bindir/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
        local attempt
        for attempt in 1 2 3 4 5; do
            # Another server on the port (say, another checkout's cluster): take the next free one.
            while (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; do
                [ -z "${COUPAN_PG_PORT:-}" ] || die "port $PG_PORT (COUPAN_PG_PORT) is in use"
                PG_PORT=$((PG_PORT + 1))
            done
            echo "$PG_PORT" > "$portfile"
            say "starting the embedded PostgreSQL on 127.0.0.1:$PG_PORT"
            local log_lines
            log_lines=$( { wc -l < "$pgdata/server.log"; } 2>/dev/null || echo 0)
            pg_as_owner "$bindir/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 start \
                -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories='' -c max_connections=300 -c fsync=${COUPAN_PG_FSYNC:-on}" >/dev/null \
                && break
            # The port is in the kernel's range for outgoing connections: a client socket
            # (say, a test's connection to another cluster) can hold it without listening,
            # which the probe above does not see. Then the next port is tried.
            if [ -z "${COUPAN_PG_PORT:-}" ] && [ "$attempt" -lt 5 ] \
                && tail -n +"$((log_lines + 1))" "$pgdata/server.log" | grep -q "could not bind"; then
                say "port $PG_PORT is taken; trying the next one"
                PG_PORT=$((PG_PORT + 1))
                continue
            fi
            tail -20 "$pgdata/server.log" >&2
            die "the embedded PostgreSQL did not start (log above)"
        done
    fi
    local admin="postgres://coupan:$pw@127.0.0.1:$PG_PORT"
    # The superuser: the scripts create databases and roles with it, and the Rust tests
    # (`#[sqlx::test]` makes a database per test) use it; the app never does.
    export PG_ADMIN_BASE="$admin"
    if ! psql "$admin/postgres" -tAc "select 1 from pg_database where datname='$db'" | grep -q 1; then
        psql "$admin/postgres" -qc "create database \"$db\"" >/dev/null
    fi
    pg_roles "$db"
    export DATABASE_URL="$admin/$db"
    export COUPAN_PG_ADMIN_URL="$admin/postgres"
    export COUPAN_PG_PASSWORD="$pw"
}

# A fresh, empty database $1 (as the superuser of $PG_ADMIN_BASE), with the app's roles.
pg_recreate_db() {
    local db="$1"
    psql "$PG_ADMIN_BASE/postgres" -qc "drop database if exists \"$db\" with (force)" >/dev/null
    psql "$PG_ADMIN_BASE/postgres" -qc "create database \"$db\"" >/dev/null
    pg_roles "$db"
}

# The two roles of database $1 (scripts/db-roles.sql, as the superuser of $PG_ADMIN_BASE):
# the migrator, which owns the database and runs the migrations, and the app's role, which
# may only read and write rows. Their passwords are generated once into $DATA_DIR. Sets
# APP_DB_URL (for DATABASE_URL) and MIGRATOR_DB_URL (for COUPAN_MIGRATE_DATABASE_URL).
pg_roles() {
    local db="$1" f role
    local -A pw
    mkdir -p "$DATA_DIR"
    for role in migrator app; do
        f="$DATA_DIR/pg-$role-password"
        [ -s "$f" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$f")
        pw[$role]="$(cat "$f")"
    done
    psql "$PG_ADMIN_BASE/postgres" -q -v ON_ERROR_STOP=1 -v database="$db" \
        -v migrator=coupan_migrator -v migrator_password="${pw[migrator]}" \
        -v app=coupan_app -v app_password="${pw[app]}" \
        -f "$ROOT/scripts/db-roles.sql" >/dev/null \
        || die "cannot set up the database roles of $db (scripts/db-roles.sql)"
    local hostport="${PG_ADMIN_BASE#*@}"
    APP_DB_URL="postgres://coupan_app:${pw[app]}@$hostport/$db"
    MIGRATOR_DB_URL="postgres://coupan_migrator:${pw[migrator]}@$hostport/$db"
}

# The secret key the app sends to the stand-in payment gateway, which checks it (both
# read it from here: PAYGATE_SECRET_KEY and COUPAN_PAYMENT_SECRET_KEY). Generated once.
ensure_payment_key() {
    if [ -z "${COUPAN_PAYMENT_SECRET_KEY:-}" ]; then
        local f="$DATA_DIR/payment-secret-key"
        mkdir -p "$DATA_DIR"
        [ -s "$f" ] || (umask 077; printf 'test_sk_%s' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$f")
        COUPAN_PAYMENT_SECRET_KEY="$(cat "$f")"
        export COUPAN_PAYMENT_SECRET_KEY
    fi
}

# A random JWT secret, generated once and kept with the embedded data.
ensure_jwt_secret() {
    if [ -z "${JWT_SECRET:-}" ]; then
        local f="$DATA_DIR/jwt-secret"
        mkdir -p "$DATA_DIR"
        [ -s "$f" ] || (umask 077; head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$f")
        JWT_SECRET="$(cat "$f")"
        export JWT_SECRET
    fi
}
