//! Sign-up and log-in, shared by the pages (server functions) and the JSON API.

use sqlx::PgPool;

use super::guards::Principal;
use super::passwords::{hash_password, verify_password};
use super::repo;
use crate::domain::{Email, ValidSignup};
use crate::error::AppError;
use crate::request_span::record_user;

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
