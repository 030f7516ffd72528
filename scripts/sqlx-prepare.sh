#!/usr/bin/env bash
# Regenerates .sqlx/ (the offline data of the compile-checked queries) from a scratch
# database with every migration applied. Run it after changing a query or a migration,
# and commit .sqlx/. Needs only the embedded PostgreSQL (no sqlx-cli).
source "$(dirname "$0")/lib.sh"
ensure_rust
ensure_embedded_pg coupan_sqlx
pg_recreate_db coupan_sqlx
for f in "$ROOT"/migrations/*.sql; do
    PGPASSWORD="$COUPAN_PG_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U coupan -d coupan_sqlx -q -v ON_ERROR_STOP=1 -f "$f" >/dev/null
done
rm -rf "$ROOT/.sqlx" && mkdir -p "$ROOT/.sqlx"
# Touch the crates with queries so their macros run again and write their data.
find "$ROOT/app/src" "$ROOT/server/src" "$ROOT/server/tests" -name '*.rs' -exec touch {} + 2>/dev/null || true
cd "$ROOT"
SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$ROOT/.sqlx" cargo check -q -p server --all-targets
say "wrote $(ls "$ROOT/.sqlx" | wc -l) query files to .sqlx/"
