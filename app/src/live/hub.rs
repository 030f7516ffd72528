//! One LISTEN connection per process, fanned out to every open stream of the process.
//!
//! The database sends `NOTIFY coupon_live` (a coupon's live state, with its version) from
//! every transaction that changes what a stock stream shows, and `NOTIFY notifications`
//! (a user id) whenever a user's notifications change (see the live_stock and notifications
//! migrations). Each replica listens once and hands the news to its own streams:
//!
//! - per coupon with a stream open, a `watch` holding the newest state: one slot, so a
//!   slow stream skips intermediate values and always finds the latest, and memory stays
//!   bounded whatever the rate of changes; versions keep an older value from replacing a
//!   newer one (a stream's first read races with notifications); the state is kept as
//!   the `event: stock` frame the streams send ([`Frame`]), written once for all of them
//!   (a flash sale with 5,000 open streams sends 25,000 events a second);
//! - per user with a stream open, a `watch` counter bumped on every change: the stream
//!   reads what is new from the table (the table is the truth, notifications only wake).
//!
//! Entries exist while a stream holds them. The connection starts with the first stream
//! and is opened again whenever it breaks (PostgreSQL restarted, the connection killed),
//! with a pause growing from 0.5 s to 5 s while the database does not answer; after every
//! (re)connection the coupons are read again and every user stream is woken, since
//! notifications sent meanwhile are lost. Streams end when the process starts shutting
//! down (`closing`), so they do not hold the graceful shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use uuid::Uuid;

use crate::domain::LiveStock;
use crate::error::AppError;

pub const STOCK_CHANNEL: &str = "coupon_live";
pub const NOTIFICATIONS_CHANNEL: &str = "notifications";

/// A coupon's live state and its version (`coupons.live_seq`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versioned {
    pub seq: i64,
    pub stock: LiveStock,
}

/// The payload of `NOTIFY coupon_live` and a row of `coupon_live_state(c)`.
#[derive(Deserialize)]
struct StatePayload {
    #[serde(flatten)]
    stock: LiveStock,
    seq: i64,
}

/// A coupon's state with its `event: stock` frame, shared by every stream of the coupon.
#[derive(Clone, Debug)]
pub struct Frame {
    pub seq: i64,
    pub stock: LiveStock,
    pub bytes: Bytes,
}

impl Frame {
    pub fn of(state: Versioned) -> Frame {
        Frame {
            seq: state.seq,
            stock: state.stock,
            bytes: super::frame("stock", None, &state.stock),
        }
    }
}

type CouponSlot = watch::Sender<Option<Frame>>;

pub struct Hub {
    pool: PgPool,
    coupons: Mutex<HashMap<Uuid, CouponSlot>>,
    users: Mutex<HashMap<Uuid, watch::Sender<u64>>>,
    started: OnceLock<()>,
    closing: watch::Receiver<bool>,
}

impl Hub {
    /// A hub over `pool`; its streams end once `closing` turns true.
    pub fn new(pool: PgPool, closing: watch::Receiver<bool>) -> Arc<Hub> {
        Arc::new(Hub {
            pool,
            coupons: Mutex::default(),
            users: Mutex::default(),
            started: OnceLock::new(),
            closing,
        })
    }

    /// Resolves when the process starts shutting down (never, if nobody can say so).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.clone();
        async move {
            if closing.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    fn start(self: &Arc<Self>) {
        self.started.get_or_init(|| {
            tokio::spawn(self.clone().listen());
        });
    }

    /// Streams of coupons open in this process (for the tests and the metrics).
    pub fn coupons_watched(&self) -> usize {
        lock(&self.coupons).len()
    }

    /// Watches the coupons (their states are not known yet: see [`Hub::load`]).
    pub fn watch_coupons(self: &Arc<Self>, ids: &[Uuid]) -> Vec<CouponWatch> {
        self.start();
        let mut map = lock(&self.coupons);
        ids.iter()
            .map(|&id| {
                let rx = map
                    .entry(id)
                    .or_insert_with(|| watch::channel(None).0)
                    .subscribe();
                CouponWatch {
                    hub: self.clone(),
                    id,
                    rx: Some(rx),
                }
            })
            .collect()
    }

    /// Reads the coupons' states from the database into their watches; `NotFound` when
    /// one of them is not a coupon. Call after watching them, so no change falls between.
    pub async fn load(&self, ids: &[Uuid]) -> Result<(), AppError> {
        let states = read_states(&self.pool, ids).await?;
        if states.len() != ids.len() {
            return Err(AppError::NotFound);
        }
        for s in states {
            self.offer(s);
        }
        Ok(())
    }

    /// Stores `state` in its coupon's watch if nothing newer is there.
    fn offer(&self, state: Versioned) {
        let map = lock(&self.coupons);
        if let Some(slot) = map.get(&state.stock.coupon_id) {
            slot.send_if_modified(|current| match current {
                Some(c) if c.seq >= state.seq => false,
                _ => {
                    *current = Some(Frame::of(state));
                    true
                }
            });
        }
    }

    /// Watches the user's notifications: the counter moves on every change.
    pub fn watch_user(self: &Arc<Self>, user_id: Uuid) -> UserWatch {
        self.start();
        let rx = lock(&self.users)
            .entry(user_id)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        UserWatch {
            hub: self.clone(),
            user_id,
            rx: Some(rx),
        }
    }

    fn wake_user(&self, user_id: Uuid) {
        if let Some(slot) = lock(&self.users).get(&user_id) {
            slot.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    fn dispatch(&self, channel: &str, payload: &str) {
        match channel {
            STOCK_CHANNEL => match serde_json::from_str::<StatePayload>(payload) {
                Ok(p) => self.offer(Versioned {
                    seq: p.seq,
                    stock: p.stock,
                }),
                Err(e) => tracing::warn!(error = %e, "unreadable coupon_live notification"),
            },
            NOTIFICATIONS_CHANNEL => match Uuid::parse_str(payload) {
                Ok(user_id) => self.wake_user(user_id),
                Err(_) => tracing::warn!("unreadable notifications notification"),
            },
            _ => {}
        }
    }

    /// After a (re)connection: what changed while nobody listened.
    async fn catch_up(&self) {
        let coupons: Vec<Uuid> = lock(&self.coupons).keys().copied().collect();
        if !coupons.is_empty() {
            match read_states(&self.pool, &coupons).await {
                Ok(states) => states.into_iter().for_each(|s| self.offer(s)),
                Err(_) => tracing::warn!("could not read the watched coupons again"),
            }
        }
        let users: Vec<Uuid> = lock(&self.users).keys().copied().collect();
        for u in users {
            self.wake_user(u);
        }
    }

    /// The listening loop (see the module notes).
    async fn listen(self: Arc<Self>) {
        const FIRST_PAUSE: Duration = Duration::from_millis(500);
        const MAX_PAUSE: Duration = Duration::from_secs(5);
        let mut pause = FIRST_PAUSE;
        let mut lost = false;
        let closed = self.closed();
        tokio::pin!(closed);
        loop {
            let connect = async {
                let mut listener = PgListener::connect_with(&self.pool).await?;
                listener
                    .listen_all([STOCK_CHANNEL, NOTIFICATIONS_CHANNEL])
                    .await?;
                Ok::<_, sqlx::Error>(listener)
            };
            let mut listener = tokio::select! {
                l = connect => match l {
                    Ok(l) => l,
                    Err(e) => {
                        if !lost {
                            tracing::warn!(error = %e, "cannot LISTEN for live updates; trying again");
                            lost = true;
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = &mut closed => return,
                        }
                        pause = (pause * 2).min(MAX_PAUSE);
                        continue;
                    }
                },
                _ = &mut closed => return,
            };
            if lost {
                tracing::info!("listening for live updates again");
            }
            pause = FIRST_PAUSE;
            self.catch_up().await;
            loop {
                tokio::select! {
                    n = listener.try_recv() => match n {
                        Ok(Some(n)) => self.dispatch(n.channel(), n.payload()),
                        // The connection broke and sqlx opened it again: catch up.
                        Ok(None) => {
                            tracing::warn!("the LISTEN connection for live updates was replaced");
                            self.catch_up().await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "lost the LISTEN connection for live updates");
                            lost = true;
                            break;
                        }
                    },
                    _ = &mut closed => return,
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn read_states(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Versioned>, AppError> {
    let rows = sqlx::query_scalar!(
        r#"select coupon_live_state(c) as "state!" from coupons c where c.id = any($1)"#,
        ids
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|v| {
            serde_json::from_value::<StatePayload>(v)
                .map(|p| Versioned {
                    seq: p.seq,
                    stock: p.stock,
                })
                .map_err(|e| {
                    tracing::error!(error = %e, "unreadable coupon_live_state");
                    AppError::Internal
                })
        })
        .collect()
}

/// A stream's hold on a coupon's watch; the entry goes when the last one is dropped.
pub struct CouponWatch {
    hub: Arc<Hub>,
    id: Uuid,
    rx: Option<watch::Receiver<Option<Frame>>>,
}

impl CouponWatch {
    pub fn receiver(&mut self) -> &mut watch::Receiver<Option<Frame>> {
        self.rx.as_mut().expect("present until dropped")
    }
}

impl Drop for CouponWatch {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut map = lock(&self.hub.coupons);
        if map.get(&self.id).is_some_and(|s| s.receiver_count() == 0) {
            map.remove(&self.id);
        }
    }
}

/// A stream's hold on a user's watch; the entry goes when the last one is dropped.
pub struct UserWatch {
    hub: Arc<Hub>,
    user_id: Uuid,
    rx: Option<watch::Receiver<u64>>,
}

impl UserWatch {
    pub fn receiver(&mut self) -> &mut watch::Receiver<u64> {
        self.rx.as_mut().expect("present until dropped")
    }
}

impl Drop for UserWatch {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut map = lock(&self.hub.users);
        if map
            .get(&self.user_id)
            .is_some_and(|s| s.receiver_count() == 0)
        {
            map.remove(&self.user_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Arc<Hub> {
        // Never reached: the listener only retries in the background.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:9/none")
            .unwrap();
        Hub::new(pool, watch::channel(false).1)
    }

    fn state(id: Uuid, seq: i64, stock_left: i32) -> Versioned {
        Versioned {
            seq,
            stock: LiveStock {
                coupon_id: id,
                stock_left,
                held: 0,
                on_sale: true,
            },
        }
    }

    #[tokio::test]
    async fn a_coupon_entry_lives_as_long_as_a_stream_watches_it() {
        let hub = hub();
        let id = Uuid::new_v4();
        let first = hub.watch_coupons(&[id]);
        let second = hub.watch_coupons(&[id, Uuid::new_v4()]);
        assert_eq!(hub.coupons_watched(), 2);
        drop(first);
        assert_eq!(hub.coupons_watched(), 2);
        drop(second);
        assert_eq!(hub.coupons_watched(), 0);
        let user = Uuid::new_v4();
        let (a, b) = (hub.watch_user(user), hub.watch_user(user));
        drop(a);
        assert_eq!(lock(&hub.users).len(), 1);
        drop(b);
        assert_eq!(lock(&hub.users).len(), 0);
    }

    #[tokio::test]
    async fn an_older_value_never_replaces_a_newer_one() {
        let hub = hub();
        let id = Uuid::new_v4();
        let mut w = hub.watch_coupons(&[id]).pop().unwrap();
        hub.offer(state(id, 5, 7));
        hub.offer(state(id, 4, 9));
        assert_eq!(
            w.receiver()
                .borrow_and_update()
                .as_ref()
                .unwrap()
                .stock
                .stock_left,
            7
        );
        hub.dispatch(
            STOCK_CHANNEL,
            &format!(r#"{{"coupon_id":"{id}","stock_left":6,"held":1,"on_sale":false,"seq":6}}"#),
        );
        assert!(w.receiver().has_changed().unwrap());
        let now = w.receiver().borrow_and_update().clone().unwrap();
        assert_eq!(
            (
                now.seq,
                now.stock.stock_left,
                now.stock.held,
                now.stock.on_sale
            ),
            (6, 6, 1, false)
        );
        // Coupons nobody watches are not kept.
        hub.offer(state(Uuid::new_v4(), 1, 1));
        assert_eq!(hub.coupons_watched(), 1);
    }

    #[tokio::test]
    async fn a_paced_stream_skips_to_the_latest_value() {
        use futures::StreamExt;
        let hub = hub();
        let id = Uuid::new_v4();
        let w = hub.watch_coupons(&[id]).pop().unwrap();
        hub.offer(state(id, 1, 10));
        let mut s = Box::pin(super::super::stock::paced(w));
        assert_eq!(s.next().await.unwrap().stock.stock_left, 10);
        for seq in 2..=20 {
            hub.offer(state(id, seq, 10 - seq as i32 / 2));
        }
        let started = tokio::time::Instant::now();
        let last = s.next().await.unwrap();
        assert_eq!((last.seq, last.stock.stock_left), (20, 0));
        assert!(started.elapsed() >= super::super::stock::MIN_GAP - Duration::from_millis(20));
        assert_eq!(
            &last.bytes[..],
            format!(
                "event: stock\ndata: {{\"coupon_id\":\"{id}\",\"stock_left\":0,\"held\":0,\"on_sale\":true}}\n\n"
            )
            .as_bytes()
        );
        // Every stream of the coupon sends the same frame, written once.
        let mut other = hub.watch_coupons(&[id]).pop().unwrap();
        let theirs = other.receiver().borrow().clone().unwrap();
        assert_eq!(theirs.bytes.as_ptr(), last.bytes.as_ptr());
    }
}
