//! Browser sessions (tower-sessions, stored in PostgreSQL): who is signed in, starting and
//! ending a session, and renewing it while it is used.
//!
//! A session ends after `SESSION_IDLE_DAYS` without a visit, and in any case
//! `SESSION_MAX_DAYS` after its log-in (a stolen cookie does not live forever by being
//! used). Behind HTTPS its cookie is `__Host-coupan_session` (`Secure`, `Path=/`, no
//! `Domain`: no other host and no plain-HTTP answer can set or shadow it).

use chrono::Utc;
use tower_sessions::Session;

use super::guards::Principal;
use crate::error::AppError;
use crate::request_span::record_user;

const SESSION_KEY: &str = "principal";
/// When the signed-in session's expiry was last moved (unix seconds).
const RENEWED_KEY: &str = "renewed_at";
/// When the user logged in (unix seconds): the session ends `SESSION_MAX_DAYS` later.
const SIGNED_IN_KEY: &str = "signed_in_at";
/// The user's password version at log-in (`auth::versions`): after a password change
/// elsewhere the session ends.
const PASSWORD_VERSION_KEY: &str = "password_version";

/// The session cookie's name over plain HTTP (local runs)...
pub const COOKIE: &str = "coupan_session";
/// ... and behind HTTPS (`COUPAN_SECURE_COOKIES=true`).
pub const SECURE_COOKIE: &str = "__Host-coupan_session";

/// The session cookie's name: `__Host-`-prefixed when cookies are `Secure`.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_COOKIE } else { COOKIE }
}

/// Whether a request carries a session cookie (of either name): a browser's ambient
/// credential, which a request from another site would carry too.
pub fn carries_session(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .any(|(name, value)| (name == COOKIE || name == SECURE_COOKIE) && !value.is_empty())
}

/// A session ends this long after its log-in, however often it is used.
pub const SESSION_MAX_DAYS: i64 = 30;
const SESSION_MAX_SECS: i64 = SESSION_MAX_DAYS * 24 * 60 * 60;

/// A browser session ends after this long without a visit (the server's session layer
/// uses it as `Expiry::OnInactivity`).
pub const SESSION_IDLE_DAYS: i64 = 7;
/// tower-sessions moves a session's stored expiry (and re-sends the cookie) only when it
/// saves the session, which it does only when the session changed. A signed-in visit
/// therefore renews the session once this long has passed since the last renewal: one
/// write per user per day rather than per request, so the session ends between six and
/// seven days after the last visit, never while the user keeps coming back.
pub const RENEW_AFTER_SECS: i64 = 24 * 60 * 60;

/// The signed-in user of the browser session, inside a server function. A session past
/// its absolute end (`SESSION_MAX_DAYS` after log-in) is ended here: a visitor again.
pub async fn session_user() -> Result<Option<Principal>, AppError> {
    let session = browser_session().await?;
    let mut principal = session.get::<Principal>(SESSION_KEY).await?;
    if principal.is_some() && !within_lifetime(&session, Utc::now().timestamp()).await? {
        tracing::info!("session past its absolute lifetime: signed out");
        session.flush().await?;
        principal = None;
    }
    if let Some(p) = principal
        && !same_password(&session, p, &crate::state::app_state()?).await?
    {
        principal = None;
    }
    if let Some(p) = &principal {
        let parts = leptos::prelude::use_context::<axum::http::request::Parts>();
        record_user(parts.as_ref().map(|p| &p.extensions), p.user_id);
    }
    Ok(principal)
}

/// The signed-in user of a browser session, in a plain handler (the picture forms post
/// multipart bodies to routes of their own, not to server functions; an `EventSource`
/// opens the live streams with the session cookie and no `Authorization` header).
pub async fn session_principal(
    session: &Session,
    state: &crate::state::AppState,
) -> Result<Option<Principal>, AppError> {
    let mut principal = session.get::<Principal>(SESSION_KEY).await?;
    if let Some(p) = principal
        && !same_password(session, p, state).await?
    {
        principal = None;
    }
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

/// Whether the session was signed in under the user's current password (sessions from
/// before versions existed carry none: version 0, every user's first). One from before
/// a password change is ended here.
async fn same_password(
    session: &Session,
    p: Principal,
    state: &crate::state::AppState,
) -> Result<bool, AppError> {
    let carried = session.get::<i32>(PASSWORD_VERSION_KEY).await?.unwrap_or(0);
    if state
        .versions
        .is_current(&state.pool, p.user_id, carried)
        .await?
    {
        return Ok(true);
    }
    tracing::info!(user_id = %p.user_id, "session from before a password change: signed out");
    session.flush().await?;
    Ok(false)
}

/// Starts a signed-in session under a fresh id (no session fixation), for the user's
/// password version `password_version`.
pub async fn start_session(
    session: &Session,
    p: Principal,
    password_version: i32,
) -> Result<(), AppError> {
    let now = Utc::now().timestamp();
    session.cycle_id().await?;
    session.insert(SESSION_KEY, p).await?;
    session
        .insert(PASSWORD_VERSION_KEY, password_version)
        .await?;
    session.insert(SIGNED_IN_KEY, now).await?;
    session.insert(RENEWED_KEY, now).await?;
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

/// Whether a signed-in session is still within `SESSION_MAX_DAYS` of its log-in. One
/// signed in before log-in times were recorded gets its lifetime counted from now.
async fn within_lifetime(
    session: &Session,
    now: i64,
) -> Result<bool, tower_sessions::session::Error> {
    match session.get::<i64>(SIGNED_IN_KEY).await? {
        Some(at) => Ok(now - at < SESSION_MAX_SECS),
        None => {
            session.insert(SIGNED_IN_KEY, now).await?;
            Ok(true)
        }
    }
}

/// What a visit does to a signed-in session, from the times it holds (unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Renewal {
    /// Renewed recently: nothing to write.
    Keep,
    /// Due: renew, with the expiry at the absolute end if that comes before a full idle
    /// period (`Some(end)`), else the idle period as usual (`None`).
    Renew { end: Option<i64> },
    /// Past the absolute end.
    End,
}

fn renewal(now: i64, signed_in_at: i64, renewed_at: Option<i64>) -> Renewal {
    let end = signed_in_at + SESSION_MAX_SECS;
    if now >= end {
        return Renewal::End;
    }
    if renewed_at.is_some_and(|last| now - last < RENEW_AFTER_SECS) {
        return Renewal::Keep;
    }
    let idle_end = now + SESSION_IDLE_DAYS * 24 * 60 * 60;
    Renewal::Renew {
        end: (end < idle_end).then_some(end),
    }
}

async fn renew_if_due(session: &Session, now: i64) -> Result<(), tower_sessions::session::Error> {
    // A signed-out session is left alone.
    if session.get::<Principal>(SESSION_KEY).await?.is_none() {
        return Ok(());
    }
    let signed_in_at = session.get::<i64>(SIGNED_IN_KEY).await?.unwrap_or(now);
    let renewed_at = session.get::<i64>(RENEWED_KEY).await?;
    match renewal(now, signed_in_at, renewed_at) {
        Renewal::Keep => {}
        Renewal::End => session.flush().await?,
        Renewal::Renew { end } => {
            if let Some(end) = end
                && let Ok(at) =
                    tower_sessions::cookie::time::OffsetDateTime::from_unix_timestamp(end)
            {
                session.set_expiry(Some(tower_sessions::Expiry::AtDateTime(at)));
            }
            session.insert(RENEWED_KEY, now).await?;
        }
    }
    Ok(())
}

/// After the user changed their password in this session: it carries the new version
/// (so it stays signed in while the others end) under a fresh id.
pub async fn password_changed(session: &Session, password_version: i32) -> Result<(), AppError> {
    session.cycle_id().await?;
    session
        .insert(PASSWORD_VERSION_KEY, password_version)
        .await?;
    Ok(())
}

/// Ends the session server-side (the stored record is deleted).
pub async fn end_session(session: &Session) -> Result<(), AppError> {
    session.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 60 * 60;

    #[test]
    fn renewals_stop_at_the_absolute_end() {
        let t0 = 1_800_000_000;
        // Renewed an hour ago: nothing to write.
        assert_eq!(renewal(t0 + 3600, t0, Some(t0)), Renewal::Keep);
        // A day later: a full idle period again.
        assert_eq!(
            renewal(t0 + DAY, t0, Some(t0)),
            Renewal::Renew { end: None }
        );
        // Near the end: only up to the end.
        let now = t0 + 27 * DAY;
        assert_eq!(
            renewal(now, t0, Some(now - DAY)),
            Renewal::Renew {
                end: Some(t0 + SESSION_MAX_DAYS * DAY)
            }
        );
        assert_eq!(
            renewal(t0 + SESSION_MAX_DAYS * DAY, t0, Some(t0)),
            Renewal::End
        );
        assert_eq!(renewal(t0 + 31 * DAY, t0, None), Renewal::End);
    }

    #[test]
    fn a_session_cookie_of_either_name_is_found() {
        let with = |cookie: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(axum::http::header::COOKIE, cookie.parse().unwrap());
            carries_session(&h)
        };
        assert!(with("coupan_session=abc"));
        assert!(with("a=1; __Host-coupan_session=abc"));
        assert!(!with("coupan_session="));
        assert!(!with("coupan_flash=x; xcoupan_session=abc"));
        assert!(!carries_session(&axum::http::HeaderMap::new()));
    }
}
