//! The composition root: [`Application::build`] turns a [`Config`] into a running
//! process's parts (the migrations as the migrator when configured, the app's pool and the
//! checks of its role, demo data, the session cleanup, the payment workers, readiness, the
//! router and a bound listener, the metrics listener), and
//! [`Application::run_until_stopped`] serves until a stop signal and shuts down within
//! the configured time. `main` runs exactly this; the API tests spawn the same thing on
//! port 0 against their own database (with `payment_workers: 0` when a test drives the
//! worker by hand).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use app::auth::tokens::JwtKeys;
use app::state::AppState;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_sessions::ExpiredDeletion;
use tower_sessions_sqlx_store::PostgresStore;

use crate::config::Config;
use crate::health::Readiness;
use crate::metrics::Metrics;
use crate::shutdown::{Report, Workers};

/// A built application: listening (not yet accepting), its workers running.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    router: axum::Router,
    /// `/metrics` on its own listener (`COUPAN_METRICS_ADDR`), unless off.
    metrics: Option<(TcpListener, SocketAddr, axum::Router)>,
    readiness: Arc<Readiness>,
    workers: Workers,
    shutdown_timeout: Duration,
}

impl Application {
    /// Applies the migrations as the migrator when `config.migrate_database_url` is set,
    /// connects to `config.database_url`, then as [`Application::build_with_pool`].
    pub async fn build(config: Config, metrics: Metrics) -> Result<Application, String> {
        if let Some(url) = &config.migrate_database_url {
            crate::db::migrate(url).await?;
            tracing::info!("migrations applied as the migrator");
        }
        let pool = crate::db::connect(&config)
            .await
            .map_err(|e| format!("cannot reach the database: {e}"))?;
        Application::build_with_pool(config, metrics, pool).await
    }

    /// Everything `main` starts, over `pool` (the app's role): refuses a role with more
    /// than the app's privileges or a database without this build's migrations, loads the
    /// demo data when configured, binds `config.site_addr` (port 0: any free port, see
    /// [`Application::address`]) and `config.metrics_addr`, starts the session cleanup and
    /// `config.payment_workers` payment worker loops (none when 0), and builds the router
    /// with its readiness.
    pub async fn build_with_pool(
        config: Config,
        metrics: Metrics,
        pool: PgPool,
    ) -> Result<Application, String> {
        crate::db::check_runtime_role(&pool).await?;
        crate::db::check_migrated(&pool).await?;
        if config.demo_data
            && app::demo::seed_if_empty(&pool, &config.images)
                .await
                .map_err(|e| format!("demo data: {e}"))?
        {
            tracing::info!("loaded the demo shops, coupons and customer (see README)");
        }
        let listener = TcpListener::bind(config.site_addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.site_addr))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listening address: {e}"))?;
        let metrics = match config.metrics_addr {
            None => None,
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|e| format!("cannot listen on {addr} (COUPAN_METRICS_ADDR): {e}"))?;
                let bound = listener
                    .local_addr()
                    .map_err(|e| format!("cannot read the metrics address: {e}"))?;
                let router = crate::metrics::router(pool.clone(), metrics);
                Some((listener, bound, router))
            }
        };

        tracing::info!(store = %config.images.describe(), "coupon pictures are kept here");
        spawn_session_cleanup(pool.clone());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (tasks, heartbeat) = if config.payment_workers > 0 {
            let worker = payment_worker(pool.clone(), &config)?;
            let heartbeat = worker.heartbeat();
            (worker.spawn(stopped), Some(heartbeat))
        } else {
            (Vec::new(), None)
        };
        let readiness = Readiness::new(pool.clone(), heartbeat);
        let state = app_state(pool, &config, &readiness);
        let origins = config.allowed_origins(address);
        let router = crate::router::router(state, &config, origins, readiness.clone());
        Ok(Application {
            listener,
            address,
            router,
            metrics,
            readiness,
            workers: Workers { stop, tasks },
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    /// The HTTP application it serves (`server/tests/api/openapi.rs` reads its routes).
    pub fn router(&self) -> &axum::Router {
        &self.router
    }

    /// Where the application listens (the actual port when the configured one was 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Where `/metrics` is served (the actual port when the configured one was 0).
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr, _)| *addr)
    }

    /// Serves until `signal`, then drains (readiness 503, requests in flight, payment
    /// workers) within `COUPAN_SHUTDOWN_TIMEOUT_SECS` (see `shutdown.rs`); the report
    /// says what had to be cut short.
    pub async fn run_until_stopped(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Report, String> {
        let readiness = self.readiness;
        // Scrapes go on while the app drains; the listener closes when the app is done.
        let metrics = self.metrics.map(|(listener, addr, router)| {
            tracing::info!(%addr, "serving /metrics");
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "the metrics listener failed");
                }
            })
        });
        let report = crate::shutdown::serve(
            self.listener,
            self.router,
            signal,
            move || readiness.start_draining(),
            self.workers,
            self.shutdown_timeout,
        )
        .await;
        if let Some(task) = metrics {
            task.abort();
        }
        report
    }
}

/// What every handler and server function reaches, from the configuration. The live
/// streams end when `readiness` starts draining, so they do not hold the shutdown.
pub(crate) fn app_state(pool: PgPool, config: &Config, readiness: &Readiness) -> AppState {
    AppState {
        live: app::live::Hub::new(pool.clone(), readiness.draining()),
        leptos_options: crate::router::leptos_options(config),
        pool: pool.clone(),
        jwt: Arc::new(JwtKeys::new(config.jwt_secret.as_bytes())),
        versions: Arc::default(),
        admission: app::orders::admission::Admission::new(pool, config.admission),
        limits: Arc::new(app::limits::Limits::new(&config.limits)),
        secure_cookies: config.secure_cookies,
        waitlist: config.waitlist,
        images: config.images.clone(),
    }
}

/// The payment worker as configured.
pub fn payment_worker(pool: PgPool, config: &Config) -> Result<crate::payment::Worker, String> {
    use crate::payment::{Breaker, Gateway, Worker, worker::WorkerSettings};
    let settings = WorkerSettings {
        tasks: config.payment_workers,
        batch_max: config.payment_batch_max,
        payment_deadline: config.payment_deadline,
        waitlist: config.waitlist,
        ..WorkerSettings::default()
    };
    Ok(Worker::new(
        pool,
        Gateway::new(&config.gateway_settings())?,
        Arc::new(Breaker::new(config.breaker_failures, config.breaker_open)),
        settings,
    ))
}

/// Deletes expired browser sessions every few minutes. A failed round (the database away,
/// a statement cut by the timeout) is logged and tried again later: the store's own loop
/// would stop for good.
pub fn spawn_session_cleanup(pool: PgPool) {
    const EVERY: Duration = Duration::from_secs(300);
    tokio::spawn(async move {
        let store = PostgresStore::new(pool);
        loop {
            if let Err(e) = store.clone().continuously_delete_expired(EVERY).await {
                tracing::warn!(error = %e, "session cleanup failed; trying again later");
            }
            tokio::time::sleep(EVERY).await;
        }
    });
}
