//! The database: the connection pool, the migrations (embedded at build time), and the
//! checks that the app runs with the least privilege.
//!
//! ## Two roles
//! - The **migrator** owns the schema: it runs the migrations (`server migrate`, or at
//!   start with `COUPAN_MIGRATE_DATABASE_URL`) and is used for nothing else.
//! - The app connects (`DATABASE_URL`) as a member of the group role [`RUNTIME_ROLE`],
//!   which the migrations grant only what the app needs (`migrations/*_least_privilege.sql`):
//!   rows of its tables, no DDL, no `TRUNCATE`, only `SELECT` and `INSERT` on `events`.
//!   As it owns nothing it cannot disable a trigger either.
//!
//! [`check_runtime_role`] refuses to start the app as a superuser, as the owner of its
//! tables or of the database, or as a role that can change `events`; [`check_migrated`]
//! refuses a database without this build's migrations.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::config::Config;

/// The migrations in `migrations/`, applied by the migrator; readiness compares them with
/// what the database has applied.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The group role that holds the app's privileges; the app's login role is a member of it.
/// Created by whoever provisions the database (`scripts/db-roles.sql`), or by the migration
/// that grants its privileges when the migrator may create roles (the tests' superuser).
pub const RUNTIME_ROLE: &str = "coupan_runtime";

/// The schemas whose tables the app uses.
const APP_SCHEMAS: &[&str] = &["public", "tower_sessions"];

/// Connections idle longer than this are pinged before they are handed out (one that died
/// while idle, e.g. across a PostgreSQL restart, is replaced instead of failing a request).
/// Busy connections skip the ping: sqlx's default pings on every acquire, an extra round
/// trip per request: without it the my-page API takes 10% less app CPU per request
/// (335 -> 305 µs) and answers 6% more requests/s (wrk, C=64, the benchmark's my page).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// The app's pool settings: size, acquire timeout, pings (connect it with [`connect`] or
/// [`connect_with`], which add the statement timeout).
pub fn pool_options(config: &Config) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(
                async move { Ok(meta.idle_for < PING_IF_IDLE_FOR || conn.ping().await.is_ok()) },
            )
        })
}

/// The pool for `config.database_url`.
pub async fn connect(config: &Config) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = config.database_url.parse()?;
    connect_with(config, options).await
}

/// The pool over `options` (another database or role, as a test's), with the settings of
/// `config`: [`pool_options`], and `statement_timeout` on every connection.
///
/// The timeout bounds each statement of a request, and of the purchase batches and the
/// payment worker, which use the same pool: their statements are short by design (a row
/// lock held by another batch for milliseconds, bulk updates of at most a batch of rows),
/// and a cut one is an `Unavailable` the client may retry, or a batch retried on the
/// worker's next turn. A transaction left open while the worker waits for the gateway
/// is not a statement and is not cut. Migrations run without it, on the migrator's own
/// connection ([`migrate`]).
pub async fn connect_with(
    config: &Config,
    options: PgConnectOptions,
) -> Result<PgPool, sqlx::Error> {
    let timeout_ms = config.statement_timeout.as_millis().to_string();
    let options = options.options([("statement_timeout", timeout_ms.as_str())]);
    pool_options(config).connect_with(options).await
}

/// Applies the migrations as the migrator (`url` is `COUPAN_MIGRATE_DATABASE_URL`), on one
/// connection that is closed afterwards. Replicas starting together are serialised by
/// sqlx's advisory lock.
pub async fn migrate(url: &str) -> Result<(), String> {
    // The URL holds a password: it is never part of a message.
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| format!("cannot reach the database as the migrator: {e}"))?;
    // No statement timeout here (an index built over a large table may take minutes).
    sqlx::query("set statement_timeout = 0")
        .execute(&mut conn)
        .await
        .map_err(|e| format!("cannot apply migrations: {e}"))?;
    MIGRATOR
        .run(&mut conn)
        .await
        .map_err(|e| format!("cannot apply migrations: {e}"))?;
    let _ = conn.close().await;
    Ok(())
}

/// What is wrong with running the app as the pool's role, if anything: a superuser, a
/// role that may create roles or databases or bypass row security, one that owns (or may
/// become the owner of) the database, the app's schemas or its tables (an owner can alter,
/// truncate and drop them and disable their triggers), or one that may change `events`.
pub async fn check_runtime_role(pool: &PgPool) -> Result<(), String> {
    let (user, superuser, bypass_rls, create_role, create_db): (String, bool, bool, bool, bool) =
        sqlx::query_as(
            "select current_user::text, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb
             from pg_roles where rolname = current_user",
        )
        .fetch_one(pool)
        .await
        .map_err(|e| format!("cannot read the database role: {e}"))?;
    let (owns_database, owned_schemas, owned_tables): (bool, Vec<String>, Vec<String>) =
        sqlx::query_as(
            "select
               pg_has_role(current_user, (select datdba from pg_database
                                          where datname = current_database()), 'MEMBER'),
               array(select nspname::text from pg_namespace
                     where nspname = any($1) and pg_has_role(current_user, nspowner, 'MEMBER')
                     order by 1),
               array(select format('%I.%I', n.nspname, c.relname)
                     from pg_class c join pg_namespace n on n.oid = c.relnamespace
                     where n.nspname = any($1) and c.relkind in ('r', 'p', 'S', 'v', 'm')
                       and pg_has_role(current_user, c.relowner, 'MEMBER')
                     order by 1 limit 5)",
        )
        .bind(APP_SCHEMAS)
        .fetch_one(pool)
        .await
        .map_err(|e| format!("cannot read what the database role owns: {e}"))?;
    let mut problems = Vec::new();
    if superuser {
        problems.push("is a superuser".to_string());
    }
    if bypass_rls {
        problems.push("bypasses row-level security".into());
    }
    if create_role {
        problems.push("may create roles".into());
    }
    if create_db {
        problems.push("may create databases".into());
    }
    if owns_database && !superuser {
        problems.push("owns the database".into());
    }
    if !owned_schemas.is_empty() && !superuser {
        problems.push(format!("owns the schemas {}", owned_schemas.join(", ")));
    }
    if !owned_tables.is_empty() && !superuser {
        problems.push(format!(
            "owns tables of the app ({}...): it could alter or truncate them and disable their triggers",
            owned_tables.join(", ")
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "DATABASE_URL connects as {user:?}, which {}. The app runs as a role with only the \
         app's privileges (a member of {RUNTIME_ROLE}); the migrations run as the owner of the \
         schema (COUPAN_MIGRATE_DATABASE_URL). See the README, \"Database roles\".",
        problems.join(", ")
    ))
}

/// The latest migration version the database has applied (`None`: none, or no table).
pub async fn applied_version(pool: &PgPool) -> Result<Option<i64>, sqlx::Error> {
    let exists: bool = sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(None);
    }
    sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
        .fetch_one(pool)
        .await
}

/// The database has every migration of this build, and the app's role cannot change
/// `events` (the append-only log): both checked before the app serves.
pub async fn check_migrated(pool: &PgPool) -> Result<(), String> {
    let applied = applied_version(pool)
        .await
        .map_err(|e| format!("cannot read the applied migrations: {e}"))?;
    let latest = MIGRATOR.iter().map(|m| m.version).max();
    if applied < latest {
        return Err(format!(
            "the database is not migrated (applied: {}, this build: {}). Run `server migrate` \
             with COUPAN_MIGRATE_DATABASE_URL (the owner of the schema), or set \
             COUPAN_MIGRATE_DATABASE_URL for the app to migrate at start.",
            applied.map_or("none".into(), |v| v.to_string()),
            latest.map_or("none".into(), |v| v.to_string()),
        ));
    }
    let may_change_events: bool = sqlx::query_scalar(
        "select has_table_privilege('events', 'UPDATE')
             or has_table_privilege('events', 'DELETE')
             or has_table_privilege('events', 'TRUNCATE')",
    )
    .fetch_one(pool)
    .await
    .map_err(|e| format!("cannot read the privileges on events: {e}"))?;
    if may_change_events {
        return Err(
            "DATABASE_URL's role may update, delete or truncate events (the append-only log): \
             the app's role must have only the privileges of the migrations"
                .into(),
        );
    }
    Ok(())
}
