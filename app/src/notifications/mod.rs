//! Notifications: what happened to a customer's orders and to an owner's coupons, written
//! by database triggers from the event log (never by request code; see `rules.rs`), shown
//! on the notifications page and live in the header's bell (`api.rs` streams them).

pub mod pages;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod repo;
#[cfg(feature = "ssr")]
pub mod rules;

use leptos::prelude::*;

use crate::domain::NotificationPage;
use crate::error::AppError;

/// How many notifications the page shows at once.
pub const PAGE_SIZE: i64 = 20;

/// The signed-in user's notifications older than `before` (the newest when `None`).
#[server(prefix = "/sfn", endpoint = "notifications")]
pub async fn my_notifications(before: Option<i64>) -> Result<NotificationPage, AppError> {
    use crate::auth::guards::require_user;
    use crate::auth::sessions::session_user;
    let user = require_user(session_user().await?)?;
    let state = crate::state::app_state()?;
    api::page(&state.pool, user, before, PAGE_SIZE).await
}

#[server(prefix = "/sfn", endpoint = "notifications/read")]
pub async fn mark_notification_read(id: i64) -> Result<(), AppError> {
    use crate::auth::guards::require_user;
    use crate::auth::sessions::session_user;
    let user = require_user(session_user().await?)?;
    let state = crate::state::app_state()?;
    let mut conn = state.pool.acquire().await?;
    repo::mark_read(&mut conn, user.user_id, id).await
}

#[server(prefix = "/sfn", endpoint = "notifications/read-all")]
pub async fn mark_all_notifications_read() -> Result<(), AppError> {
    use crate::auth::guards::require_user;
    use crate::auth::sessions::session_user;
    let user = require_user(session_user().await?)?;
    let state = crate::state::app_state()?;
    let mut conn = state.pool.acquire().await?;
    repo::mark_all_read(&mut conn, user.user_id).await
}
