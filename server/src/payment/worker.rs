//! The payment worker: drives every order with queued payment work to a final state, in
//! batches. One turn (`run_batch`) is one transaction:
//!
//! 1. claim ready jobs (`claim`), read their orders and decide each one's action (`plan`);
//! 2. make the batch's gateway calls concurrently (`call`);
//! 3. lock the orders called for, decide and record what each call came to, paid orders
//!    together (`settle`); commit once.
//!
//! The loops sleep until `NOTIFY payment_jobs` wakes them (`listen`) or they poll. About
//! once per `sweep_every` one loop of the process also sweeps (`sweep`): it expires the
//! orders past their payment deadline that no worker holds (`expire`), passes on the
//! waitlist holds that ran out (`app::waitlist::service::lapse_due`), and sends the
//! reminders before vouchers' use-by dates (`app::vouchers::reminders`).
//! Refunds of cancelled units (`refunds` rows) are given back one call each, for their
//! amount only (`plan::plan_with_refunds`); a cancelled order's payment is `refunded` once
//! all of them were.
//! A charge that completes after the customer cancelled is recorded and then refunded on
//! the next turn. Gateway trouble (unreachable, 5xx, timeout) leaves the order as it is
//! and retries with exponential backoff and jitter; the circuit breaker stops calls while
//! the gateway keeps failing. Idempotency keys derived from the order id make every
//! repeated call harmless.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};
use std::time::Duration;

use app::error::AppError;
use app::orders::repo::{self as orders, OrderRow};
use app::waitlist::WaitlistSettings;
use rand::Rng;
use sqlx::{PgConnection, PgPool};
use tokio::sync::{Notify, watch};
use tracing::Instrument;
use uuid::Uuid;

use super::breaker::Breaker;
use super::claim::{self, Claimed, Job};
use super::expire;
use super::gateway::Gateway;
use super::plan;
use super::settle::Step;
use super::{call, listen, settle};

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub tasks: usize,
    /// Most jobs one task claims, calls and settles in one transaction.
    pub batch_max: usize,
    pub poll_interval: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// An order not paid this long after it was placed expires (see `expire.rs`).
    pub payment_deadline: Duration,
    /// Units that come back (declined, expired) are held for the waitlist this long.
    pub waitlist: WaitlistSettings,
    /// How often one loop of the process sweeps.
    pub sweep_every: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            tasks: 4,
            batch_max: 64,
            poll_interval: Duration::from_secs(1),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            payment_deadline: Duration::from_secs(900),
            waitlist: WaitlistSettings::default(),
            sweep_every: Duration::from_secs(1),
        }
    }
}

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Orders expired.
    pub expired: usize,
    /// Holds granted anew for units whose holds ran out.
    pub holds: usize,
    /// Reminders sent before vouchers' use-by dates.
    pub reminders: usize,
}

#[derive(Clone)]
pub struct Worker {
    pool: PgPool,
    gateway: Gateway,
    breaker: Arc<Breaker>,
    settings: WorkerSettings,
    /// Unix seconds of the last loop of any task (readiness reads it).
    heartbeat: Arc<AtomicI64>,
    /// Unix milliseconds of this process's last sweep.
    last_sweep: Arc<AtomicI64>,
}

fn count(jobs: usize, outcome: &'static str) {
    metrics::counter!(crate::metrics::PAYMENT_JOBS, "outcome" => outcome).increment(jobs as u64);
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
            last_sweep: Arc::new(AtomicI64::new(0)),
        }
    }

    pub fn heartbeat(&self) -> Arc<AtomicI64> {
        self.heartbeat.clone()
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    fn backoff(&self, attempts: i32) -> Duration {
        let jitter = rand::thread_rng().gen_range(0.5..1.5);
        let s = &self.settings;
        plan::backoff(attempts, s.backoff_base, s.backoff_max, jitter)
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
        let claimed = claim::claim(&mut tx, max).await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let n = claimed.len();
        match self.process(&mut tx, claimed).await {
            Ok(done) => {
                tx.commit().await.inspect_err(|_| count(n, "error"))?;
                Ok(done
                    .into_iter()
                    .map(|(step, outcome)| {
                        count(1, outcome);
                        step
                    })
                    .collect())
            }
            Err(e) => {
                count(n, "error");
                Err(e)
            }
        }
    }

    /// The batch's work in its transaction: plan, call (concurrently), settle.
    async fn process(
        &self,
        tx: &mut PgConnection,
        claimed: Vec<Claimed>,
    ) -> Result<Vec<(Step, &'static str)>, AppError> {
        let mut jobs = self.plan(tx, claimed).await?;
        let calls = jobs.iter_mut().map(|job| {
            let span = job.span.clone();
            async move {
                job.called =
                    call::call(&self.gateway, &self.breaker, &job.order, &job.action).await;
            }
            .instrument(span)
        });
        futures::future::join_all(calls).await;
        let expiry = settle::Expiry {
            waitlist: self.settings.waitlist,
            recheck_after: self.gateway.timeout(),
        };
        settle::settle(tx, jobs, |attempts| self.backoff(attempts), expiry).await
    }

    /// Reads the claimed jobs' orders and plans each job.
    async fn plan(
        &self,
        tx: &mut PgConnection,
        claimed: Vec<Claimed>,
    ) -> Result<Vec<Job>, AppError> {
        let ids: Vec<Uuid> = claimed.iter().map(|j| j.order_id).collect();
        let mut orders: HashMap<Uuid, OrderRow> = orders::get_many(tx, &ids, false)
            .await?
            .into_iter()
            .map(|o| (o.id, o))
            .collect();
        let mut refunds = orders::refunds_of(tx, &ids).await?;
        let now = chrono::Utc::now();
        claimed
            .into_iter()
            .map(|c| {
                let order = orders.remove(&c.order_id).ok_or(AppError::Internal)?;
                let overdue = plan::overdue(order.ordered_at, now, self.settings.payment_deadline);
                let refunds = match refunds.remove(&c.order_id) {
                    None => plan::Refunds::None,
                    Some(None) => plan::Refunds::AllGiven,
                    Some(Some(r)) => plan::Refunds::Owed {
                        id: r.id,
                        amount: r.amount,
                    },
                };
                let action = plan::plan_with_refunds(
                    order.state(),
                    order.payment_key.as_deref(),
                    overdue,
                    &refunds,
                    || self.breaker.allow(),
                );
                Ok(Job {
                    span: tracing::info_span!(
                        "payment_job",
                        order_id = %c.order_id,
                        attempt = c.attempts + 1
                    ),
                    order_id: c.order_id,
                    attempts: c.attempts,
                    order,
                    action,
                    called: None,
                })
            })
            .collect()
    }

    /// Expires the orders past their payment deadline that no worker holds, passes on the
    /// waitlist holds that ran out, and sends the reminders before vouchers' use-by dates
    /// (at most 100 of each per call). Safe to run in any
    /// number of loops and processes at once: see `expire.rs` and `app::waitlist`.
    pub async fn sweep(&self) -> Result<Swept, AppError> {
        let s = &self.settings;
        let recheck = self.gateway.timeout();
        let expired =
            expire::expire_overdue(&self.pool, s.payment_deadline, s.waitlist, recheck, 100)
                .await?;
        let holds = app::waitlist::service::lapse_due(&self.pool, s.waitlist, 100).await?;
        let reminders = app::vouchers::reminders::remind_due(&self.pool, 100).await?;
        if expired > 0 || holds > 0 || reminders > 0 {
            tracing::info!(expired, holds, reminders, "swept");
        }
        Ok(Swept {
            expired,
            holds,
            reminders,
        })
    }

    /// Whether this loop sweeps now: `sweep_every` since the process's last sweep, taken
    /// by one loop only.
    fn sweep_due(&self) -> bool {
        let now = chrono::Utc::now().timestamp_millis();
        let last = self.last_sweep.load(AtomicOrdering::Relaxed);
        now - last >= self.settings.sweep_every.as_millis() as i64
            && self
                .last_sweep
                .compare_exchange(last, now, AtomicOrdering::Relaxed, AtomicOrdering::Relaxed)
                .is_ok()
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
    /// batch in hand first. Woken by `NOTIFY payment_jobs`, polling as the fallback.
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let wake = Arc::new(Notify::new());
        let mut handles = vec![tokio::spawn(listen::listen(
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
                    if worker.sweep_due()
                        && let Err(e) = worker.sweep().await
                    {
                        tracing::warn!(error = %e, "the sweep failed; trying again later");
                    }
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
