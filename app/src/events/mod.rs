//! The event log's one contract. Every state change of an order or its payment appends
//! one [`Event`] in the same transaction as the change, through [`append`] or
//! [`append_all`] (nothing else writes `events`). The `mypage` read model is folded from
//! these rows by the trigger `mypage_apply_event` (see the event_contract migration);
//! [`fold`] is the same fold in Rust, the reference the trigger is tested against.
//!
//! Most events are about an order (`aggregate_type` `order`, the order id as
//! `aggregate_id`); [`Event::aggregate_type`] names the others (`coupon`: a waitlist hold,
//! about the coupon whose unit is held). Only order events have my-page branches: the
//! trigger and [`fold`] both pass over the others.
//!
//! A row stores the variant's name (`event_type`), its payload's `version` and the
//! payload struct as JSON (`payload`). Every event that changes a status carries the
//! order's [`OrderState`] after the change (the same value the code wrote to `orders`).
//!
//! Adding an event: a payload struct and a variant here (the compiler then asks for its
//! `version` and its branch in [`fold::apply`]); a branch `('Name', version)` in
//! `mypage_apply_event` (a new migration that replaces the function); a sample in
//! `server/tests/api/readmodel.rs`, which fails until the variant, the trigger and the
//! fold agree on every field. An event about another aggregate gets no my-page branch:
//! its [`Event::aggregate_type`] says which, and the test checks that the projection passes
//! over it. Then who is told of it: its arm in `crate::notifications::rules::for_event`
//! (the compiler asks) and, if someone is, its branch in `notifications_from_event` (a
//! migration replacing the function) and a sample in `server/tests/api/notifications.rs`,
//! which compares the two. Changing a payload's shape: a new version of that event, with a
//! new trigger branch beside the old one (rows of the old version stay in the log).

pub mod fold;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{CancelledBy, OrderState};
use crate::error::AppError;

/// A domain event about one order (the order id is the row's `aggregate_id`), or about a
/// coupon's waitlist (the coupon id), as [`Event::aggregate_type`] says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum Event {
    OrderPlaced(OrderPlaced),
    PaymentCompleted(PaymentCompleted),
    PaymentFailed(PaymentFailed),
    OrderCancelled(OrderCancelled),
    PaymentRefunded(PaymentRefunded),
    PaymentVoided(PaymentVoided),
    VoucherRedeemed(VoucherRedeemed),
    OrderExpired(OrderExpired),
    RestockHeld(RestockHeld),
    UnitsCancelled(UnitsCancelled),
    VoucherExpiring(VoucherExpiring),
}

/// A purchase was accepted: the order as it was bought (names and prices of that moment).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub customer_id: Uuid,
    pub coupon_id: Uuid,
    pub shop_id: Uuid,
    pub coupon_name: String,
    pub shop_name: String,
    pub quantity: i32,
    pub unit_price: i64,
    pub amount: i64,
    /// Always [`OrderState::PLACED`].
    #[serde(flatten)]
    pub state: OrderState,
}

/// The gateway charged the order. `vouchers`: the codes issued, one per unit; none when
/// the order was cancelled while the charge was under way (it is refunded next).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentCompleted {
    #[serde(flatten)]
    pub state: OrderState,
    pub payment_key: String,
    pub vouchers: Vec<String>,
}

/// The gateway declined the charge; the units went back to the stock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentFailed {
    #[serde(flatten)]
    pub state: OrderState,
    /// The gateway's code for the decline.
    pub reason: String,
}

/// The customer cancelled, or the shop refunded; the units went back to the stock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelled {
    #[serde(flatten)]
    pub state: OrderState,
    pub by: CancelledBy,
    pub reason: Option<String>,
    pub quantity: i32,
}

/// The charge of a cancelled order was given back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentRefunded {
    #[serde(flatten)]
    pub state: OrderState,
}

/// A cancelled order was never charged: nothing to give back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentVoided {
    #[serde(flatten)]
    pub state: OrderState,
}

/// A voucher of the order was used at the shop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoucherRedeemed {
    pub code: String,
}

/// The order was not paid by the payment deadline: it expired, its payment is void and its
/// units went back to the stock (or to the waitlist).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderExpired {
    /// Always [`OrderState::EXPIRED`].
    #[serde(flatten)]
    pub state: OrderState,
    pub quantity: i32,
}

/// A unit of a sold-out coupon that came back is held for `customer_id`, the next in its
/// waitlist, until `hold_until`: only they can buy it meanwhile. About the coupon
/// (`aggregate_type` `coupon`, the coupon id as `aggregate_id`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestockHeld {
    pub customer_id: Uuid,
    pub hold_until: chrono::DateTime<chrono::Utc>,
}

/// Units of the order were cancelled (by the customer, or all of them by the shop): their
/// vouchers are void, their stock came back, `refund` KRW is owed (0 for an unpaid order).
/// When no units remain, `OrderCancelled` follows in the same transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitsCancelled {
    pub by: CancelledBy,
    pub quantity: i32,
    pub refund: i64,
    /// After the use-by date: 90% of the price.
    pub late: bool,
    /// The codes of the cancelled units' vouchers (none for an unpaid order).
    pub vouchers: Vec<String>,
}

/// A reminder: the order's active vouchers reach their use-by date in `days` days (30 or 7);
/// `refundable` KRW (90%) stays refundable after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoucherExpiring {
    pub days: i32,
    pub valid_until: chrono::DateTime<chrono::Utc>,
    pub units: i32,
    pub refundable: i64,
}

/// An event that cannot be read back: no such type, or a version this code does not know.
#[derive(Debug, thiserror::Error)]
#[error("cannot read event {event_type} version {version}: {reason}")]
pub struct DecodeError {
    pub event_type: String,
    pub version: i16,
    pub reason: String,
}

impl Event {
    /// The row's `event_type`: the variant's name (the serde tag).
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::OrderPlaced(_) => "OrderPlaced",
            Event::PaymentCompleted(_) => "PaymentCompleted",
            Event::PaymentFailed(_) => "PaymentFailed",
            Event::OrderCancelled(_) => "OrderCancelled",
            Event::PaymentRefunded(_) => "PaymentRefunded",
            Event::PaymentVoided(_) => "PaymentVoided",
            Event::VoucherRedeemed(_) => "VoucherRedeemed",
            Event::OrderExpired(_) => "OrderExpired",
            Event::RestockHeld(_) => "RestockHeld",
            Event::UnitsCancelled(_) => "UnitsCancelled",
            Event::VoucherExpiring(_) => "VoucherExpiring",
        }
    }

    /// The row's `aggregate_type`: what its `aggregate_id` names.
    pub fn aggregate_type(&self) -> &'static str {
        match self {
            Event::RestockHeld(_) => "coupon",
            _ => "order",
        }
    }

    /// The version of the payload's shape this code writes. Version 1 is the shape every
    /// event had before versions were recorded (rows of that time read as version 1).
    pub fn version(&self) -> i16 {
        match self {
            Event::OrderPlaced(_)
            | Event::PaymentCompleted(_)
            | Event::PaymentFailed(_)
            | Event::OrderCancelled(_)
            | Event::PaymentRefunded(_)
            | Event::PaymentVoided(_)
            | Event::VoucherRedeemed(_)
            | Event::OrderExpired(_)
            | Event::RestockHeld(_)
            | Event::UnitsCancelled(_)
            | Event::VoucherExpiring(_) => 1,
        }
    }

    /// The order's statuses after this event; `None` for an event that moves none.
    pub fn state(&self) -> Option<OrderState> {
        match self {
            Event::OrderPlaced(e) => Some(e.state),
            Event::PaymentCompleted(e) => Some(e.state),
            Event::PaymentFailed(e) => Some(e.state),
            Event::OrderCancelled(e) => Some(e.state),
            Event::PaymentRefunded(e) => Some(e.state),
            Event::PaymentVoided(e) => Some(e.state),
            Event::OrderExpired(e) => Some(e.state),
            Event::VoucherRedeemed(_)
            | Event::RestockHeld(_)
            | Event::UnitsCancelled(_)
            | Event::VoucherExpiring(_) => None,
        }
    }

    /// The payload as stored in the row's `payload` column.
    pub fn payload(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut tagged)) => tagged.remove("payload").unwrap_or(Value::Null),
            // Plain structs of strings, numbers and ids always serialise to an object.
            _ => unreachable!("an event serialises to a tagged object"),
        }
    }

    /// Reads a stored row back (its `event_type`, `version` and `payload`).
    pub fn decode(event_type: &str, version: i16, payload: Value) -> Result<Event, DecodeError> {
        let error = |reason: String| DecodeError {
            event_type: event_type.to_string(),
            version,
            reason,
        };
        let event: Event = serde_json::from_value(serde_json::json!({
            "event_type": event_type, "payload": payload
        }))
        .map_err(|e| error(e.to_string()))?;
        if event.version() != version {
            return Err(error(format!(
                "this code reads version {}",
                event.version()
            )));
        }
        Ok(event)
    }
}

/// Appends `event` about `aggregate_id` (an order's id, or a coupon's for a coupon event),
/// tied to the request that caused it.
pub async fn append(
    conn: &mut PgConnection,
    aggregate_id: Uuid,
    event: &Event,
    request_id: Option<&str>,
) -> Result<(), AppError> {
    sqlx::query!(
        "insert into events (aggregate_type, aggregate_id, event_type, version, payload, request_id)
         values ($6, $1, $2, $3, $4, $5)",
        aggregate_id,
        event.event_type(),
        event.version(),
        event.payload(),
        request_id,
        event.aggregate_type()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One event of a batch: about `order_id` (for an event about a coupon: the coupon's id),
/// caused by request `request_id`.
#[derive(Clone, Debug)]
pub struct OrderEvent {
    pub order_id: Uuid,
    pub event: Event,
    pub request_id: Option<String>,
}

/// Appends the events in one statement, in the given order (a batch of purchases or of
/// payments; the my-page trigger still runs once per row).
pub async fn append_all(conn: &mut PgConnection, events: &[OrderEvent]) -> Result<(), AppError> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.order_id).collect();
    let aggregates: Vec<&str> = events.iter().map(|e| e.event.aggregate_type()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event.event_type()).collect();
    let versions: Vec<i16> = events.iter().map(|e| e.event.version()).collect();
    let payloads: Vec<Value> = events.iter().map(|e| e.event.payload()).collect();
    let request_ids: Vec<Option<&str>> = events.iter().map(|e| e.request_id.as_deref()).collect();
    sqlx::query!(
        r#"insert into events (aggregate_type, aggregate_id, event_type, version, payload, request_id)
           select t.aggregate_type, t.id, t.event_type, t.version, t.payload, t.request_id
           from unnest($1::uuid[], $2::text[], $3::int2[], $4::jsonb[], $5::text[], $6::text[])
                with ordinality as t(id, event_type, version, payload, request_id, aggregate_type, n)
           order by t.n"#,
        &ids,
        &types as _,
        &versions,
        &payloads,
        &request_ids as _,
        &aggregates as _
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CancelledBy, PaymentStatus};

    fn cancelled() -> Event {
        Event::OrderCancelled(OrderCancelled {
            state: OrderState::CANCELLED,
            by: CancelledBy::Owner,
            reason: None,
            quantity: 2,
        })
    }

    #[test]
    fn the_stored_type_is_the_serde_tag_and_the_payload_is_flat() {
        let event = cancelled();
        let tagged = serde_json::to_value(&event).unwrap();
        assert_eq!(tagged["event_type"], event.event_type());
        assert_eq!(
            event.payload(),
            serde_json::json!({ "status": "cancelled", "payment_status": "refund_pending",
                                "by": "owner", "reason": null, "quantity": 2 })
        );
        let back = Event::decode(event.event_type(), event.version(), event.payload()).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn decoding_refuses_an_unknown_type_a_wrong_version_and_a_missing_field() {
        let event = cancelled();
        assert!(Event::decode("OrderShipped", 1, event.payload()).is_err());
        let err = Event::decode(event.event_type(), 2, event.payload()).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
        let missing = serde_json::json!({ "status": "cancelled" });
        assert!(Event::decode("PaymentVoided", 1, missing).is_err());
    }

    #[test]
    fn only_a_redemption_and_a_hold_move_no_status() {
        let voided = OrderState::CANCELLED.with_payment(PaymentStatus::Voided);
        let e = Event::PaymentVoided(PaymentVoided { state: voided });
        assert_eq!(e.state(), Some(voided));
        let r = Event::VoucherRedeemed(VoucherRedeemed { code: "C".into() });
        assert_eq!(r.state(), None);
        let expired = Event::OrderExpired(OrderExpired {
            state: OrderState::EXPIRED,
            quantity: 1,
        });
        assert_eq!(expired.state(), Some(OrderState::EXPIRED));
        let held = Event::RestockHeld(RestockHeld {
            customer_id: Uuid::nil(),
            hold_until: chrono::DateTime::UNIX_EPOCH,
        });
        assert_eq!(held.state(), None);
    }

    #[test]
    fn a_hold_is_about_its_coupon_every_other_event_about_an_order() {
        let held = Event::RestockHeld(RestockHeld {
            customer_id: Uuid::nil(),
            hold_until: chrono::DateTime::UNIX_EPOCH,
        });
        assert_eq!(held.aggregate_type(), "coupon");
        assert_eq!(
            held.payload(),
            serde_json::json!({ "customer_id": Uuid::nil(), "hold_until": "1970-01-01T00:00:00Z" })
        );
        assert_eq!(cancelled().aggregate_type(), "order");
        let back = Event::decode("RestockHeld", 1, held.payload()).unwrap();
        assert_eq!(back, held);
    }
}
