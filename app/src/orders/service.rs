//! Buying and cancelling: the transactions at the heart of the saga. Callers ran the
//! guard already and pass its `Principal`.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::repo::{self, NewOrder, OrderRow};
use crate::auth::server::Principal;
use crate::coupons::repo as coupons;
use crate::domain::{CouponStatus, OrderStatus, OrderView, PaymentStatus};
use crate::error::{AppError, Conflict};
use crate::events;

/// The same key must come with the same coupon and quantity.
fn replay(existing: OrderRow, coupon_id: Uuid, quantity: i32) -> Result<OrderView, AppError> {
    if existing.coupon_id == coupon_id && existing.quantity == quantity {
        Ok(existing.view())
    } else {
        Err(AppError::IdempotencyKeyReused)
    }
}

/// Why `take_stock` refused: the coupon's state decides the answer.
async fn refusal(pool: &PgPool, coupon_id: Uuid) -> Result<AppError, AppError> {
    let mut conn = pool.acquire().await?;
    let Some(c) = coupons::get(&mut conn, coupon_id).await? else {
        return Ok(AppError::NotFound);
    };
    // "Available" here means there is stock, just not enough for this quantity.
    Ok(AppError::Conflict(match c.status_at(chrono::Utc::now()) {
        CouponStatus::Stopped => Conflict::NotOnSale,
        CouponStatus::NotStarted => Conflict::SaleNotStarted,
        CouponStatus::Ended => Conflict::SaleEnded,
        CouponStatus::SoldOut | CouponStatus::Available => Conflict::OutOfStock,
    }))
}

/// Buys `quantity` units for `customer`. One transaction: the guarded stock decrement, the
/// order, its `OrderPlaced` event and the payment work. With an idempotency key a retry
/// returns the first order. Returns the order and whether it was made by this call.
pub async fn place(
    pool: &PgPool,
    customer: Principal,
    coupon_id: Uuid,
    quantity: i32,
    idempotency_key: Option<&str>,
    request_id: Option<&str>,
) -> Result<(OrderView, bool), AppError> {
    if let Some(key) = idempotency_key {
        let mut conn = pool.acquire().await?;
        if let Some(existing) =
            repo::find_by_idempotency_key(&mut conn, customer.user_id, key).await?
        {
            return Ok((replay(existing, coupon_id, quantity)?, false));
        }
    }
    let mut tx = pool.begin().await?;
    let Some(stock) = repo::take_stock(&mut tx, coupon_id, quantity).await? else {
        drop(tx);
        return Err(refusal(pool, coupon_id).await?);
    };
    if let Some(limit) = stock.per_customer_limit {
        // The coupon row is locked by take_stock: concurrent purchases of it wait here,
        // so this count includes every committed order.
        if repo::live_quantity(&mut tx, customer.user_id, coupon_id).await? + i64::from(quantity)
            > i64::from(limit)
        {
            return Err(AppError::Conflict(Conflict::LimitExceeded));
        }
    }
    let new = NewOrder {
        customer_id: customer.user_id,
        coupon_id,
        quantity,
        unit_price: stock.price,
        idempotency_key,
        request_id,
    };
    let Some(order_id) = repo::insert(&mut tx, &new).await? else {
        // A concurrent request with the same key committed first: answer with its order.
        drop(tx);
        let mut conn = pool.acquire().await?;
        let existing = repo::find_by_idempotency_key(
            &mut conn,
            customer.user_id,
            idempotency_key.unwrap_or_default(),
        )
        .await?
        .ok_or(AppError::Internal)?;
        return Ok((replay(existing, coupon_id, quantity)?, false));
    };
    let amount = stock.price * i64::from(quantity);
    events::append_order_event(
        &mut tx,
        order_id,
        events::ORDER_PLACED,
        json!({
            "customer_id": customer.user_id, "coupon_id": coupon_id, "shop_id": stock.shop_id,
            "coupon_name": stock.name, "shop_name": stock.shop_name, "quantity": quantity,
            "unit_price": stock.price, "amount": amount,
            "status": OrderStatus::Ordered.as_str(), "payment_status": PaymentStatus::Pending.as_str(),
        }),
        request_id,
    )
    .await?;
    repo::enqueue_payment(&mut tx, order_id).await?;
    let order = repo::get(&mut tx, order_id, false)
        .await?
        .ok_or(AppError::Internal)?;
    tx.commit().await?;
    tracing::info!(order = %order_id, coupon = %coupon_id, quantity, "order placed");
    Ok((order.view(), true))
}

/// Who cancels: the customer (own order) or the shop's owner (a refund / rejection).
#[derive(Clone, Copy, Debug)]
pub enum Canceller {
    Customer(Principal),
    Owner(Principal),
}

/// Cancels an order: status `cancelled`, stock back, `OrderCancelled`, and payment work
/// queued to refund (or void) the payment. Someone else's order is `NotFound`.
pub async fn cancel(
    pool: &PgPool,
    by: Canceller,
    order_id: Uuid,
    reason: Option<&str>,
    request_id: Option<&str>,
) -> Result<OrderView, AppError> {
    let mut tx = pool.begin().await?;
    let order = repo::get(&mut tx, order_id, true)
        .await?
        .ok_or(AppError::NotFound)?;
    let (who, allowed) = match by {
        Canceller::Customer(p) => ("customer", order.customer_id == p.user_id),
        Canceller::Owner(p) => ("owner", order.shop_owner_id == p.user_id),
    };
    if !allowed {
        return Err(AppError::NotFound);
    }
    match order.status {
        OrderStatus::Cancelled => return Err(AppError::Conflict(Conflict::AlreadyCancelled)),
        OrderStatus::PaymentFailed => return Err(AppError::Conflict(Conflict::NotCancellable)),
        OrderStatus::Ordered | OrderStatus::Paid => {}
    }
    if repo::redeemed_vouchers(&mut tx, order_id).await? > 0 {
        return Err(AppError::Conflict(Conflict::VoucherRedeemed));
    }
    // Pending: a charge may still be under way; the worker refunds it or voids the order.
    let payment = PaymentStatus::RefundPending;
    let reason = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(500).collect::<String>());
    repo::mark_cancelled(&mut tx, order_id, payment, who, reason.as_deref()).await?;
    repo::return_stock(&mut tx, order.coupon_id, order.quantity).await?;
    events::append_order_event(
        &mut tx,
        order_id,
        events::ORDER_CANCELLED,
        json!({ "status": OrderStatus::Cancelled.as_str(), "payment_status": payment.as_str(),
                "by": who, "reason": reason, "quantity": order.quantity }),
        request_id,
    )
    .await?;
    repo::enqueue_payment(&mut tx, order_id).await?;
    let order = repo::get(&mut tx, order_id, false)
        .await?
        .ok_or(AppError::Internal)?;
    tx.commit().await?;
    tracing::info!(order = %order_id, by = who, "order cancelled");
    Ok(order.view())
}

/// The customer's own order.
pub async fn get_own(
    pool: &PgPool,
    customer: Principal,
    order_id: Uuid,
) -> Result<OrderView, AppError> {
    let mut conn = pool.acquire().await?;
    match repo::get(&mut conn, order_id, false).await? {
        Some(o) if o.customer_id == customer.user_id => Ok(o.view()),
        _ => Err(AppError::NotFound),
    }
}
