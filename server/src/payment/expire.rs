//! The payment deadline: an order still waiting for payment `WorkerSettings::
//! payment_deadline` after it was placed expires. Its payment becomes `voided`, its units
//! come back (to the coupon's waitlist first), `OrderExpired` is appended, and no charge is
//! tried any more; its job stays for one last turn that asks the gateway whether a charge
//! landed meanwhile (a call that timed out, a worker that died after it) and gives it
//! back (`plan`: `FindCharge`, or `Refund` after a `LateCharge`). That turn comes one
//! gateway timeout after the expiry, so that a call which timed out on our side has had
//! its time at the gateway too.
//!
//! Who expires an order: whoever holds its job. A worker that claims an overdue order
//! expires it instead of charging it (`plan` says `Expire`); the sweep below, run by the
//! worker loops about once a second per process, expires the overdue orders whose jobs no
//! worker holds (waiting out a backoff, deferred by the breaker, or no worker running).
//! Both lock the order's row and its job row; the sweep skips rows another transaction
//! holds (`for update skip locked`), so a charge on its way is never overtaken, and two
//! replicas never expire the same order.

use std::time::Duration;

use app::error::AppError;
use app::events::{self, Event, OrderExpired};
use app::orders::repo::{self as orders, OrderRow};
use app::waitlist::WaitlistSettings;
use sqlx::{PgConnection, PgPool};

use super::{claim, plan};

/// Expires `order` (its row and its job row locked by the caller) if it is still waiting
/// for payment, and asks the gateway about it again after `recheck_after`; `false` when
/// something else happened to it first.
pub async fn expire(
    conn: &mut PgConnection,
    order: &OrderRow,
    waitlist: WaitlistSettings,
    recheck_after: Duration,
) -> Result<bool, AppError> {
    let state = plan::on_deadline(order.state()).map_err(|e| {
        tracing::error!(error = %e, "the status machines refuse the expiry");
        AppError::Internal
    })?;
    let Some(state) = state else {
        return Ok(false);
    };
    let request_id = order.request_id.as_deref();
    orders::set_state(conn, order.id, state).await?;
    let event = Event::OrderExpired(OrderExpired {
        state,
        quantity: order.quantity,
    });
    events::append(conn, order.id, &event, request_id).await?;
    app::waitlist::service::give_back(conn, waitlist, order.coupon_id, order.quantity, request_id)
        .await?;
    // One more turn: is there a charge to give back?
    claim::reschedule(conn, order.id, recheck_after, None).await?;
    tracing::info!(order_id = %order.id, "order expired unpaid; its units are back");
    Ok(true)
}

/// The sweep: expires up to `max` orders placed more than `deadline` ago and still waiting
/// for payment, whose jobs no worker holds, one transaction each (an order and its
/// coupon's row are locked in the same order as a cancel does). Returns how many expired.
pub async fn expire_overdue(
    pool: &PgPool,
    deadline: Duration,
    waitlist: WaitlistSettings,
    recheck_after: Duration,
    max: usize,
) -> Result<usize, AppError> {
    let mut expired = 0;
    for _ in 0..max {
        let mut tx = pool.begin().await?;
        let Some(id) = claim::overdue(&mut tx, deadline).await? else {
            tx.rollback().await?;
            break;
        };
        // Locked by the claim already.
        let order = orders::get(&mut tx, id, false)
            .await?
            .ok_or(AppError::Internal)?;
        if expire(&mut tx, &order, waitlist, recheck_after).await? {
            expired += 1;
        }
        tx.commit().await?;
    }
    Ok(expired)
}
