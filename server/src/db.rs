//! The database: the connection pool and the migrations (embedded at build time).

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::Config;

/// The migrations in `migrations/`, applied at start; readiness compares them with what
/// the database has applied.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Connections idle longer than this are pinged before they are handed out (one that died
/// while idle, e.g. across a PostgreSQL restart, is replaced instead of failing a request).
/// Busy connections skip the ping: sqlx's default pings on every acquire, an extra round
/// trip per request: without it the my-page API takes 10% less app CPU per request
/// (335 -> 305 µs) and answers 6% more requests/s (wrk, C=64, the benchmark's my page).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// The pool for `config.database_url`.
pub async fn connect(config: &Config) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = config.database_url.parse()?;
    connect_with(config, options).await
}

/// The pool over `options` (another database, as a test's), with the settings of
/// `config`: size, acquire timeout, pings, and `statement_timeout` on every connection.
///
/// The timeout bounds each statement of a request, and of the purchase batches and the
/// payment worker, which use the same pool: their statements are short by design (a row
/// lock held by another batch for milliseconds, bulk updates of at most a batch of rows),
/// and a cut one is an `Unavailable` the client may retry, or a batch retried on the
/// worker's next turn. A transaction left open while the worker waits for the gateway
/// is not a statement and is not cut. Migrations run without it (`run_migrations`).
pub async fn connect_with(
    config: &Config,
    options: PgConnectOptions,
) -> Result<PgPool, sqlx::Error> {
    let timeout_ms = config.statement_timeout.as_millis().to_string();
    let options = options.options([("statement_timeout", timeout_ms.as_str())]);
    PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                use sqlx::Connection;
                Ok(meta.idle_for < PING_IF_IDLE_FOR || conn.ping().await.is_ok())
            })
        })
        .connect_with(options)
        .await
}

/// Applies the migrations on a connection of their own without a statement timeout (an
/// index built over a large table may take minutes), closed afterwards so that it never
/// serves a request; then opens one ordinary connection of the pool.
pub async fn run_migrations(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    use sqlx::Connection;
    let mut conn = pool.acquire().await?.detach();
    sqlx::query("set statement_timeout = 0")
        .execute(&mut conn)
        .await?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    // One connection of the pool's own kind, left idle: a bad connection setting shows at
    // start, not at the first request.
    drop(pool.acquire().await?);
    Ok(())
}
