//! Recording what each job of a batch came to, in the batch's transaction: the order's
//! new state (asked of the status machines by `plan::after_call`), its event, its job row
//! removed or rescheduled. Paid orders, the common case, are recorded together, set-based
//! (one statement each for the orders, their vouchers, their events and their jobs).

use std::collections::HashMap;
use std::time::Duration;

use app::domain::{OrderState, PaymentStatus};
use app::error::AppError;
use app::events::{
    self, Event, OrderEvent, PaymentCompleted, PaymentFailed, PaymentRefunded, PaymentVoided,
};
use app::orders::repo::{self as orders, OrderRow};
use app::vouchers::repo as vouchers;
use sqlx::PgConnection;
use tracing::Instrument;
use uuid::Uuid;

use super::claim::{self, Job};
use super::expire;
use super::plan::{self, Action, Settlement, VoidReason};
use app::waitlist::WaitlistSettings;
use app::waitlist::service::give_back;

/// What one turn of the worker did with a job.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// No job was ready.
    Idle,
    /// The order's payment reached a final state (or had already).
    Done(Uuid),
    /// More work follows for the order (a refund after a late charge).
    Continue(Uuid),
    /// The gateway failed or the breaker is open: retried later.
    Retry(Uuid),
}

impl Settlement {
    /// The turn's step and its label in `coupan_payment_jobs_total{outcome}`.
    pub fn step(&self, order_id: Uuid) -> (Step, &'static str) {
        match self {
            Settlement::Paid { .. } => (Step::Done(order_id), "paid"),
            Settlement::LateCharge { .. } => (Step::Continue(order_id), "continued"),
            Settlement::Fail { .. } => (Step::Done(order_id), "declined"),
            Settlement::Refund { .. } => (Step::Done(order_id), "refunded"),
            // `Continue` instead when another refund of the order is owed (see `record`).
            Settlement::PartRefunded { .. } => (Step::Done(order_id), "refunded"),
            Settlement::Void { why, .. } => match why {
                VoidReason::Declined => (Step::Done(order_id), "declined"),
                VoidReason::NothingCharged => (Step::Done(order_id), "voided"),
            },
        }
    }
}

/// What settling needs for units that come back and for expiries.
#[derive(Clone, Copy, Debug)]
pub struct Expiry {
    /// Units that come back are held for the coupon's waitlist this long.
    pub waitlist: WaitlistSettings,
    /// An expired order's job asks the gateway for a charge after this.
    pub recheck_after: Duration,
}

/// Records every job's result; a step and an outcome label per job, in order. `backoff`
/// gives the pause before retrying a job after its failed attempts.
pub async fn settle(
    conn: &mut PgConnection,
    jobs: Vec<Job>,
    backoff: impl Fn(i32) -> Duration,
    expiry: Expiry,
) -> Result<Vec<(Step, &'static str)>, AppError> {
    // The orders called for or to expire, locked now (a cancel may have come in meanwhile).
    let called: Vec<Uuid> = jobs
        .iter()
        .filter(|j| {
            j.action.calls_gateway() || matches!(j.action, Action::Expire | Action::CloseRefunds)
        })
        .map(|j| j.order_id)
        .collect();
    let mut locked: HashMap<Uuid, OrderRow> = orders::get_many(&mut *conn, &called, true)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let mut paid = Vec::new();
    let mut done = Vec::with_capacity(jobs.len());
    for job in jobs {
        let span = job.span.clone();
        let step = settle_one(&mut *conn, job, &mut locked, &backoff, expiry, &mut paid)
            .instrument(span)
            .await?;
        done.push(step);
    }
    record_paid(conn, paid).await?;
    Ok(done)
}

async fn settle_one(
    conn: &mut PgConnection,
    mut job: Job,
    locked: &mut HashMap<Uuid, OrderRow>,
    backoff: &impl Fn(i32) -> Duration,
    expiry: Expiry,
    paid: &mut Vec<Paid>,
) -> Result<(Step, &'static str), AppError> {
    let id = job.order_id;
    match (&job.action, job.called.take()) {
        (Action::Remove, _) => {
            claim::remove(conn, &[id]).await?;
            Ok((Step::Done(id), "removed"))
        }
        (Action::Expire, _) => {
            let order = locked.remove(&id).ok_or(AppError::Internal)?;
            if expire::expire(conn, &order, expiry.waitlist, expiry.recheck_after).await? {
                Ok((Step::Continue(id), "expired"))
            } else {
                // Something else happened to it first: the next turn plans again.
                claim::reschedule(conn, id, Duration::ZERO, None).await?;
                Ok((Step::Continue(id), "continued"))
            }
        }
        (Action::CloseRefunds, _) => {
            let order = locked.remove(&id).ok_or(AppError::Internal)?;
            close_refunds(conn, &order).await?;
            claim::remove(conn, &[id]).await?;
            Ok((Step::Done(id), "refunded"))
        }
        (Action::Defer(wait), _) => {
            claim::reschedule(conn, id, *wait, None).await?;
            Ok((Step::Retry(id), "deferred"))
        }
        (_, Some(Ok(outcome))) => {
            job.order = locked.remove(&id).ok_or(AppError::Internal)?;
            let settlement = plan::after_call(outcome, job.order.state()).map_err(|e| {
                tracing::error!(error = %e, "the status machines refuse this payment outcome");
                AppError::Internal
            })?;
            let (step, label) = settlement.step(id);
            let more = record(conn, job.order, settlement, expiry.waitlist, paid).await?;
            Ok((if more { Step::Continue(id) } else { step }, label))
        }
        (_, failed) => {
            let error = match failed {
                Some(Err(e)) => e,
                _ => "no call was made".to_string(),
            };
            let wait = backoff(job.attempts);
            tracing::warn!(retry_in_ms = wait.as_millis() as u64, error = %error, "payment call failed; will retry");
            claim::reschedule(conn, id, wait, Some(&error)).await?;
            Ok((Step::Retry(id), "retry"))
        }
    }
}

/// An order charged while it was still `ordered`: recorded with the batch's other paid
/// orders by `record_paid`.
struct Paid {
    order: OrderRow,
    payment_key: String,
    /// The job's span, for the line logged once it is recorded.
    span: tracing::Span,
}

/// Records one settlement of the (locked) `order`, with its event; a paid order is only
/// collected into `paid`. `true` when the order's job runs again (another refund owed).
async fn record(
    conn: &mut PgConnection,
    order: OrderRow,
    settlement: Settlement,
    waitlist: WaitlistSettings,
    paid: &mut Vec<Paid>,
) -> Result<bool, AppError> {
    let id = order.id;
    let request_id = order.request_id.as_deref();
    match settlement {
        Settlement::Paid { key } => {
            paid.push(Paid {
                order,
                payment_key: key,
                span: tracing::Span::current(),
            });
            return Ok(false);
        }
        Settlement::LateCharge { key, state } => {
            orders::record_charge(conn, id, &key).await?;
            if state != order.state() {
                orders::set_state(conn, id, state).await?;
            }
            let event = Event::PaymentCompleted(PaymentCompleted {
                state,
                payment_key: key,
                vouchers: Vec::new(),
            });
            events::append(conn, id, &event, request_id).await?;
            claim::reschedule(conn, id, Duration::ZERO, None).await?;
            tracing::info!("payment completed after cancel or expiry; refunding");
            return Ok(false);
        }
        Settlement::Fail { code, state } => {
            orders::set_state(conn, id, state).await?;
            let event = Event::PaymentFailed(PaymentFailed {
                state,
                reason: code.clone(),
            });
            events::append(conn, id, &event, request_id).await?;
            give_back(conn, waitlist, order.coupon_id, order.quantity, request_id).await?;
            tracing::info!(code, "payment declined; stock restored");
        }
        Settlement::Refund { found, state } => {
            if let Some(key) = found {
                orders::record_charge(conn, id, &key).await?;
            }
            orders::record_refund(conn, id, state).await?;
            let event = Event::PaymentRefunded(PaymentRefunded { state });
            events::append(conn, id, &event, request_id).await?;
            tracing::info!("payment refunded");
        }
        Settlement::Void { state, .. } => {
            orders::set_state(conn, id, state).await?;
            let event = Event::PaymentVoided(PaymentVoided { state });
            events::append(conn, id, &event, request_id).await?;
            tracing::info!("payment voided: nothing was charged");
        }
        Settlement::PartRefunded { refund_id } => {
            let owed = orders::mark_refund_done(conn, id, refund_id).await?;
            tracing::info!(%refund_id, "refund of cancelled units given back");
            if owed > 0 {
                // The next one on the next turn.
                claim::reschedule(conn, id, Duration::ZERO, None).await?;
                return Ok(true);
            }
            if order.state() == OrderState::CANCELLED {
                close_refunds(conn, &order).await?;
            }
        }
    }
    claim::remove(conn, &[id]).await?;
    Ok(false)
}

/// A cancelled order whose refunds were all given back: its payment is `refunded`
/// (`PaymentRefunded`).
async fn close_refunds(conn: &mut PgConnection, order: &OrderRow) -> Result<(), AppError> {
    let state = order
        .state()
        .to(order.state().with_payment(PaymentStatus::Refunded))
        .map_err(|e| {
            tracing::error!(error = %e, "the status machines refuse closing the refunds");
            AppError::Internal
        })?;
    orders::record_refund(conn, order.id, state).await?;
    let event = Event::PaymentRefunded(PaymentRefunded { state });
    events::append(conn, order.id, &event, order.request_id.as_deref()).await?;
    tracing::info!("payment refunded");
    Ok(())
}

/// Records the batch's paid orders with one statement each: state and charge keys, their
/// vouchers, their `PaymentCompleted` events (the my-page trigger runs per event), and
/// their jobs gone.
async fn record_paid(conn: &mut PgConnection, paid: Vec<Paid>) -> Result<(), AppError> {
    if paid.is_empty() {
        return Ok(());
    }
    // `plan::after_call` asked the status machines for each of these orders.
    let state = OrderState::PAID;
    let keys: Vec<(Uuid, String)> = paid
        .iter()
        .map(|p| (p.order.id, p.payment_key.clone()))
        .collect();
    orders::mark_paid(conn, &keys, state).await?;
    let issue: Vec<_> = paid
        .iter()
        .map(|p| {
            let o = &p.order;
            (o.id, o.shop_id, o.valid_until, o.quantity)
        })
        .collect();
    let codes = vouchers::issue(conn, &issue).await?;
    let completed: Vec<OrderEvent> = paid
        .iter()
        .zip(codes)
        .map(|(p, codes)| OrderEvent {
            order_id: p.order.id,
            event: Event::PaymentCompleted(PaymentCompleted {
                state,
                payment_key: p.payment_key.clone(),
                vouchers: codes,
            }),
            request_id: p.order.request_id.clone(),
        })
        .collect();
    events::append_all(conn, &completed).await?;
    let ids: Vec<Uuid> = paid.iter().map(|p| p.order.id).collect();
    claim::remove(conn, &ids).await?;
    for p in &paid {
        p.span.in_scope(|| tracing::info!("payment completed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_settlement_has_its_step_and_label() {
        let (id, state) = (Uuid::nil(), OrderState::PLACED);
        let void = |why| Settlement::Void { why, state };
        let cases = [
            (Settlement::Paid { key: "k".into() }, Step::Done(id), "paid"),
            (
                Settlement::LateCharge {
                    key: "k".into(),
                    state,
                },
                Step::Continue(id),
                "continued",
            ),
            (
                Settlement::Fail {
                    code: "c".into(),
                    state,
                },
                Step::Done(id),
                "declined",
            ),
            (
                Settlement::Refund { found: None, state },
                Step::Done(id),
                "refunded",
            ),
            (void(VoidReason::Declined), Step::Done(id), "declined"),
            (void(VoidReason::NothingCharged), Step::Done(id), "voided"),
            (
                Settlement::PartRefunded { refund_id: id },
                Step::Done(id),
                "refunded",
            ),
        ];
        for (settlement, step, label) in cases {
            assert_eq!(settlement.step(id), (step, label));
        }
    }
}
