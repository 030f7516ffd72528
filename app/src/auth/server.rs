//! Server-side authentication: password hashing, JWTs, who is calling, and the guards.
//!
//! Two ways in, one set of guards:
//! - browser pages and server functions use the tower-sessions cookie (`session_user`);
//! - the JSON API uses `Authorization: Bearer <jwt>` (`BearerAuth`).
//!
//! Either gives an `Option<Principal>`, and every private read or write starts with one of
//! `require_user`, `require_owner`, `require_customer`.

use std::sync::LazyLock;

use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use chrono::{Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::Arc;
use tower_sessions::Session;
use uuid::Uuid;

use super::repo;
use crate::domain::{Email, Password, Role, ValidSignup};
use crate::error::AppError;

/// Who is calling: enough to authorise, without a database read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
}

pub fn require_user(p: Option<Principal>) -> Result<Principal, AppError> {
    p.ok_or(AppError::Unauthorized)
}

pub fn require_owner(p: Option<Principal>) -> Result<Principal, AppError> {
    match require_user(p)? {
        p if p.role == Role::Owner => Ok(p),
        _ => Err(AppError::Forbidden),
    }
}

pub fn require_customer(p: Option<Principal>) -> Result<Principal, AppError> {
    match require_user(p)? {
        p if p.role == Role::Customer => Ok(p),
        _ => Err(AppError::Forbidden),
    }
}

// --- who is calling, in the logs ----------------------------------------------------

/// The request's tracing span, put in the request extensions by the server (inside its
/// trace layer), so that the caller's id reaches the request's log lines even from tasks
/// that do not run inside the span (leptos resources and server functions).
#[derive(Clone, Debug)]
pub struct RequestSpan(pub tracing::Span);

tokio::task_local! {
    /// The same span, for code without the request at hand (sign-up, log-in); the
    /// current span there may be a layer's own (tower-sessions opens one per call).
    pub static CURRENT_REQUEST_SPAN: tracing::Span;
}

/// Records `user_id` on the request's span (from `extensions`, else the task's request
/// span, else the current span): every later log line of the request carries it.
pub fn record_user(extensions: Option<&axum::http::Extensions>, user_id: Uuid) {
    let span = extensions
        .and_then(|e| e.get::<RequestSpan>())
        .map(|s| s.0.clone())
        .or_else(|| CURRENT_REQUEST_SPAN.try_with(|s| s.clone()).ok())
        .unwrap_or_else(tracing::Span::current);
    span.record("user_id", tracing::field::display(user_id));
}

// --- sessions (browser) ------------------------------------------------------------

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

// --- bearer tokens (JSON API) --------------------------------------------------------

pub const JWT_ISSUER: &str = "coupan";
pub const JWT_AUDIENCE: &str = "coupan-api";
/// Token lifetime: one hour.
pub const JWT_TTL_SECS: i64 = 3600;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    role: Role,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// HS256 keys from the configured secret. The algorithm is pinned: a token that names
/// another one (`none`, RS256, ...) is refused.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> JwtKeys {
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_issuer(&[JWT_ISSUER]);
        validation.set_audience(&[JWT_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A token for `p`, and its lifetime in seconds.
    pub fn issue(&self, p: Principal) -> Result<(String, i64), AppError> {
        let now = Utc::now();
        let claims = Claims {
            sub: p.user_id,
            role: p.role,
            iss: JWT_ISSUER.into(),
            aud: JWT_AUDIENCE.into(),
            iat: now.timestamp(),
            exp: (now + Duration::seconds(JWT_TTL_SECS)).timestamp(),
        };
        let token = encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &self.encoding,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "could not sign a token");
            AppError::Internal
        })?;
        Ok((token, JWT_TTL_SECS))
    }

    pub fn verify(&self, token: &str) -> Result<Principal, AppError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AppError::InvalidToken)?;
        Ok(Principal {
            user_id: data.claims.sub,
            role: data.claims.role,
        })
    }
}

/// The caller of an API request: `None` without an `Authorization` header; a present but
/// bad token is refused (401 `invalid_token`) rather than treated as anonymous.
pub struct BearerAuth(pub Option<Principal>);

impl<S> FromRequestParts<S> for BearerAuth
where
    Arc<JwtKeys>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(BearerAuth(None));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(AppError::InvalidToken)?;
        let keys = Arc::<JwtKeys>::from_ref(state);
        let principal = keys.verify(token.trim())?;
        record_user(Some(&parts.extensions), principal.user_id);
        Ok(BearerAuth(Some(principal)))
    }
}

// --- passwords -----------------------------------------------------------------------

/// Argon2id with OWASP's parameters: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params"),
    )
}

/// Verified against when the account does not exist, so both answers take as long.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    argon2()
        .hash_password(
            b"no such account, but take the time",
            &SaltString::generate(&mut OsRng),
        )
        .expect("hashing works")
        .to_string()
});

/// Password hashes computed at once. Each argon2 run takes 19 MiB and a core for tens of
/// milliseconds: a burst of log-ins must queue here, not start hundreds of blocking
/// threads that take gigabytes (glibc keeps such memory long after).
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::sync::Semaphore::new(cores.clamp(2, 16))
});

async fn hashing_permit() -> Result<tokio::sync::SemaphorePermit<'static>, AppError> {
    HASHING.acquire().await.map_err(|_| AppError::Internal)
}

/// Hashes off the async runtime (argon2 is deliberately slow).
pub async fn hash_password(password: Password) -> Result<String, AppError> {
    let _permit = hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        argon2()
            .hash_password(
                password.expose().as_bytes(),
                &SaltString::generate(&mut OsRng),
            )
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "hashing task failed");
        AppError::Internal
    })?
    .map_err(|e| {
        tracing::error!(error = %e, "password hashing failed");
        AppError::Internal
    })
}

async fn verify_password(password: String, hash: Option<String>) -> Result<bool, AppError> {
    let _permit = hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        let exists = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        let ok = PasswordHash::new(&hash)
            .map(|parsed| {
                argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        exists && ok
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "password verification task failed");
        AppError::Internal
    })
}

// --- sign-up and log-in, shared by the pages and the API ----------------------------

/// Failed logins per e-mail allowed within the window before further tries wait.
pub const MAX_FAILED_LOGINS: i64 = 5;
pub const FAILED_LOGIN_WINDOW_SECS: i64 = 15 * 60;

pub async fn register(pool: &PgPool, signup: ValidSignup) -> Result<Principal, AppError> {
    let role = signup.role;
    let hash = hash_password(signup.password.clone()).await?;
    let mut tx = pool.begin().await?;
    let user_id = repo::insert_user(&mut tx, &signup, &hash).await?;
    tx.commit().await?;
    record_user(None, user_id);
    tracing::info!(%user_id, role = role.as_str(), "account created");
    Ok(Principal { user_id, role })
}

/// Checks e-mail and password. Answers `InvalidCredentials` alike for an unknown account
/// and a wrong password, and `TooManyRequests` after repeated failures for that e-mail.
pub async fn authenticate(
    pool: &PgPool,
    email: &str,
    password: &str,
) -> Result<Principal, AppError> {
    let email = match Email::parse(email) {
        Ok(e) => e,
        Err(_) => return Err(AppError::InvalidCredentials),
    };
    let mut conn = pool.acquire().await?;
    if let Some(retry_after_secs) = repo::login_retry_after(
        &mut conn,
        email.as_str(),
        MAX_FAILED_LOGINS,
        FAILED_LOGIN_WINDOW_SECS,
    )
    .await?
    {
        return Err(AppError::TooManyRequests { retry_after_secs });
    }
    let account = repo::find_credentials(&mut conn, email.as_str()).await?;
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    if verify_password(password.to_string(), hash).await? {
        let account = account.expect("verified implies found");
        repo::clear_login_failures(&mut conn, email.as_str()).await?;
        record_user(None, account.id);
        Ok(Principal {
            user_id: account.id,
            role: account.role,
        })
    } else {
        repo::record_login_failure(&mut conn, email.as_str(), FAILED_LOGIN_WINDOW_SECS).await?;
        Err(AppError::InvalidCredentials)
    }
}
