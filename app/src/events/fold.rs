//! The reference fold of the event log into one `mypage` row: what the trigger
//! `mypage_apply_event` must have written after the same events. Production reads the
//! trigger's rows (a page never folds); `server/tests/api/readmodel.rs` appends events
//! and compares every column of those rows with [`fold`].

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Event;
use crate::domain::{CancelledBy, OrderStatus, PaymentStatus, VoucherStatus, VoucherView};

/// An event as stored: its row id and time, and the order it is about.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub id: i64,
    pub order_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub event: Event,
}

/// Every column of a `mypage` row.
#[derive(Clone, Debug, PartialEq)]
pub struct MyPageProjection {
    pub order_id: Uuid,
    pub customer_id: Uuid,
    pub coupon_id: Uuid,
    pub shop_id: Uuid,
    pub coupon_name: String,
    pub shop_name: String,
    pub quantity: i32,
    pub unit_price: i64,
    pub amount: i64,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub ordered_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub refunded_at: Option<DateTime<Utc>>,
    pub cancelled_by: Option<CancelledBy>,
    pub cancel_reason: Option<String>,
    pub vouchers_issued: i32,
    pub vouchers_redeemed: i32,
    /// In issue order.
    pub vouchers: Vec<VoucherView>,
    pub cancelled_quantity: i32,
    pub refunded_amount: i64,
    pub last_event_id: i64,
}

/// The order's row after `events` (in log order); `None` before its `OrderPlaced`.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Recorded>) -> Option<MyPageProjection> {
    events.into_iter().fold(None, apply)
}

/// The row after one more event. As in the trigger, an event before the order's
/// `OrderPlaced` changes nothing (there is no row to change), nor does an event about
/// something else than an order.
pub fn apply(row: Option<MyPageProjection>, e: &Recorded) -> Option<MyPageProjection> {
    if e.event.aggregate_type() != "order" {
        return row;
    }
    let mut row = match (&e.event, row) {
        (Event::OrderPlaced(p), _) => MyPageProjection {
            order_id: e.order_id,
            customer_id: p.customer_id,
            coupon_id: p.coupon_id,
            shop_id: p.shop_id,
            coupon_name: p.coupon_name.clone(),
            shop_name: p.shop_name.clone(),
            quantity: p.quantity,
            unit_price: p.unit_price,
            amount: p.amount,
            status: p.state.status,
            payment_status: p.state.payment_status,
            ordered_at: e.occurred_at,
            cancelled_at: None,
            paid_at: None,
            refunded_at: None,
            cancelled_by: None,
            cancel_reason: None,
            vouchers_issued: 0,
            vouchers_redeemed: 0,
            vouchers: Vec::new(),
            cancelled_quantity: 0,
            refunded_amount: 0,
            last_event_id: e.id,
        },
        (_, Some(row)) => row,
        (_, None) => return None,
    };
    if let Some(state) = e.event.state() {
        row.status = state.status;
        row.payment_status = state.payment_status;
    }
    match &e.event {
        Event::OrderPlaced(_)
        | Event::PaymentFailed(_)
        | Event::PaymentVoided(_)
        | Event::OrderExpired(_)
        | Event::RestockHeld(_)
        | Event::VoucherExpiring(_) => {}
        Event::PaymentCompleted(p) => {
            row.paid_at = Some(e.occurred_at);
            row.vouchers = p
                .vouchers
                .iter()
                .map(|code| VoucherView {
                    code: code.clone(),
                    redeemed_at: None,
                    status: VoucherStatus::Active,
                })
                .collect();
            row.vouchers_issued = p.vouchers.len() as i32;
        }
        Event::OrderCancelled(p) => {
            row.cancelled_at = Some(e.occurred_at);
            row.cancelled_by = Some(p.by);
            row.cancel_reason = p.reason.clone();
        }
        Event::PaymentRefunded(_) => row.refunded_at = Some(e.occurred_at),
        Event::UnitsCancelled(p) => {
            row.cancelled_quantity += p.quantity;
            row.refunded_amount += p.refund;
            for v in row
                .vouchers
                .iter_mut()
                .filter(|v| p.vouchers.contains(&v.code))
            {
                v.status = VoucherStatus::Cancelled;
            }
        }
        Event::VoucherRedeemed(p) => {
            for v in row.vouchers.iter_mut().filter(|v| v.code == p.code) {
                v.redeemed_at = Some(e.occurred_at);
                v.status = VoucherStatus::Redeemed;
            }
            row.vouchers_redeemed += 1;
        }
    }
    row.last_event_id = e.id;
    Some(row)
}
