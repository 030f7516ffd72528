//! "My page": the customer's orders, payments and voucher codes, read from the `mypage`
//! table alone.

pub mod pages;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod qr;
#[cfg(feature = "ssr")]
pub mod repo;

use leptos::prelude::*;

use crate::domain::{MyPageRow, VoucherStatus};
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

/// One voucher of the customer, for its full-screen page (shown at the counter).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MyVoucher {
    pub code: String,
    pub coupon_name: String,
    pub shop_name: String,
    pub valid_until: Option<chrono::DateTime<chrono::Utc>>,
    pub status: VoucherStatus,
}

/// The signed-in customer's voucher `code`; someone else's (or no such code) is
/// `NotFound`.
#[server(prefix = "/sfn", endpoint = "mypage/voucher")]
pub async fn get_my_voucher(code: String) -> Result<MyVoucher, AppError> {
    use crate::auth::guards::require_customer;
    use crate::auth::sessions::session_user;
    let customer = require_customer(session_user().await?)?;
    let state = crate::state::app_state()?;
    let mut conn = state.pool.acquire().await?;
    let code = crate::vouchers::normalise_code(&code);
    repo::voucher_of(&mut conn, customer.user_id, &code)
        .await?
        .ok_or(AppError::NotFound)
}
