//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database is
//! reachable, every migration is applied, the payment worker is alive, and the process is
//! not shutting down). A load balancer stops sending traffic on 503.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sqlx::PgPool;

use crate::db::MIGRATOR;

pub struct Readiness {
    pool: PgPool,
    draining: AtomicBool,
    /// The same, for those who wait for it (the live streams end when it turns true).
    drain_signal: tokio::sync::watch::Sender<bool>,
    /// Unix seconds of the payment worker's last loop; `None` when this process runs none.
    worker_heartbeat: Option<Arc<AtomicI64>>,
}

/// A worker that has not looped for this long is considered stuck.
const WORKER_STALE_SECS: i64 = 60;

impl Readiness {
    pub fn new(pool: PgPool, worker_heartbeat: Option<Arc<AtomicI64>>) -> Arc<Readiness> {
        Arc::new(Readiness {
            pool,
            draining: AtomicBool::new(false),
            drain_signal: tokio::sync::watch::Sender::new(false),
            worker_heartbeat,
        })
    }

    /// From now on `/readyz` answers 503 (first step of a graceful shutdown).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.drain_signal.send_replace(true);
    }

    /// Turns true when the shutdown starts.
    pub fn draining(&self) -> tokio::sync::watch::Receiver<bool> {
        self.drain_signal.subscribe()
    }

    pub async fn check(&self) -> Result<(), &'static str> {
        if self.draining.load(Ordering::SeqCst) {
            return Err("shutting down");
        }
        let applied = tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query_scalar::<_, Option<i64>>(
                "select max(version) from _sqlx_migrations where success",
            )
            .fetch_one(&self.pool),
        )
        .await
        .map_err(|_| "database timeout")?
        .map_err(|_| "database unreachable")?;
        let latest = MIGRATOR.iter().map(|m| m.version).max();
        if applied < latest {
            return Err("migrations not applied");
        }
        if let Some(hb) = &self.worker_heartbeat {
            let age = chrono::Utc::now().timestamp() - hb.load(Ordering::Relaxed);
            if age > WORKER_STALE_SECS {
                return Err("payment worker not running");
            }
        }
        Ok(())
    }
}

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(Extension(r): Extension<Arc<Readiness>>) -> Response {
    match r.check().await {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready" })),
        )
            .into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "unavailable", "reason": reason })),
        )
            .into_response(),
    }
}
