//! The owner's dashboard: per-coupon figures, recent orders, sales over time, and the
//! voucher redemption form. Figures come from the `mypage` read model.

pub mod orders_pages;
pub mod pages;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod repo;

use leptos::prelude::*;

use crate::domain::history::OwnerOrderPage;
use crate::domain::order::Dashboard;
use crate::error::AppError;

#[server(prefix = "/sfn", endpoint = "owner/dashboard")]
pub async fn owner_dashboard() -> Result<Dashboard, AppError> {
    use crate::auth::guards::require_owner;
    use crate::auth::sessions::session_user;
    let owner = require_owner(session_user().await?)?;
    let state = crate::state::app_state()?;
    repo::dashboard(&state.pool, owner).await
}

/// Rows of the owner's orders page.
pub const ORDERS_PAGE: i64 = 50;

/// A page of the shop's orders for the orders page: filters and cursor as in the URL
/// (`status`, `from`, `to`, `before`).
#[server(prefix = "/sfn", endpoint = "owner/orders")]
pub async fn owner_orders(
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
) -> Result<OwnerOrderPage, AppError> {
    use crate::auth::guards::require_owner;
    use crate::auth::sessions::session_user;
    use crate::domain::history::{OrderFilter, PageRequest};
    let owner = require_owner(session_user().await?)?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let filter = OrderFilter::parse(&text(&status), &text(&from), &text(&to));
    let limit = ORDERS_PAGE.to_string();
    let request = PageRequest::parse(before.as_deref(), Some(&limit));
    let (filter, request) = both(filter, request)?;
    let state = crate::state::app_state()?;
    orders_page(&state.pool, owner, &filter, request).await
}

/// Both checks' results, or every field error of either (one 422 names them all).
#[cfg(feature = "ssr")]
pub fn both<A, B>(
    a: Result<A, crate::domain::FieldErrors>,
    b: Result<B, crate::domain::FieldErrors>,
) -> Result<(A, B), AppError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => {
            let mut errors = a.err().unwrap_or_default();
            errors.extend(b.err().unwrap_or_default());
            Err(AppError::Validation(errors))
        }
    }
}

/// One page of the owner's own shop's orders (the shop comes from the owner: another
/// shop's orders cannot be named).
#[cfg(feature = "ssr")]
pub async fn orders_page(
    pool: &sqlx::PgPool,
    owner: crate::auth::guards::Principal,
    filter: &crate::domain::history::OrderFilter,
    request: crate::domain::history::PageRequest,
) -> Result<OwnerOrderPage, AppError> {
    use crate::domain::history::split_page;
    let mut conn = pool.acquire().await?;
    let shop = repo::shop_of(&mut conn, owner.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let rows = repo::orders(&mut conn, shop, filter, request.before, request.limit + 1).await?;
    let (items, next) = split_page(rows, request.limit, |o| o.cursor());
    Ok(OwnerOrderPage { items, next })
}
