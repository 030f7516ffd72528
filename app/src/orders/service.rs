//! Buying and cancelling: the transactions at the heart of the saga. Callers ran the
//! guard already and pass its `Principal`.

use sqlx::PgPool;
use uuid::Uuid;

use super::admission::Purchase;
use super::repo;
use crate::auth::guards::Principal;
use crate::domain::{CancelledBy, OrderState, OrderStatus, OrderView};
use crate::error::{AppError, Conflict};
use crate::events::{self, Event, OrderCancelled};
use crate::state::AppState;
use crate::waitlist::settings::WaitlistSettings;

/// Buys `quantity` units for `customer`: within the customer's purchase rate limit (429
/// beyond it), queued in the coupon's admission queue, which decides it with the other
/// purchases that arrived meanwhile, in one transaction (stock, limit per customer,
/// idempotency key, order, `OrderPlaced`, payment job; see `admission.rs`). With an
/// idempotency key a retry returns the first order. Returns the order and whether this
/// call made it.
pub async fn place(
    state: &AppState,
    customer: Principal,
    coupon_id: Uuid,
    quantity: i32,
    idempotency_key: Option<&str>,
    request_id: Option<&str>,
) -> Result<(OrderView, bool), AppError> {
    let answer = match state.limits.purchase(customer.user_id) {
        Err(e) => Err(e),
        Ok(()) => {
            state
                .admission
                .submit(Purchase {
                    customer_id: customer.user_id,
                    coupon_id,
                    quantity,
                    idempotency_key: idempotency_key.map(str::to_string),
                    request_id: request_id.map(str::to_string),
                })
                .await
        }
    };
    metrics::counter!("coupan_purchases_total", "outcome" => outcome(&answer)).increment(1);
    answer
}

/// The `outcome` label of `coupan_purchases_total` (a fixed set of values).
fn outcome(answer: &Result<(OrderView, bool), AppError>) -> &'static str {
    match answer {
        Ok((_, true)) => "created",
        Ok((_, false)) => "replayed",
        Err(AppError::Conflict(c)) => c.code(),
        Err(AppError::Unavailable { .. }) => "shed",
        Err(AppError::TooManyRequests { .. }) => "rate_limited",
        Err(AppError::NotFound) => "not_found",
        Err(AppError::IdempotencyKeyReused) => "idempotency_key_reused",
        Err(_) => "error",
    }
}

/// Who cancels: the customer (own order) or the shop's owner (a refund / rejection).
#[derive(Clone, Copy, Debug)]
pub enum Canceller {
    Customer(Principal),
    Owner(Principal),
}

/// Cancels an order: status `cancelled` (if the status machines allow it from where the
/// order is), `OrderCancelled`, its units back (to the coupon's waitlist first, held for
/// `waitlist.hold`), and payment work queued to refund (or void) the payment. Someone
/// else's order is `NotFound`.
pub async fn cancel(
    pool: &PgPool,
    waitlist: WaitlistSettings,
    by: Canceller,
    order_id: Uuid,
    reason: Option<&str>,
    request_id: Option<&str>,
) -> Result<OrderView, AppError> {
    let reason =
        crate::domain::order::parse_reason(reason).map_err(|e| AppError::field("reason", e))?;
    let mut tx = pool.begin().await?;
    let order = repo::get(&mut tx, order_id, true)
        .await?
        .ok_or(AppError::NotFound)?;
    let (who, allowed) = match by {
        Canceller::Customer(p) => (CancelledBy::Customer, order.customer_id == p.user_id),
        Canceller::Owner(p) => (CancelledBy::Owner, order.shop_owner_id == p.user_id),
    };
    if !allowed {
        return Err(AppError::NotFound);
    }
    if order.status == OrderStatus::Cancelled {
        return Err(AppError::Conflict(Conflict::AlreadyCancelled));
    }
    // Refund pending: a charge may still be under way; the worker refunds it or voids the
    // payment.
    let state = order
        .state()
        .to(OrderState::CANCELLED)
        .map_err(|_| AppError::Conflict(Conflict::NotCancellable))?;
    if repo::redeemed_vouchers(&mut tx, order_id).await? > 0 {
        return Err(AppError::Conflict(Conflict::VoucherRedeemed));
    }
    repo::mark_cancelled(&mut tx, order_id, state, who, reason.as_deref()).await?;
    let cancelled = Event::OrderCancelled(OrderCancelled {
        state,
        by: who,
        reason,
        quantity: order.quantity,
    });
    events::append(&mut tx, order_id, &cancelled, request_id).await?;
    crate::waitlist::service::give_back(
        &mut tx,
        waitlist,
        order.coupon_id,
        order.quantity,
        request_id,
    )
    .await?;
    repo::enqueue_payments(&mut tx, &[order_id]).await?;
    let order = repo::get(&mut tx, order_id, false)
        .await?
        .ok_or(AppError::Internal)?;
    tx.commit().await?;
    tracing::info!(order = %order_id, by = who.as_str(), "order cancelled");
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
