//! The gateway calls of a planned job, and what they came to. A call's success or
//! failure is reported to the breaker; an error (`Err`) is what the job retries on.

use app::orders::repo::OrderRow;

use super::breaker::Breaker;
use super::gateway::{CallError, Gateway};
use super::plan::{Action, Outcome};

/// Makes the call `action` needs for `order`; `None` for an action without one.
pub async fn call(
    gateway: &Gateway,
    breaker: &Breaker,
    order: &OrderRow,
    action: &Action,
) -> Option<Result<Outcome, String>> {
    let called = match action {
        Action::Charge => charge(gateway, order).await,
        Action::Refund(key) => refund(gateway, order, key)
            .await
            .map(|()| Outcome::Refunded { found: None }),
        Action::FindCharge => find_and_refund(gateway, order).await,
        Action::RefundPart {
            refund_id,
            key,
            amount,
        } => refund_part(gateway, order, *refund_id, key, *amount)
            .await
            .map(|()| Outcome::PartRefunded {
                refund_id: *refund_id,
            }),
        Action::Defer(_) | Action::Remove | Action::Expire | Action::CloseRefunds => return None,
    };
    match &called {
        Ok(_) => breaker.record_success(),
        Err(_) => breaker.record_failure(),
    }
    Some(called)
}

async fn charge(gateway: &Gateway, order: &OrderRow) -> Result<Outcome, String> {
    match gateway
        .confirm(order.id, order.amount, "Coupan coupon")
        .await
    {
        Ok(p) => Ok(Outcome::Charged(p.payment_key)),
        Err(CallError::Declined(code)) => Ok(Outcome::Declined(code)),
        Err(CallError::Transient(e)) => Err(e),
    }
}

/// Without a recorded charge, the gateway is asked: a charge may have gone through before
/// a crash. Nothing there means nothing to give back.
async fn find_and_refund(gateway: &Gateway, order: &OrderRow) -> Result<Outcome, String> {
    let found = match gateway.lookup(order.id).await {
        Ok(Some(p)) if matches!(p.status.as_str(), "DONE" | "PARTIAL_CANCELED" | "CANCELED") => {
            p.payment_key
        }
        Ok(_) => return Ok(Outcome::NothingCharged),
        Err(CallError::Transient(e)) => return Err(e),
        Err(CallError::Declined(e)) => return Err(format!("lookup refused: {e}")),
    };
    refund(gateway, order, &found).await?;
    Ok(Outcome::Refunded { found: Some(found) })
}

async fn refund(gateway: &Gateway, order: &OrderRow, key: &str) -> Result<(), String> {
    match gateway
        .cancel(order.id, key, "order cancelled, or expired unpaid")
        .await
    {
        Ok(_) => Ok(()),
        Err(CallError::Declined(code)) => {
            // A refund must not be dropped silently: keep retrying, loudly.
            tracing::error!(code, "the gateway refused a refund");
            Err(format!("refund refused: {code}"))
        }
        Err(CallError::Transient(e)) => Err(e),
    }
}

async fn refund_part(
    gateway: &Gateway,
    order: &OrderRow,
    refund_id: uuid::Uuid,
    key: &str,
    amount: i64,
) -> Result<(), String> {
    match gateway.cancel_part(order.id, refund_id, key, amount).await {
        Ok(_) => Ok(()),
        Err(CallError::Declined(code)) => {
            tracing::error!(code, %refund_id, "the gateway refused a partial refund");
            Err(format!("refund refused: {code}"))
        }
        Err(CallError::Transient(e)) => Err(e),
    }
}
