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
use serde::{Deserialize, Serialize};

use crate::domain::{MyPageRow, VoucherStatus};
use crate::error::AppError;

/// How many orders a page of my page shows (newest first); older ones are a page further.
pub const MYPAGE_LIMIT: i64 = 20;

/// A page of the customer's orders (also the body of `GET /api/v1/mypage`): `next` is the
/// cursor of the older page (`?before=`), `None` on the last one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OrderHistory {
    pub items: Vec<MyPageRow>,
    pub next: Option<String>,
}

/// The page of the customer's orders older than the cursor `before` (none: the newest).
#[server(prefix = "/sfn", endpoint = "mypage")]
pub async fn my_orders(before: Option<String>) -> Result<OrderHistory, AppError> {
    use crate::auth::guards::require_customer;
    use crate::auth::sessions::session_user;
    use crate::domain::history::PageRequest;
    let customer = require_customer(session_user().await?)?;
    let limit = MYPAGE_LIMIT.to_string();
    let request =
        PageRequest::parse(before.as_deref(), Some(&limit)).map_err(AppError::Validation)?;
    let state = crate::state::app_state()?;
    page(&state.pool, customer.user_id, request).await
}

/// One page of history for the pages and the API alike.
#[cfg(feature = "ssr")]
pub async fn page(
    pool: &sqlx::PgPool,
    customer_id: uuid::Uuid,
    request: crate::domain::history::PageRequest,
) -> Result<OrderHistory, AppError> {
    use crate::domain::history::{OrderCursor, split_page};
    let mut conn = pool.acquire().await?;
    let rows =
        repo::for_customer(&mut conn, customer_id, request.before, request.limit + 1).await?;
    let (items, next) = split_page(rows, request.limit, |r| OrderCursor {
        ordered_at: r.ordered_at,
        order_id: r.order_id,
    });
    Ok(OrderHistory { items, next })
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
