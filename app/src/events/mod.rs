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

/// Appends one event of `event_type` per (order, payload, request id), in one statement
/// and in the given order.
pub async fn append_order_events(
    conn: &mut PgConnection,
    event_type: &str,
    events: &[(Uuid, Value, Option<String>)],
) -> Result<(), AppError> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.0).collect();
    let payloads: Vec<Value> = events.iter().map(|e| e.1.clone()).collect();
    let request_ids: Vec<Option<String>> = events.iter().map(|e| e.2.clone()).collect();
    sqlx::query!(
        r#"insert into events (aggregate_type, aggregate_id, event_type, payload, request_id)
           select 'order', t.id, $2, t.payload, t.request_id
           from unnest($1::uuid[], $3::jsonb[], $4::text[]) with ordinality as t(id, payload, request_id, n)
           order by t.n"#,
        &ids,
        event_type,
        &payloads,
        &request_ids as _
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
