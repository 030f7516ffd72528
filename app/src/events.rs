//! The append-only event log. Every state change of an order or its payment appends one
//! event in the same transaction as the change; the `mypage` read model is folded from
//! these rows by a trigger (see the orders_saga migration).

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::AppError;

pub const ORDER_PLACED: &str = "OrderPlaced";
pub const PAYMENT_COMPLETED: &str = "PaymentCompleted";
pub const PAYMENT_FAILED: &str = "PaymentFailed";
pub const ORDER_CANCELLED: &str = "OrderCancelled";
pub const PAYMENT_REFUNDED: &str = "PaymentRefunded";
pub const PAYMENT_VOIDED: &str = "PaymentVoided";
pub const VOUCHER_REDEEMED: &str = "VoucherRedeemed";

/// Appends an event about order `order_id` (the correlation key).
pub async fn append_order_event(
    conn: &mut PgConnection,
    order_id: Uuid,
    event_type: &str,
    payload: Value,
    request_id: Option<&str>,
) -> Result<(), AppError> {
    sqlx::query!(
        "insert into events (aggregate_type, aggregate_id, event_type, payload, request_id) values ('order', $1, $2, $3, $4)",
        order_id,
        event_type,
        payload,
        request_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
