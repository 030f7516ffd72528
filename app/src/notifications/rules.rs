//! Who is told of which event: the reference for the trigger `notifications_from_event`
//! (the notifications migration), which writes the rows.
//! `server/tests/api/notifications.rs` appends every event type through real orders and
//! compares the rows the trigger wrote with [`for_event`].
//!
//! `sold_out` is not tied to one event type: the trigger `notifications_sold_out` writes it
//! for the `OrderPlaced` that took a coupon's last unit.

use crate::domain::{CancelledBy, NotificationKind, OrderStatus};
use crate::events::Event;

/// Who a notification of an order goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// The order's customer.
    Customer,
    /// The owner of the order's shop.
    Owner,
    /// The customer an event about a coupon names: the one a waitlist unit is held for.
    Holder,
}

/// The notification `event` causes, if any.
pub fn for_event(event: &Event) -> Option<(Recipient, NotificationKind)> {
    use NotificationKind as K;
    match event {
        // A charge that landed on a cancelled order is refunded next: `Refunded` tells it.
        Event::PaymentCompleted(p) if p.state.status == OrderStatus::Paid => {
            Some((Recipient::Customer, K::PaymentCompleted))
        }
        Event::PaymentCompleted(_) => None,
        Event::PaymentFailed(_) => Some((Recipient::Customer, K::PaymentFailed)),
        Event::PaymentRefunded(_) => Some((Recipient::Customer, K::Refunded)),
        // An expired order's payment is void since its expiry (`OrderExpired` told it); the
        // worker's last turn, finding no charge, voids it again: nothing new to tell.
        Event::PaymentVoided(p) if p.state.status == OrderStatus::Expired => None,
        Event::PaymentVoided(_) => Some((Recipient::Customer, K::PaymentVoided)),
        Event::VoucherRedeemed(_) => Some((Recipient::Customer, K::VoucherRedeemed)),
        // The shop hears of its customers' cancellations, not of its own refunds.
        Event::OrderCancelled(c) if c.by == CancelledBy::Customer => {
            Some((Recipient::Owner, K::OrderCancelled))
        }
        Event::OrderCancelled(_) => None,
        Event::OrderPlaced(_) => None,
        Event::OrderExpired(_) => Some((Recipient::Customer, K::OrderExpired)),
        Event::RestockHeld(_) => Some((Recipient::Holder, K::RestockHold)),
        // Told to the customer, 30 and 7 days before the use-by date.
        Event::VoucherExpiring(_) => Some((Recipient::Customer, K::VoucherExpiring)),
        // A cancellation tells through `OrderCancelled` (and the refund through
        // `PaymentRefunded`); a partial one tells nobody.
        Event::UnitsCancelled(_) => None,
    }
}
