//! Buying and cancelling. The browser uses the server functions below (session), API
//! clients `api.rs` (bearer token); both run `service::place` / `service::cancel`.

#[cfg(feature = "ssr")]
pub mod admission;
#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod repo;
#[cfg(feature = "ssr")]
pub mod service;

use leptos::prelude::*;
use uuid::Uuid;

use crate::domain::{BuyAllowance, OrderView, RefundQuote};
use crate::error::AppError;

/// A key that is new for every rendering of the buy form: unique per customer is enough,
/// since the server scopes keys by customer.
pub fn new_idempotency_key(coupon_id: Uuid) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = chrono::Utc::now();
    format!(
        "web-{coupon_id}-{}-{}-{n}",
        now.timestamp(),
        now.timestamp_subsec_nanos()
    )
}

/// Buys a coupon. The form carries an idempotency key rendered with the page, so a double
/// click or a resubmitted form makes one order.
#[server(prefix = "/sfn", endpoint = "orders/buy")]
pub async fn buy_coupon(
    coupon_id: Uuid,
    quantity: String,
    idempotency_key: String,
) -> Result<OrderView, AppError> {
    use crate::auth::guards::require_customer;
    use crate::auth::sessions::session_user;
    use crate::domain::FieldError;
    use crate::domain::order::{parse_idempotency_key, parse_quantity};
    let customer = require_customer(session_user().await?)?;
    let quantity = quantity
        .trim()
        .parse::<i64>()
        .map_err(|_| FieldError::Invalid)
        .and_then(parse_quantity)
        .map_err(|e| AppError::field("quantity", e))?;
    // Checked as the API checks its header: a bad key is refused, never dropped.
    let key =
        parse_idempotency_key(&idempotency_key).map_err(|e| AppError::BadRequest(e.into()))?;
    let state = crate::state::app_state()?;
    let request_id = crate::request_id::current().await;
    let (order, _) = service::place(
        &state,
        customer,
        coupon_id,
        quantity,
        Some(&key),
        request_id.as_deref(),
    )
    .await?;
    leptos_axum::redirect("/mypage");
    Ok(order)
}

/// What the signed-in customer may still buy of a coupon (the coupon page's buy bar).
/// Anyone else gets `None`, not an error: the coupon page is public, and only a customer
/// has a buy bar. The count covers the caller's own orders only (their id from the session).
#[server(prefix = "/sfn", endpoint = "orders/allowance")]
pub async fn my_buy_allowance(coupon_id: Uuid) -> Result<Option<BuyAllowance>, AppError> {
    use crate::auth::sessions::session_user;
    use crate::domain::Role;
    let Some(customer) = session_user().await?.filter(|p| p.role == Role::Customer) else {
        return Ok(None);
    };
    let state = crate::state::app_state()?;
    let mut conn = state.pool.acquire().await?;
    let coupon = crate::coupons::repo::get(&mut conn, coupon_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let held = match coupon.per_customer_limit {
        Some(_) => repo::live_quantities(&mut conn, coupon_id, &[customer.user_id])
            .await?
            .get(&customer.user_id)
            .copied()
            .unwrap_or(0),
        None => 0,
    };
    Ok(Some(BuyAllowance::new(
        coupon.per_customer_limit,
        held,
        coupon.stock_left,
    )))
}

/// Cancels `quantity` units of the customer's order (all its remaining units without it).
#[server(prefix = "/sfn", endpoint = "orders/cancel")]
pub async fn cancel_order(order_id: Uuid, quantity: Option<String>) -> Result<OrderView, AppError> {
    use crate::auth::guards::require_customer;
    use crate::auth::sessions::session_user;
    use crate::domain::FieldError;
    let customer = require_customer(session_user().await?)?;
    let quantity = quantity
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| q.parse::<i64>().map_err(|_| FieldError::NotANumber))
        .transpose()
        .map_err(|e| AppError::field("quantity", e))?;
    let state = crate::state::app_state()?;
    let request_id = crate::request_id::current().await;
    let (order, refund) = service::cancel(
        &state.pool,
        state.waitlist,
        service::Canceller::Customer(customer),
        order_id,
        quantity,
        None,
        request_id.as_deref(),
    )
    .await?;
    let paid = order.paid_at.is_some();
    crate::flash::set(
        &state,
        &crate::flash::Flash::Cancelled {
            amount: if paid { refund.amount } else { order.amount },
            refund: paid,
        },
    );
    // Back to my page without the confirmation step (`?cancel=`).
    leptos_axum::redirect("/mypage");
    Ok(order)
}

/// What cancelling `quantity` units of the customer's own order gives back now (shown
/// before the customer confirms); without `quantity`, all the units they may cancel.
#[server(prefix = "/sfn", endpoint = "orders/refund-quote")]
pub async fn quote_refund(order_id: Uuid, quantity: Option<i32>) -> Result<RefundQuote, AppError> {
    use crate::auth::guards::require_customer;
    use crate::auth::sessions::session_user;
    let customer = require_customer(session_user().await?)?;
    let state = crate::state::app_state()?;
    service::quote_own(&state.pool, customer, order_id, quantity).await
}

#[server(prefix = "/sfn", endpoint = "owner/orders/refund")]
pub async fn refund_order(order_id: Uuid, reason: Option<String>) -> Result<OrderView, AppError> {
    use crate::auth::guards::require_owner;
    use crate::auth::sessions::session_user;
    let owner = require_owner(session_user().await?)?;
    let state = crate::state::app_state()?;
    let request_id = crate::request_id::current().await;
    let (order, _) = service::cancel(
        &state.pool,
        state.waitlist,
        service::Canceller::Owner(owner),
        order_id,
        None,
        reason.as_deref(),
        request_id.as_deref(),
    )
    .await?;
    crate::flash::set(
        &state,
        &crate::flash::Flash::Refunded {
            amount: order.amount,
        },
    );
    // Back to the dashboard without the confirmation step (`?refund=`).
    leptos_axum::redirect("/owner/dashboard");
    Ok(order)
}
