//! Sign-up and log-in, shared by the pages (server functions) and the JSON API.

use std::net::IpAddr;

use sqlx::PgPool;

use super::guards::Principal;
use super::passwords::{hash_password, verify_password};
use super::repo::{self, LoginClaim};
use crate::domain::{Email, ValidSignup};
use crate::error::AppError;
use crate::request_span::record_user;

/// Failed log-ins per e-mail and client address allowed within the window; further
/// attempts from that address wait (429 with `Retry-After`).
pub const MAX_FAILED_LOGINS: i64 = 5;
pub const FAILED_LOGIN_WINDOW_SECS: i64 = 15 * 60;
/// The longest an attempt is slowed down while an account is guessed at from elsewhere.
pub const MAX_SLOWDOWN_SECS: i64 = 5;

/// How long a log-in attempt waits before its password is checked, given the failures
/// for its e-mail from other addresses within the window: a second per
/// `MAX_FAILED_LOGINS` of them, at most `MAX_SLOWDOWN_SECS`. Guessing from many addresses
/// gets slower; the owner, from an address of their own, still gets in.
pub fn slowdown(failures_elsewhere: i64) -> std::time::Duration {
    let secs = (failures_elsewhere / MAX_FAILED_LOGINS).clamp(0, MAX_SLOWDOWN_SECS);
    std::time::Duration::from_secs(secs as u64)
}

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

/// Checks e-mail and password for a request from `client`; the caller and their password
/// version (for the session or token to carry, `auth::versions`). Answers `InvalidCredentials`
/// alike for an unknown account and a wrong password, and `TooManyRequests` once this
/// client failed `MAX_FAILED_LOGINS` times for the e-mail within the window. Failures are
/// counted per e-mail and client address (an attacker cannot lock the owner out), the
/// attempt is counted before the password is checked (concurrent guesses cannot exceed
/// the limit), and failures from other addresses slow the attempt down (`slowdown`).
pub async fn authenticate(
    pool: &PgPool,
    email: &str,
    password: &str,
    client: IpAddr,
) -> Result<(Principal, i32), AppError> {
    let email = match Email::parse(email) {
        Ok(e) => e,
        Err(_) => return Err(AppError::InvalidCredentials),
    };
    let client = crate::limits::client_key(client).to_string();
    let mut tx = pool.begin().await?;
    let claim = repo::claim_login_attempt(
        &mut tx,
        email.as_str(),
        &client,
        MAX_FAILED_LOGINS,
        FAILED_LOGIN_WINDOW_SECS,
    )
    .await?;
    let failures_elsewhere = match claim {
        LoginClaim::Refused { retry_after_secs } => {
            return Err(AppError::TooManyRequests { retry_after_secs });
        }
        LoginClaim::Claimed { failures_elsewhere } => failures_elsewhere,
    };
    tx.commit().await?;
    let delay = slowdown(failures_elsewhere);
    if !delay.is_zero() {
        tracing::info!(
            failures_elsewhere,
            "log-in slowed down: failures for this e-mail from other addresses"
        );
        tokio::time::sleep(delay).await;
    }
    let account = {
        let mut conn = pool.acquire().await?;
        repo::find_credentials(&mut conn, email.as_str()).await?
    };
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    if verify_password(password.to_string(), hash).await? {
        let account = account.expect("verified implies found");
        let mut conn = pool.acquire().await?;
        repo::clear_login_failures(&mut conn, email.as_str(), &client).await?;
        record_user(None, account.id);
        let principal = Principal {
            user_id: account.id,
            role: account.role,
        };
        Ok((principal, account.password_version))
    } else {
        Err(AppError::InvalidCredentials)
    }
}

/// Changes the signed-in user's password: `current` must be right (else
/// `InvalidCredentials`, as a failed log-in), `new` follows the sign-up rules (a 422 on
/// `new_password`). Every other session and every token issued before ends
/// (`auth::versions`); returns the new password version, for the caller's own session.
pub async fn change_password(
    pool: &PgPool,
    versions: &super::versions::PasswordVersions,
    user: Principal,
    current: &str,
    new: &str,
) -> Result<i32, AppError> {
    let new =
        crate::domain::Password::parse(new).map_err(|e| AppError::field("new_password", e))?;
    let account = {
        let mut conn = pool.acquire().await?;
        repo::credentials_by_id(&mut conn, user.user_id).await?
    };
    let checked = account.as_ref().map(|a| a.password_version);
    let hash = account.map(|a| a.password_hash);
    if !verify_password(current.to_string(), hash).await? {
        return Err(AppError::InvalidCredentials);
    }
    let new_hash = hash_password(new).await?;
    let mut conn = pool.acquire().await?;
    // Only the password just checked is replaced: if another session changed it in the
    // meantime, that change stands and this one is refused like a wrong password.
    let version = repo::set_password(
        &mut conn,
        user.user_id,
        checked.unwrap_or_default(),
        &new_hash,
    )
    .await?
    .ok_or(AppError::InvalidCredentials)?;
    versions.forget(user.user_id);
    tracing::info!(user_id = %user.user_id, "password changed: other sessions and tokens end");
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_slow_down_with_failures_elsewhere_up_to_a_bound() {
        assert_eq!(slowdown(0).as_secs(), 0);
        assert_eq!(slowdown(MAX_FAILED_LOGINS - 1).as_secs(), 0);
        assert_eq!(slowdown(MAX_FAILED_LOGINS).as_secs(), 1);
        assert_eq!(slowdown(3 * MAX_FAILED_LOGINS + 2).as_secs(), 3);
        assert_eq!(slowdown(1_000_000).as_secs(), MAX_SLOWDOWN_SECS as u64);
    }
}
