//! Buying and cancelling: the transactions at the heart of the saga. Callers ran the
//! guard already and pass its `Principal`.

use sqlx::PgPool;
use uuid::Uuid;

use super::admission::Purchase;
use super::repo;
use crate::auth::guards::Principal;
use chrono::Utc;

use crate::domain::refund::quote;
use crate::domain::{CancelledBy, FieldError, OrderState, OrderStatus, OrderView, RefundQuote};
use crate::error::{AppError, Conflict};
use crate::events::{self, Event, OrderCancelled, UnitsCancelled};
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

/// Cancels `quantity` units of an order (all its remaining units when `None`): their
/// vouchers are void, `UnitsCancelled` is appended, the units go back (to the coupon's
/// waitlist first, held for `waitlist.hold`), and for a paid order a refund is owed (in
/// full before the vouchers' use-by date, 90% after it, nothing after 5 years: see
/// `domain::refund`), which the payment worker gives back. When no units remain the order
/// becomes `cancelled` (`OrderCancelled`; payment work queued to refund or void an unpaid
/// order's payment). Units that are redeemed cannot be cancelled; an unpaid order is
/// cancelled whole; the shop always cancels (refunds) whole orders. Someone else's order is
/// `NotFound`.
pub async fn cancel(
    pool: &PgPool,
    waitlist: WaitlistSettings,
    by: Canceller,
    order_id: Uuid,
    quantity: Option<i64>,
    reason: Option<&str>,
    request_id: Option<&str>,
) -> Result<(OrderView, RefundQuote), AppError> {
    let reason =
        crate::domain::order::parse_reason(reason).map_err(|e| AppError::field("reason", e))?;
    let asked = quantity
        .map(crate::domain::order::parse_quantity)
        .transpose()
        .map_err(|e| AppError::field("quantity", e))?;
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
    let cancelled_state = order
        .state()
        .to(OrderState::CANCELLED)
        .map_err(|_| AppError::Conflict(Conflict::NotCancellable))?;
    let remaining = order.quantity - order.cancelled_quantity;
    let units = asked.unwrap_or(remaining);
    if units > remaining {
        return Err(AppError::field(
            "quantity",
            FieldError::OutOfRange {
                min: 1,
                max: i64::from(remaining.max(1)),
            },
        ));
    }
    let paid = order.status == OrderStatus::Paid;
    let (codes, refund) = if paid {
        let active = repo::active_vouchers(&mut tx, order_id).await?;
        let redeemed = repo::redeemed_vouchers(&mut tx, order_id).await? as i32;
        // The units asked for include redeemed ones (the shop refunds only unused orders).
        if units > remaining - redeemed || (who == CancelledBy::Owner && redeemed > 0) {
            return Err(AppError::Conflict(Conflict::VoucherRedeemed));
        }
        refund_for(&order, &active, units, Utc::now())?
    } else {
        if units < remaining {
            return Err(AppError::Conflict(Conflict::PartialCancelUnpaid));
        }
        let nothing = RefundQuote {
            quantity: units,
            amount: 0,
            late: false,
        };
        (Vec::new(), nothing)
    };
    repo::cancel_units(&mut tx, order_id, units, &codes).await?;
    if refund.amount > 0 {
        repo::insert_refund(&mut tx, order_id, units, refund.amount, refund.late).await?;
    }
    let units_cancelled = Event::UnitsCancelled(UnitsCancelled {
        by: who,
        quantity: units,
        refund: refund.amount,
        late: refund.late,
        vouchers: codes,
    });
    events::append(&mut tx, order_id, &units_cancelled, request_id).await?;
    if units == remaining {
        repo::mark_cancelled(&mut tx, order_id, cancelled_state, who, reason.as_deref()).await?;
        let cancelled = Event::OrderCancelled(OrderCancelled {
            state: cancelled_state,
            by: who,
            reason,
            quantity: units,
        });
        events::append(&mut tx, order_id, &cancelled, request_id).await?;
    }
    crate::waitlist::service::give_back(&mut tx, waitlist, order.coupon_id, units, request_id)
        .await?;
    repo::enqueue_payments(&mut tx, &[order_id]).await?;
    let order = repo::get(&mut tx, order_id, false)
        .await?
        .ok_or(AppError::Internal)?;
    tx.commit().await?;
    tracing::info!(order = %order_id, by = who.as_str(), units, refund = refund.amount, "units cancelled");
    Ok((order.view(), refund))
}

/// What cancelling `quantity` units of the customer's own order would give back now (my
/// page shows it before the customer confirms); the same rules as [`cancel`], read without
/// locks.
pub async fn quote_own(
    pool: &PgPool,
    customer: Principal,
    order_id: Uuid,
    quantity: Option<i32>,
) -> Result<RefundQuote, AppError> {
    let mut conn = pool.acquire().await?;
    let order = match repo::get(&mut conn, order_id, false).await? {
        Some(o) if o.customer_id == customer.user_id => o,
        _ => return Err(AppError::NotFound),
    };
    let remaining = order.quantity - order.cancelled_quantity;
    if order.status != OrderStatus::Paid {
        return Ok(RefundQuote {
            quantity: quantity.unwrap_or(remaining).clamp(0, remaining),
            amount: 0,
            late: false,
        });
    }
    let active = repo::active_vouchers(&mut conn, order_id).await?;
    // The units my page lets the customer cancel (`MyPageRow::cancellable_units`), so the
    // amount shown is for the units the form sends, also for a `?units=` above that.
    let cancellable = repo::cancellable_on_my_page(&mut conn, order_id)
        .await?
        .min(remaining);
    let units = quantity
        .unwrap_or(cancellable)
        .clamp(1.min(cancellable), cancellable);
    Ok(refund_for(&order, &active, units, Utc::now())?.1)
}

/// The vouchers cancelled with `units` of a paid order (the last of its `active` vouchers,
/// in their order; any would do) and what they give back at `now`: each unit by its voucher's use-by
/// date (the coupon's for a unit without a voucher).
fn refund_for(
    order: &repo::OrderRow,
    active: &[repo::ActiveVoucher],
    units: i32,
    now: chrono::DateTime<Utc>,
) -> Result<(Vec<String>, RefundQuote), AppError> {
    let with_codes = (units.max(0) as usize).min(active.len());
    let cancelled = &active[active.len() - with_codes..];
    let without = units as usize - with_codes;
    let until = cancelled
        .iter()
        .map(|v| v.valid_until)
        .chain(std::iter::repeat_n(order.valid_until, without));
    let mut total = RefundQuote {
        quantity: units,
        amount: 0,
        late: false,
    };
    for valid_until in until {
        let q = quote(1, order.unit_price, valid_until, order.ordered_at, now)
            .map_err(|_| AppError::Conflict(Conflict::RefundPeriodOver))?;
        total.amount += q.amount;
        total.late |= q.late;
    }
    let codes = cancelled.iter().map(|v| v.code.clone()).collect();
    Ok((codes, total))
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
