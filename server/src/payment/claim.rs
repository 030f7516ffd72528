//! Claiming payment jobs, and the job rows' bookkeeping. A job row (`payment_jobs`, one
//! per order) is claimed with `for update skip locked` and stays locked until the batch's
//! transaction ends: several workers and several app processes never work on the same
//! order at once, and a crashed worker's jobs simply become claimable again.

use std::time::Duration;

use app::error::AppError;
use app::orders::repo::OrderRow;
use sqlx::PgConnection;
use uuid::Uuid;

use super::plan::{Action, Outcome};

/// A claimed job row.
pub struct Claimed {
    pub order_id: Uuid,
    /// Failed calls so far.
    pub attempts: i32,
}

/// One job of a batch, from its claim to its settlement.
pub struct Job {
    pub order_id: Uuid,
    pub attempts: i32,
    /// Everything logged for the job carries its `order_id` (span `payment_job`).
    pub span: tracing::Span,
    /// The order as read when planning; replaced by the locked row before settling.
    pub order: OrderRow,
    pub action: Action,
    /// What the gateway call came to; `None` until it is made (and for an action
    /// without a call).
    pub called: Option<Result<Outcome, String>>,
}

/// Claims up to `max` ready jobs, oldest first; they stay locked until the transaction
/// ends.
pub async fn claim(conn: &mut PgConnection, max: usize) -> Result<Vec<Claimed>, AppError> {
    let rows = sqlx::query!(
        "select order_id, attempts from payment_jobs where run_after <= now()
         order by run_after limit $1 for update skip locked",
        max.max(1) as i64
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Claimed {
            order_id: r.order_id,
            attempts: r.attempts,
        })
        .collect())
}

/// The oldest order still waiting for payment `deadline` after it was placed, its row and
/// its job row locked; orders or jobs another transaction holds (a worker calling the
/// gateway for it, another sweep) are skipped. Every such order has a job (the purchase
/// queues it in the same transaction), so the search starts from the queue, which holds
/// only orders with payment work left (no index on `orders` that every purchase would pay
/// for).
pub async fn overdue(
    conn: &mut PgConnection,
    deadline: Duration,
) -> Result<Option<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        "select o.id from payment_jobs j join orders o on o.id = j.order_id
         where o.status = 'ordered' and o.ordered_at <= now() - make_interval(secs => $1)
         order by o.ordered_at limit 1
         for update of o, j skip locked",
        deadline.as_secs_f64()
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Drops the orders' jobs: their payments reached a final state.
pub async fn remove(conn: &mut PgConnection, order_ids: &[Uuid]) -> Result<(), AppError> {
    sqlx::query!(
        "delete from payment_jobs where order_id = any($1)",
        order_ids
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Runs the job again after `wait`; with an `error`, one more failed attempt.
pub async fn reschedule(
    conn: &mut PgConnection,
    order_id: Uuid,
    wait: Duration,
    error: Option<&str>,
) -> Result<(), AppError> {
    sqlx::query!(
        "update payment_jobs set run_after = now() + make_interval(secs => $2),
                attempts = attempts + case when $3::text is null then 0 else 1 end,
                last_error = coalesce($3, last_error)
         where order_id = $1",
        order_id,
        wait.as_secs_f64(),
        error
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
