//! What every request handler and server function can reach (server only).

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::*;
use sqlx::PgPool;

use crate::auth::tokens::JwtKeys;
use crate::error::AppError;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    pub jwt: Arc<JwtKeys>,
    /// The users' current password versions (`auth::versions`): sessions and tokens of
    /// an older password are refused.
    pub versions: Arc<crate::auth::versions::PasswordVersions>,
    /// The purchase queues (one per coupon) and the load-shedding limit.
    pub admission: Arc<crate::orders::admission::Admission>,
    /// Rate limits per client IP and per customer (`limits.rs`).
    pub limits: Arc<crate::limits::Limits>,
    /// Mark cookies `Secure` (behind HTTPS; `COUPAN_SECURE_COOKIES`): the session's and
    /// the short-lived ones of `flash` and `refill`.
    pub secure_cookies: bool,
    /// How long units that came back are held for the waitlist.
    pub waitlist: crate::waitlist::settings::WaitlistSettings,
    /// Where coupon pictures are kept (`images::store`).
    pub images: crate::images::store::ImageStore,
    /// The process's LISTEN connection and its fan-out to the live streams.
    pub live: Arc<crate::live::Hub>,
}

/// The state inside a server function (provided by the server's router).
pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| missing_context("AppState"))
}

/// The error for a context item a server function cannot find, logged by what it means.
///
/// While the request's `Parts` are there, a missing item is a wiring bug: logged as an
/// error. When the whole context is gone, the client went away while the page was being
/// rendered: leptos disposed the page's reactive owner, and a resource's server function
/// that was still awaiting (say, the session load) finds nothing when it resumes. Nobody
/// reads that answer, so it is only a debug line.
pub fn missing_context(what: &'static str) -> AppError {
    if use_context::<axum::http::request::Parts>().is_some() {
        tracing::error!(what, "missing from the server function context");
    } else {
        tracing::debug!(what, "request ended before its server function finished");
    }
    AppError::Internal
}
