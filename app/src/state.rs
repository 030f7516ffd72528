//! What every request handler and server function can reach (server only).

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::*;
use sqlx::PgPool;

use crate::auth::server::JwtKeys;
use crate::error::AppError;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    pub jwt: Arc<JwtKeys>,
    /// The purchase queues (one per coupon) and the load-shedding limit.
    pub admission: Arc<crate::orders::admission::Admission>,
    /// Rate limits per client IP and per customer (`limits.rs`).
    pub limits: Arc<crate::limits::Limits>,
}

/// The state inside a server function (provided by the server's router).
pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the server function context");
        AppError::Internal
    })
}
