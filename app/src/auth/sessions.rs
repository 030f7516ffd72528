//! Browser sessions (tower-sessions, stored in PostgreSQL): who is signed in, starting and
//! ending a session, and renewing it while it is used.

use chrono::Utc;
use tower_sessions::Session;

use super::guards::Principal;
use crate::error::AppError;
use crate::request_span::record_user;

const SESSION_KEY: &str = "principal";
/// When the signed-in session's expiry was last moved (unix seconds).
const RENEWED_KEY: &str = "renewed_at";

/// A browser session ends after this long without a visit (the server's session layer
/// uses it as `Expiry::OnInactivity`).
pub const SESSION_IDLE_DAYS: i64 = 7;
/// tower-sessions moves a session's stored expiry (and re-sends the cookie) only when it
/// saves the session, which it does only when the session changed. A signed-in visit
/// therefore renews the session once this long has passed since the last renewal: one
/// write per user per day rather than per request, so the session ends between six and
/// seven days after the last visit, never while the user keeps coming back.
pub const RENEW_AFTER_SECS: i64 = 24 * 60 * 60;

/// The signed-in user of the browser session, inside a server function.
pub async fn session_user() -> Result<Option<Principal>, AppError> {
    let session = browser_session().await?;
    let principal = session.get::<Principal>(SESSION_KEY).await?;
    if let Some(p) = &principal {
        let parts = leptos::prelude::use_context::<axum::http::request::Parts>();
        record_user(parts.as_ref().map(|p| &p.extensions), p.user_id);
    }
    Ok(principal)
}

/// The signed-in user of a browser session, in a plain handler (the picture forms post
/// multipart bodies to routes of their own, not to server functions; an `EventSource`
/// opens the live streams with the session cookie and no `Authorization` header).
pub async fn session_principal(session: &Session) -> Result<Option<Principal>, AppError> {
    let principal = session.get::<Principal>(SESSION_KEY).await?;
    if let Some(p) = &principal {
        record_user(None, p.user_id);
    }
    Ok(principal)
}

pub async fn browser_session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|e| {
        tracing::debug!(error = ?e, "no session from the request");
        crate::state::missing_context("session")
    })
}

/// Starts a signed-in session under a fresh id (no session fixation).
pub async fn start_session(session: &Session, p: Principal) -> Result<(), AppError> {
    session.cycle_id().await?;
    session.insert(SESSION_KEY, p).await?;
    session.insert(RENEWED_KEY, Utc::now().timestamp()).await?;
    Ok(())
}

/// Middleware (inside the session layer, on pages and server functions): after the
/// handler, renews a signed-in session whose last renewal is `RENEW_AFTER_SECS` old; the
/// session layer then saves it with a fresh expiry and cookie. A visitor without a session
/// cookie costs nothing; with one, the session is read once (pages and server functions
/// read it anyway).
pub async fn renew_session(
    session: Session,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let res = next.run(req).await;
    if session.id().is_some()
        && !res.status().is_server_error()
        && let Err(e) = renew_if_due(&session, Utc::now().timestamp()).await
    {
        // The answer itself is fine; the session lives on until its current expiry.
        tracing::warn!(error = %e, "could not renew the session");
    }
    res
}

async fn renew_if_due(session: &Session, now: i64) -> Result<(), tower_sessions::session::Error> {
    let due = match session.get::<i64>(RENEWED_KEY).await? {
        Some(last) => now - last >= RENEW_AFTER_SECS,
        // Signed in before renewals were recorded; a signed-out session is left alone.
        None => session.get::<Principal>(SESSION_KEY).await?.is_some(),
    };
    if due {
        session.insert(RENEWED_KEY, now).await?;
    }
    Ok(())
}

/// Ends the session server-side (the stored record is deleted).
pub async fn end_session(session: &Session) -> Result<(), AppError> {
    session.flush().await?;
    Ok(())
}
