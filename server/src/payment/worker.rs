//! The payment worker: drives every order with queued payment work to a final state.
//!
//! Job rows (`payment_jobs`, one per order) are claimed in batches with `for update skip
//! locked` and stay locked, in one transaction, while the gateway is called (the batch's
//! calls run concurrently) and every outcome is recorded; the batch commits once. Several
//! workers and several app processes never work on the same order at once, and a crashed
//! worker's jobs simply become claimable again. What to do is read from the order itself:
//!
//! | order, payment            | call                     | result                                      |
//! |---------------------------|--------------------------|---------------------------------------------|
//! | ordered, pending          | confirm                  | paid + vouchers, or payment_failed + stock back |
//! | cancelled, refund_pending | cancel (refund) / lookup | refunded, or voided if nothing was charged  |
//! | anything else             | none                     | job removed                                 |
//!
//! A charge that completes after the customer cancelled is recorded and then refunded on
//! the next turn. Gateway trouble (unreachable, 5xx, timeout) leaves the order as it is
//! and retries with exponential backoff and jitter; the circuit breaker stops calls while
//! the gateway keeps failing. Idempotency keys derived from the order id make every
//! repeated call harmless.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};
use std::time::Duration;

use app::domain::{OrderState, OrderStatus, PaymentStatus};
use app::error::AppError;
use app::events::{
    self, Event, OrderEvent, PaymentCompleted, PaymentFailed, PaymentRefunded, PaymentVoided,
};
use app::orders::repo::{self as orders, OrderRow};
use app::vouchers::repo as vouchers;
use rand::Rng;
use sqlx::{PgConnection, PgPool};
use tokio::sync::{Notify, watch};
use tracing::Instrument;
use uuid::Uuid;

use super::breaker::Breaker;
use super::gateway::{CallError, Gateway};

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub tasks: usize,
    /// Most jobs one task claims, calls and settles in one transaction.
    pub batch_max: usize,
    pub poll_interval: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            tasks: 4,
            batch_max: 64,
            poll_interval: Duration::from_secs(1),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// What one turn of the worker did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// No job was ready.
    Idle,
    /// The order's payment reached a final state.
    Done(Uuid),
    /// More work follows for the order (a refund after a late charge).
    Continue(Uuid),
    /// The gateway failed or the breaker is open: retried later.
    Retry(Uuid),
}

#[derive(Clone)]
pub struct Worker {
    pool: PgPool,
    gateway: Gateway,
    breaker: Arc<Breaker>,
    settings: WorkerSettings,
    /// Unix seconds of the last loop of any task (readiness reads it).
    heartbeat: Arc<AtomicI64>,
}

/// A claimed job.
struct Job {
    order_id: Uuid,
    attempts: i32,
    span: tracing::Span,
}

/// What a claimed job needs.
enum Plan {
    /// A gateway call: charge (`true`) or refund the order.
    Call(OrderRow, bool),
    /// The breaker is open: try again after this.
    Defer(Duration),
    /// Nothing (the order's payment is settled already): drop the job.
    Remove,
}

fn count(jobs: usize, outcome: &'static str) {
    metrics::counter!(crate::metrics::PAYMENT_JOBS, "outcome" => outcome).increment(jobs as u64);
}

enum Outcome {
    Charged(String),
    Declined(String),
    Refunded(Option<String>),
    Voided,
}

impl Worker {
    pub fn new(
        pool: PgPool,
        gateway: Gateway,
        breaker: Arc<Breaker>,
        settings: WorkerSettings,
    ) -> Worker {
        let heartbeat = Arc::new(AtomicI64::new(chrono::Utc::now().timestamp()));
        Worker {
            pool,
            gateway,
            breaker,
            settings,
            heartbeat,
        }
    }

    pub fn heartbeat(&self) -> Arc<AtomicI64> {
        self.heartbeat.clone()
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    fn backoff(&self, attempts: i32) -> Duration {
        let exp = self
            .settings
            .backoff_base
            .saturating_mul(1u32 << attempts.clamp(0, 16) as u32);
        let capped = exp.min(self.settings.backoff_max);
        capped.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
    }

    /// Claims one ready job and moves its order one step (a batch of one: the same path
    /// as the worker loops). Errors are database errors; the transaction is rolled back
    /// and the job stays queued.
    pub async fn run_once(&self) -> Result<Step, AppError> {
        Ok(self
            .run_batch(1)
            .await?
            .into_iter()
            .next()
            .unwrap_or(Step::Idle))
    }

    /// Claims up to `max` ready jobs in one transaction, makes their gateway calls
    /// concurrently, records every outcome and commits once; one `Step` per job (none when
    /// nothing was ready). A database error rolls the whole batch back and its jobs stay
    /// queued: the calls already made are repeated on the next turn, which their
    /// idempotency keys make harmless. Everything logged for a job carries its `order_id`
    /// (a `payment_job` span), and each job counts in `coupan_payment_jobs_total{outcome}`.
    pub async fn run_batch(&self, max: usize) -> Result<Vec<Step>, AppError> {
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query!(
            "select order_id, attempts from payment_jobs where run_after <= now()
             order by run_after limit $1 for update skip locked",
            max.max(1) as i64
        )
        .fetch_all(&mut *tx)
        .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let jobs: Vec<Job> = claimed
            .into_iter()
            .map(|j| Job {
                span: tracing::info_span!(
                    "payment_job",
                    order_id = %j.order_id,
                    attempt = j.attempts + 1
                ),
                order_id: j.order_id,
                attempts: j.attempts,
            })
            .collect();
        match self.process(&mut *tx, &jobs).await {
            Ok(done) => {
                tx.commit()
                    .await
                    .inspect_err(|_| count(jobs.len(), "error"))?;
                Ok(done
                    .into_iter()
                    .map(|(step, outcome)| {
                        count(1, outcome);
                        step
                    })
                    .collect())
            }
            Err(e) => {
                count(jobs.len(), "error");
                Err(e)
            }
        }
    }

    /// The batch's work in its transaction: what each job needs (from its order), the
    /// gateway calls (concurrently), then each outcome recorded; a step and an outcome
    /// label per job.
    async fn process(
        &self,
        tx: &mut PgConnection,
        jobs: &[Job],
    ) -> Result<Vec<(Step, &'static str)>, AppError> {
        let ids: Vec<Uuid> = jobs.iter().map(|j| j.order_id).collect();
        let mut orders_by_id: HashMap<Uuid, OrderRow> = orders::get_many(&mut *tx, &ids, false)
            .await?
            .into_iter()
            .map(|o| (o.id, o))
            .collect();
        let mut plans = Vec::with_capacity(jobs.len());
        for job in jobs {
            let order = orders_by_id
                .remove(&job.order_id)
                .ok_or(AppError::Internal)?;
            let plan = match (order.status, order.payment_status) {
                (OrderStatus::Ordered, PaymentStatus::Pending) => Plan::Call(order, true),
                (OrderStatus::Cancelled, PaymentStatus::RefundPending) => Plan::Call(order, false),
                _ => Plan::Remove,
            };
            // In the half-open state the breaker lets one call through: the rest wait.
            let plan = match plan {
                Plan::Call(..) => match self.breaker.allow() {
                    Ok(()) => plan,
                    Err(wait) => Plan::Defer(wait),
                },
                other => other,
            };
            plans.push(plan);
        }
        let calls = jobs.iter().zip(&plans).map(|(job, plan)| {
            async move {
                let Plan::Call(order, charge) = plan else {
                    return None;
                };
                let called = if *charge {
                    self.charge(order).await
                } else {
                    self.refund(order).await
                };
                match &called {
                    Ok(_) => self.breaker.record_success(),
                    Err(_) => self.breaker.record_failure(),
                }
                Some(called)
            }
            .instrument(job.span.clone())
        });
        let results = futures::future::join_all(calls).await;
        // The orders called for, locked now (a cancel may have come in meanwhile).
        let called: Vec<Uuid> = jobs
            .iter()
            .zip(&plans)
            .filter(|(_, p)| matches!(p, Plan::Call(..)))
            .map(|(j, _)| j.order_id)
            .collect();
        let mut locked: HashMap<Uuid, OrderRow> = orders::get_many(&mut *tx, &called, true)
            .await?
            .into_iter()
            .map(|o| (o.id, o))
            .collect();
        let mut paid = Vec::new();
        let mut done = Vec::with_capacity(jobs.len());
        for ((job, plan), called) in jobs.iter().zip(plans).zip(results) {
            let settled = async {
                match (plan, called) {
                    (Plan::Remove, _) => {
                        delete_jobs(&mut *tx, &[job.order_id]).await?;
                        Ok((Step::Done(job.order_id), "removed"))
                    }
                    (Plan::Defer(wait), _) => {
                        reschedule(&mut *tx, job.order_id, wait, None).await?;
                        Ok((Step::Retry(job.order_id), "deferred"))
                    }
                    (Plan::Call(..), Some(Ok(outcome))) => {
                        let order = locked.remove(&job.order_id).ok_or(AppError::Internal)?;
                        apply(&mut *tx, order, outcome, &mut paid).await
                    }
                    (Plan::Call(..), failed) => {
                        let e = match failed {
                            Some(Err(e)) => e,
                            _ => "no call was made".to_string(),
                        };
                        let wait = self.backoff(job.attempts);
                        tracing::warn!(retry_in_ms = wait.as_millis() as u64, error = %e, "payment call failed; will retry");
                        reschedule(&mut *tx, job.order_id, wait, Some(&e)).await?;
                        Ok((Step::Retry(job.order_id), "retry"))
                    }
                }
            }
            .instrument(job.span.clone())
            .await?;
            done.push(settled);
        }
        settle_paid(&mut *tx, paid).await?;
        Ok(done)
    }

    async fn charge(&self, order: &OrderRow) -> Result<Outcome, String> {
        match self
            .gateway
            .confirm(order.id, order.amount, "Coupan coupon")
            .await
        {
            Ok(p) => Ok(Outcome::Charged(p.payment_key)),
            Err(CallError::Declined(code)) => Ok(Outcome::Declined(code)),
            Err(CallError::Transient(e)) => Err(e),
        }
    }

    async fn refund(&self, order: &OrderRow) -> Result<Outcome, String> {
        // Without a recorded charge, ask the gateway: a charge may have gone through
        // before a crash. Nothing there means nothing to give back.
        let key = match &order.payment_key {
            Some(k) => Some(k.clone()),
            None => match self.gateway.lookup(order.id).await {
                Ok(Some(p)) if p.status == "DONE" || p.status == "CANCELED" => Some(p.payment_key),
                Ok(_) => None,
                Err(CallError::Transient(e)) => return Err(e),
                Err(CallError::Declined(e)) => return Err(format!("lookup refused: {e}")),
            },
        };
        let Some(key) = key else {
            return Ok(Outcome::Voided);
        };
        match self
            .gateway
            .cancel(order.id, &key, "cancelled by the customer or the shop")
            .await
        {
            Ok(_) => Ok(Outcome::Refunded(
                order.payment_key.is_none().then_some(key),
            )),
            Err(CallError::Declined(code)) => {
                // A refund must not be dropped silently: keep retrying, loudly.
                tracing::error!(code, "the gateway refused a refund");
                Err(format!("refund refused: {code}"))
            }
            Err(CallError::Transient(e)) => Err(e),
        }
    }

    /// Processes ready jobs until none is left (tests drive the saga with this).
    pub async fn drain(&self) -> Result<usize, AppError> {
        let mut n = 0;
        loop {
            match self.run_batch(self.settings.batch_max).await?.len() {
                0 => return Ok(n),
                k => n += k,
            }
        }
    }

    /// Runs `settings.tasks` worker loops until `shutdown` turns true; each finishes the
    /// job in hand first. Woken by `NOTIFY payment_jobs`, polling as the fallback.
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let wake = Arc::new(Notify::new());
        let mut handles = vec![tokio::spawn(listen(
            self.pool.clone(),
            wake.clone(),
            shutdown.clone(),
        ))];
        for _ in 0..self.settings.tasks.max(1) {
            let worker = self.clone();
            let wake = wake.clone();
            let mut shutdown = shutdown.clone();
            handles.push(tokio::spawn(async move {
                while !*shutdown.borrow() {
                    worker
                        .heartbeat
                        .store(chrono::Utc::now().timestamp(), AtomicOrdering::Relaxed);
                    match worker.run_batch(worker.settings.batch_max).await {
                        Ok(steps) if steps.is_empty() => {
                            tokio::select! {
                                _ = wake.notified() => {}
                                _ = tokio::time::sleep(worker.settings.poll_interval) => {}
                                _ = shutdown.changed() => {}
                            }
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(worker.settings.poll_interval).await,
                    }
                }
            }));
        }
        handles
    }
}

/// Wakes the worker loops on `NOTIFY payment_jobs`. The LISTEN connection is opened again
/// whenever it breaks (PostgreSQL restarted, the connection was killed): right away by
/// sqlx when the database answers, else here, with a pause growing from 0.5 s to 5 s;
/// until then the loops poll. Once listening again the loops are woken, so that work
/// queued meanwhile does not wait for the next poll.
async fn listen(pool: PgPool, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    const FIRST_PAUSE: Duration = Duration::from_millis(500);
    const MAX_PAUSE: Duration = Duration::from_secs(5);
    let mut pause = FIRST_PAUSE;
    let mut lost = false;
    while !*shutdown.borrow() {
        let connect = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen("payment_jobs").await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match connect.await {
            Ok(l) => l,
            Err(e) => {
                if !lost {
                    tracing::warn!(error = %e, "cannot LISTEN for payment work; polling");
                    lost = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => return,
                }
                pause = (pause * 2).min(MAX_PAUSE);
                continue;
            }
        };
        if lost {
            tracing::info!("listening for payment work again");
        }
        pause = FIRST_PAUSE;
        wake.notify_waiters();
        loop {
            tokio::select! {
                n = listener.recv() => match n {
                    Ok(_) => wake.notify_waiters(),
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the LISTEN connection; polling until it is back");
                        lost = true;
                        break;
                    }
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}

async fn delete_jobs(conn: &mut PgConnection, order_ids: &[Uuid]) -> Result<(), AppError> {
    sqlx::query!(
        "delete from payment_jobs where order_id = any($1)",
        order_ids
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn reschedule(
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

/// An order whose charge went through while it was still `ordered`: settled with the
/// batch's other paid orders by `settle_paid`.
struct Paid {
    order: OrderRow,
    payment_key: String,
    /// The job's span, for the line logged once it is recorded.
    span: tracing::Span,
}

/// Records the outcome of a gateway call for the (locked) order, with its event, in the
/// batch's transaction; the step and its outcome label. A charge of an order still
/// `ordered` (the common case) is only collected into `paid`: the batch records those
/// together (`settle_paid`).
async fn apply(
    conn: &mut PgConnection,
    order: OrderRow,
    outcome: Outcome,
    paid: &mut Vec<Paid>,
) -> Result<(Step, &'static str), AppError> {
    let order_id = order.id;
    let request_id = order.request_id.as_deref();
    match outcome {
        Outcome::Charged(key) => {
            if order.status == OrderStatus::Ordered {
                paid.push(Paid {
                    order,
                    payment_key: key,
                    span: tracing::Span::current(),
                });
                Ok((Step::Done(order_id), "paid"))
            } else {
                // Cancelled while the charge was under way: record it, refund it next.
                orders::record_charge(conn, order_id, &key).await?;
                let event = Event::PaymentCompleted(PaymentCompleted {
                    state: order.state(),
                    payment_key: key,
                    vouchers: Vec::new(),
                });
                events::append(conn, order_id, &event, request_id).await?;
                reschedule(conn, order_id, Duration::ZERO, None).await?;
                tracing::info!("payment completed after cancel; refunding");
                Ok((Step::Continue(order_id), "continued"))
            }
        }
        Outcome::Declined(code) => {
            if order.status == OrderStatus::Ordered {
                let state = moved(&order, OrderState::PAYMENT_FAILED)?;
                orders::set_state(conn, order_id, state).await?;
                orders::add_stock(conn, order.coupon_id, i64::from(order.quantity)).await?;
                let event = Event::PaymentFailed(PaymentFailed {
                    state,
                    reason: code.clone(),
                });
                events::append(conn, order_id, &event, request_id).await?;
                tracing::info!(code, "payment declined; stock restored");
            } else {
                void(conn, &order).await?;
            }
            delete_jobs(conn, &[order_id]).await?;
            Ok((Step::Done(order_id), "declined"))
        }
        Outcome::Refunded(found_key) => {
            if let Some(key) = found_key {
                orders::record_charge(conn, order_id, &key).await?;
            }
            let state = moved(&order, order.state().with_payment(PaymentStatus::Refunded))?;
            orders::record_refund(conn, order_id, state).await?;
            let event = Event::PaymentRefunded(PaymentRefunded { state });
            events::append(conn, order_id, &event, request_id).await?;
            delete_jobs(conn, &[order_id]).await?;
            tracing::info!("payment refunded");
            Ok((Step::Done(order_id), "refunded"))
        }
        Outcome::Voided => {
            void(conn, &order).await?;
            delete_jobs(conn, &[order_id]).await?;
            Ok((Step::Done(order_id), "voided"))
        }
    }
}

/// Records the batch's paid orders with one statement each: statuses and charge keys,
/// their vouchers, their `PaymentCompleted` events (the my-page trigger runs per event),
/// and their jobs gone.
async fn settle_paid(conn: &mut PgConnection, paid: Vec<Paid>) -> Result<(), AppError> {
    if paid.is_empty() {
        return Ok(());
    }
    let keys: Vec<(Uuid, String)> = paid
        .iter()
        .map(|p| (p.order.id, p.payment_key.clone()))
        .collect();
    for p in &paid {
        moved(&p.order, OrderState::PAID)?;
    }
    orders::mark_paid(conn, &keys, OrderState::PAID).await?;
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
                state: OrderState::PAID,
                payment_key: p.payment_key.clone(),
                vouchers: codes,
            }),
            request_id: p.order.request_id.clone(),
        })
        .collect();
    events::append_all(conn, &completed).await?;
    let ids: Vec<Uuid> = paid.iter().map(|p| p.order.id).collect();
    delete_jobs(conn, &ids).await?;
    for p in &paid {
        p.span.in_scope(|| tracing::info!("payment completed"));
    }
    Ok(())
}

/// `next`, if the status machines allow the order to move there.
fn moved(order: &OrderRow, next: OrderState) -> Result<OrderState, AppError> {
    order.state().to(next).map_err(|e| {
        tracing::error!(error = %e, "the status machines refuse this payment outcome");
        AppError::Internal
    })
}

async fn void(conn: &mut PgConnection, order: &OrderRow) -> Result<(), AppError> {
    let state = moved(order, order.state().with_payment(PaymentStatus::Voided))?;
    orders::set_state(conn, order.id, state).await?;
    let event = Event::PaymentVoided(PaymentVoided { state });
    events::append(conn, order.id, &event, order.request_id.as_deref()).await?;
    tracing::info!("payment voided: nothing was charged");
    Ok(())
}
