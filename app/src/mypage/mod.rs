//! "My page": the customer's orders, payments and voucher codes, read from the `mypage`
//! table alone.

pub mod pages;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod repo;

use leptos::prelude::*;

use crate::domain::MyPageRow;
use crate::error::AppError;

/// How many orders my page shows (newest first).
pub const MYPAGE_LIMIT: i64 = 100;

#[server(prefix = "/sfn", endpoint = "mypage")]
pub async fn my_orders() -> Result<Vec<MyPageRow>, AppError> {
    use crate::auth::guards::require_customer;
    use crate::auth::sessions::session_user;
    let customer = require_customer(session_user().await?)?;
    let state = crate::state::app_state()?;
    let mut conn = state.pool.acquire().await?;
    repo::for_customer(&mut conn, customer.user_id, MYPAGE_LIMIT).await
}
