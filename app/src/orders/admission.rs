//! Admission of purchases: one queue per coupon whose purchases are decided and committed
//! in small batches.
//!
//! Why: when every purchase is its own transaction on the coupon's stock row, a flash sale
//! can go no faster than PostgreSQL commits transactions that update one row one after
//! the other. Here the purchases of a coupon wait in this process's queue for that coupon;
//! one task takes whatever has queued up (at most `batch_max`) and decides all of it in one
//! transaction:
//!
//! 1. lock the coupon row and read it in one statement (`coupons::repo::lock_and_get`; why
//!    `for no key update`: `repo::lock_coupon`): on sale? stock? limit per customer?
//! 2. find earlier orders with the batch's idempotency keys (those are replays);
//! 3. in arrival order, give each buyer an exact yes/no against the stock left and the
//!    customer's live quantity (counted under the lock, plus this batch's own yeses); a
//!    buyer for whom the coupon's waitlist holds a unit (quantity 1) gets that unit
//!    instead, and nobody else can have it (`coupons.held`, read with the lock; the
//!    waitlist is looked at only when it is not 0, so a sale nobody waits for pays
//!    nothing for it);
//! 4. insert the orders, take the stock with one update (the `stock >= 0` check still
//!    guards it; one `NOTIFY coupon_live` for the live streams) and queue their payment
//!    jobs, all in one statement (`repo::place_batch`); the holds used with one delete;
//!    then the orders' `OrderPlaced` events (`events::append_all`); commit. While the row
//!    lock is held that is three round trips and the commit (a waitlist hold adds one).
//!
//! Under load the batches grow by themselves (whatever arrived while the previous batch
//! committed); alone, a purchase is a batch of one and waits for nobody. Several processes
//! (replicas) each batch on their own; the row lock puts their batches in order, so "sold
//! out" stays exact everywhere.
//!
//! Load shedding: at most `max_waiting` purchases wait in this process. Beyond that a
//! purchase is refused at once (503 + Retry-After) instead of queueing without bound.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::repo::{self, PlacedOrder};
use crate::coupons::repo as coupons;
use crate::domain::{Coupon, CouponStatus, OrderState, OrderView};
use crate::error::{AppError, Conflict};
use crate::events::{self, Event, OrderEvent, OrderPlaced};
use crate::waitlist::repo as waitlist;

/// How long a coupon's queue task stays up without purchases.
const IDLE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug)]
pub struct AdmissionSettings {
    /// Most purchases decided in one transaction.
    pub batch_max: usize,
    /// Most purchases waiting in this process before new ones are shed.
    pub max_waiting: usize,
}

impl Default for AdmissionSettings {
    fn default() -> Self {
        AdmissionSettings {
            batch_max: 128,
            max_waiting: 1024,
        }
    }
}

/// One purchase request, already validated and authorised.
#[derive(Clone, Debug)]
pub struct Purchase {
    pub customer_id: Uuid,
    pub coupon_id: Uuid,
    pub quantity: i32,
    pub idempotency_key: Option<String>,
    pub request_id: Option<String>,
}

/// The order, and whether this purchase made it (`false`: a replay of an earlier one).
pub type Answer = Result<(OrderView, bool), AppError>;

struct Ticket {
    purchase: Purchase,
    reply: oneshot::Sender<Answer>,
}

pub struct Admission {
    pool: PgPool,
    settings: AdmissionSettings,
    queues: Mutex<HashMap<Uuid, mpsc::UnboundedSender<Ticket>>>,
    waiting: Arc<AtomicUsize>,
    batches: AtomicU64,
}

/// Counts a purchase as waiting for as long as it lives.
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission {
    pub fn new(pool: PgPool, settings: AdmissionSettings) -> Arc<Admission> {
        Arc::new(Admission {
            pool,
            settings: AdmissionSettings {
                batch_max: settings.batch_max.max(1),
                max_waiting: settings.max_waiting.max(1),
            },
            queues: Mutex::new(HashMap::new()),
            waiting: Arc::new(AtomicUsize::new(0)),
            batches: AtomicU64::new(0),
        })
    }

    /// Purchases waiting in this process now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Batches decided by this process so far.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Queues the purchase and waits for its answer; refuses at once when too many wait.
    pub async fn submit(self: &Arc<Self>, purchase: Purchase) -> Answer {
        let before = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(self.waiting.clone());
        if before >= self.settings.max_waiting {
            return Err(AppError::Unavailable {
                retry_after_secs: 1,
            });
        }
        let (reply, answer) = oneshot::channel();
        self.enqueue(Ticket { purchase, reply });
        // The queue task never drops a ticket unanswered unless it panicked.
        answer.await.unwrap_or(Err(AppError::Internal))
    }

    fn enqueue(self: &Arc<Self>, ticket: Ticket) {
        let coupon_id = ticket.purchase.coupon_id;
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let ticket = match queues.get(&coupon_id) {
            Some(queue) => match queue.send(ticket) {
                Ok(()) => return,
                // Its task has ended (it only ends after removing itself, or by a panic).
                Err(mpsc::error::SendError(ticket)) => ticket,
            },
            None => ticket,
        };
        let (queue, tickets) = mpsc::unbounded_channel();
        let _ = queue.send(ticket);
        queues.insert(coupon_id, queue);
        tokio::spawn(self.clone().run(coupon_id, tickets));
    }

    /// The queue task of one coupon: takes what has queued up, decides it, again.
    async fn run(self: Arc<Self>, coupon_id: Uuid, mut tickets: mpsc::UnboundedReceiver<Ticket>) {
        loop {
            let first = match tokio::time::timeout(IDLE, tickets.recv()).await {
                Ok(Some(t)) => t,
                Ok(None) => return,
                Err(_) => {
                    // Idle: leave, unless a ticket slipped in. Senders hold the same lock,
                    // so none can be sent to this queue after it is removed.
                    let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
                    match tickets.try_recv() {
                        Ok(t) => t,
                        Err(_) => {
                            queues.remove(&coupon_id);
                            return;
                        }
                    }
                }
            };
            let mut batch = vec![first];
            while batch.len() < self.settings.batch_max {
                match tickets.try_recv() {
                    Ok(t) => batch.push(t),
                    Err(_) => break,
                }
            }
            let purchases: Vec<&Purchase> = batch.iter().map(|t| &t.purchase).collect();
            self.batches.fetch_add(1, Ordering::Relaxed);
            let answers = match decide(&self.pool, coupon_id, &purchases).await {
                Ok(answers) => answers,
                Err(e) => vec![Err(e); batch.len()],
            };
            for (ticket, answer) in batch.into_iter().zip(answers) {
                let _ = ticket.reply.send(answer);
            }
        }
    }
}

/// What became of one purchase of the batch while deciding.
enum Verdict {
    Refused(AppError),
    /// An order made before this batch (same customer and key).
    Replay(Uuid),
    /// The same customer and key as purchase `i` of this batch.
    SameAs(usize),
    Accepted(Uuid),
    /// Accepted, but another process committed an order with its key first.
    LostRace,
}

/// Decides a batch of purchases of one coupon in one transaction; one answer per purchase,
/// in order. `Err` only when the transaction itself failed (then nothing was bought).
pub async fn decide(
    pool: &PgPool,
    coupon_id: Uuid,
    batch: &[&Purchase],
) -> Result<Vec<Answer>, AppError> {
    let mut tx = pool.begin().await?;
    let mut verdicts: Vec<Verdict> = Vec::with_capacity(batch.len());

    // Earlier orders with these keys are answered as they are, whatever the coupon says.
    let keyed: Vec<(Uuid, String)> = batch
        .iter()
        .filter_map(|p| Some((p.customer_id, p.idempotency_key.clone()?)))
        .collect();
    let earlier: HashMap<(Uuid, String), Uuid> = if keyed.is_empty() {
        HashMap::new()
    } else {
        repo::find_by_idempotency_keys(&mut tx, &keyed).await?
    };

    let (coupon, held_units) = match coupons::lock_and_get(&mut tx, coupon_id).await? {
        Some((c, held)) => (Some(c), Some(held)),
        None => (None, None),
    };
    // Units held for the waitlist are not in the stock: only their holders can buy them.
    let holders: HashSet<Uuid> = match held_units {
        Some(n) if n > 0 => {
            let mut customers: Vec<Uuid> = batch.iter().map(|p| p.customer_id).collect();
            customers.sort_unstable();
            customers.dedup();
            waitlist::holders(&mut tx, coupon_id, &customers).await?
        }
        _ => HashSet::new(),
    };
    // Holders whose held unit this batch sells, and the orders that take one.
    let mut holds_used: HashSet<Uuid> = HashSet::new();
    let mut on_hold: HashSet<Uuid> = HashSet::new();
    let refusal = match &coupon {
        None => Some(AppError::NotFound),
        Some(c) => match c.status_at(Utc::now()) {
            CouponStatus::Available | CouponStatus::SoldOut => None,
            CouponStatus::Stopped => Some(AppError::Conflict(Conflict::NotOnSale)),
            CouponStatus::NotStarted => Some(AppError::Conflict(Conflict::SaleNotStarted)),
            CouponStatus::Ended => Some(AppError::Conflict(Conflict::SaleEnded)),
        },
    };
    let limit = coupon.as_ref().and_then(|c| c.per_customer_limit);
    // Units each buyer has in live orders (for the limit per customer).
    let mut bought: HashMap<Uuid, i64> = match limit {
        Some(_) => {
            let mut customers: Vec<Uuid> = batch.iter().map(|p| p.customer_id).collect();
            customers.sort_unstable();
            customers.dedup();
            repo::live_quantities(&mut tx, coupon_id, &customers).await?
        }
        None => HashMap::new(),
    };
    let mut stock_left = i64::from(coupon.as_ref().map_or(0, |c| c.stock_left));
    let mut accepted_keys: HashMap<(Uuid, &str), usize> = HashMap::new();
    let mut placed: Vec<PlacedOrder> = Vec::new();

    for (i, p) in batch.iter().enumerate() {
        let key = p.idempotency_key.as_deref();
        if let Some(k) = key {
            if let Some(id) = earlier.get(&(p.customer_id, k.to_string())) {
                verdicts.push(Verdict::Replay(*id));
                continue;
            }
            if let Some(&first) = accepted_keys.get(&(p.customer_id, k)) {
                verdicts.push(Verdict::SameAs(first));
                continue;
            }
        }
        if let Some(e) = &refusal {
            verdicts.push(Verdict::Refused(e.clone()));
            continue;
        }
        let quantity = i64::from(p.quantity);
        let held_for_them = p.quantity == 1
            && holders.contains(&p.customer_id)
            && !holds_used.contains(&p.customer_id);
        if !held_for_them && quantity > stock_left {
            verdicts.push(Verdict::Refused(AppError::Conflict(Conflict::OutOfStock)));
            continue;
        }
        if let Some(limit) = limit {
            let has = bought.entry(p.customer_id).or_default();
            if *has + quantity > i64::from(limit) {
                verdicts.push(Verdict::Refused(AppError::Conflict(
                    Conflict::LimitExceeded,
                )));
                continue;
            }
            *has += quantity;
        }
        let id = Uuid::new_v4();
        if held_for_them {
            holds_used.insert(p.customer_id);
            on_hold.insert(id);
        } else {
            stock_left -= quantity;
        }
        if let Some(k) = key {
            accepted_keys.insert((p.customer_id, k), i);
        }
        placed.push(PlacedOrder {
            id,
            customer_id: p.customer_id,
            quantity: p.quantity,
            idempotency_key: p.idempotency_key.clone(),
            request_id: p.request_id.clone(),
        });
        verdicts.push(Verdict::Accepted(id));
    }

    let mut ordered_at = Utc::now();
    if let (Some(c), false) = (&coupon, placed.is_empty()) {
        // Orders whose key another process used first in the meantime are not inserted
        // (the unique key decides); only those inserted take stock, get a payment job
        // (both in the same statement) and an event. The stock and the holds used come
        // before the events: the `sold_out` notification's trigger reads the stock the
        // batch leaves when its `OrderPlaced` events arrive (a held unit bought takes no
        // stock: it tells nobody).
        let held_orders: Vec<Uuid> = on_hold.iter().copied().collect();
        let inserted =
            repo::place_batch(&mut tx, c, &placed, &held_orders, OrderState::PLACED).await?;
        let made: Vec<&PlacedOrder> = placed
            .iter()
            .filter(|o| inserted.contains_key(&o.id))
            .collect();
        let served: Vec<Uuid> = made
            .iter()
            .filter(|o| on_hold.contains(&o.id))
            .map(|o| o.customer_id)
            .collect();
        if !served.is_empty() {
            waitlist::consume_holds(&mut tx, coupon_id, &served).await?;
        }
        let events: Vec<OrderEvent> = made.iter().map(|o| order_placed(c, o)).collect();
        events::append_all(&mut tx, &events).await?;
        if let Some(at) = inserted.values().next() {
            ordered_at = *at;
        }
        for v in verdicts.iter_mut() {
            if let Verdict::Accepted(id) = v
                && !inserted.contains_key(id)
            {
                *v = Verdict::LostRace;
            }
        }
    }
    tx.commit().await?;

    // Answers from here on are per purchase: the batch is committed, so a failed lookup
    // for one replay must not turn the others' orders into errors.
    let unit_price = coupon.as_ref().map_or(0, |c| c.price);
    let views: Vec<Option<OrderView>> = verdicts
        .iter()
        .zip(batch)
        .map(|(v, p)| match v {
            Verdict::Accepted(id) => Some(OrderView {
                id: *id,
                coupon_id,
                quantity: p.quantity,
                unit_price,
                amount: unit_price * i64::from(p.quantity),
                status: OrderState::PLACED.status,
                payment_status: OrderState::PLACED.payment_status,
                ordered_at,
                paid_at: None,
                cancelled_at: None,
                refunded_at: None,
            }),
            _ => None,
        })
        .collect();
    let mut answers = Vec::with_capacity(batch.len());
    for (i, p) in batch.iter().enumerate() {
        let answer = match &verdicts[i] {
            Verdict::Refused(e) => Err(e.clone()),
            Verdict::Accepted(id) => {
                tracing::info!(
                    order_id = %id,
                    coupon_id = %coupon_id,
                    user_id = %p.customer_id,
                    request_id = p.request_id.as_deref().unwrap_or_default(),
                    quantity = p.quantity,
                    "order placed"
                );
                views[i]
                    .clone()
                    .map(|v| (v, true))
                    .ok_or(AppError::Internal)
            }
            Verdict::SameAs(first) => match &views[*first] {
                Some(v) => replay(v.clone(), p),
                // The first one lost its race: both answer with the winner's order.
                None => replay_by_key(pool, p).await,
            },
            Verdict::Replay(id) => replay_by_id(pool, *id, p).await,
            Verdict::LostRace => replay_by_key(pool, p).await,
        };
        answers.push(answer);
    }
    Ok(answers)
}

/// The `OrderPlaced` event of an order the batch made.
fn order_placed(coupon: &Coupon, o: &PlacedOrder) -> OrderEvent {
    OrderEvent {
        order_id: o.id,
        event: Event::OrderPlaced(OrderPlaced {
            customer_id: o.customer_id,
            coupon_id: coupon.id,
            shop_id: coupon.shop_id,
            coupon_name: coupon.name.clone(),
            shop_name: coupon.shop_name.clone(),
            quantity: o.quantity,
            unit_price: coupon.price,
            amount: coupon.price * i64::from(o.quantity),
            state: OrderState::PLACED,
        }),
        request_id: o.request_id.clone(),
    }
}

/// The same key must come with the same coupon and quantity.
fn replay(existing: OrderView, p: &Purchase) -> Answer {
    if existing.coupon_id == p.coupon_id && existing.quantity == p.quantity {
        Ok((existing, false))
    } else {
        Err(AppError::IdempotencyKeyReused)
    }
}

async fn replay_by_key(pool: &PgPool, p: &Purchase) -> Answer {
    let mut conn = pool.acquire().await?;
    let existing = repo::find_by_idempotency_key(
        &mut conn,
        p.customer_id,
        p.idempotency_key.as_deref().unwrap_or_default(),
    )
    .await?
    .ok_or(AppError::Internal)?;
    replay(existing.view(), p)
}

async fn replay_by_id(pool: &PgPool, id: Uuid, p: &Purchase) -> Answer {
    let mut conn = pool.acquire().await?;
    let existing = repo::get(&mut conn, id, false)
        .await?
        .ok_or(AppError::Internal)?;
    replay(existing.view(), p)
}
