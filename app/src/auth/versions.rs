//! Password versions: how a password change ends the user's other sessions and voids the
//! API tokens issued before it.
//!
//! `users.password_version` goes up by one with each change. A browser session stores
//! the version it was signed in with (`sessions::start_session`), an API token carries it
//! as the claim `pwv` (`tokens`); a session or token whose version is not the user's
//! current one is refused (the session is ended, the token is `invalid_token`). Nothing
//! has to find the other sessions' rows.
//!
//! The current versions are kept here for `CACHE_SECS`, so that a signed-in request does
//! not cost a database read each time. A change made in this process takes effect at once
//! (`forget`); with several replicas the others notice within `CACHE_SECS`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::AppError;

/// How long a version read from the database is trusted.
pub const CACHE_SECS: u64 = 5;
/// Past this many cached users the cache starts over (a bound on its memory).
const MAX_CACHED: usize = 100_000;

#[derive(Default)]
pub struct PasswordVersions {
    seen: Mutex<HashMap<Uuid, (i32, Instant)>>,
}

impl PasswordVersions {
    /// The user's current password version; `None` when the user no longer exists.
    pub async fn current(&self, pool: &PgPool, user_id: Uuid) -> Result<Option<i32>, AppError> {
        let ttl = Duration::from_secs(CACHE_SECS);
        if let Some((v, at)) = self.lock().get(&user_id).copied()
            && at.elapsed() < ttl
        {
            return Ok(Some(v));
        }
        let version =
            sqlx::query_scalar!("select password_version from users where id = $1", user_id)
                .fetch_optional(pool)
                .await?;
        if let Some(v) = version {
            let mut seen = self.lock();
            if seen.len() >= MAX_CACHED {
                seen.clear();
            }
            seen.insert(user_id, (v, Instant::now()));
        }
        Ok(version)
    }

    /// Whether a session or token that carries `version` is still the user's.
    pub async fn is_current(
        &self,
        pool: &PgPool,
        user_id: Uuid,
        version: i32,
    ) -> Result<bool, AppError> {
        Ok(self.current(pool, user_id).await? == Some(version))
    }

    /// After a change: the next check reads the database.
    pub fn forget(&self, user_id: Uuid) {
        self.lock().remove(&user_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (i32, Instant)>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}
