//! The flash sale (closed loop: C customers each buying as fast as answers come back) and
//! the saga latency run (open loop at a fixed rate).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::Opts;
use crate::api::{Api, Outcome, World};
use crate::invariants::{self, Inv};
use crate::stats::Lat;

/// How long the saga may take to settle every order after the load stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(180);

/// Counts and latencies of purchase requests.
#[derive(Clone, Default)]
pub struct Tally {
    pub created: u64,
    pub out_of_stock: u64,
    pub other_conflicts: BTreeMap<String, u64>,
    pub limited: u64,
    pub shed: u64,
    pub other_status: BTreeMap<u16, u64>,
    pub transport: u64,
    /// Every purchase request.
    pub all: Lat,
    /// The 201s only.
    pub ok: Lat,
    pub ids: Vec<String>,
    /// Since the start of the load: when the last 201 arrived.
    pub last_created: Duration,
}

impl Tally {
    /// Records one answer; returns how long a polite client waits before the next try.
    fn record(&mut self, out: Outcome, took: Duration, since_start: Duration) -> Option<Duration> {
        self.all.record(took);
        let back_off = |after: Option<u64>| {
            Some(
                Duration::from_secs(after.unwrap_or(0))
                    .clamp(Duration::from_millis(50), Duration::from_secs(1)),
            )
        };
        match out {
            Outcome::Created(id) => {
                self.created += 1;
                self.ok.record(took);
                self.ids.push(id);
                self.last_created = self.last_created.max(since_start);
                None
            }
            Outcome::OutOfStock => {
                self.out_of_stock += 1;
                None
            }
            Outcome::Conflict(code) => {
                *self.other_conflicts.entry(code).or_default() += 1;
                None
            }
            Outcome::Limited(after) => {
                self.limited += 1;
                back_off(after)
            }
            Outcome::Shed(after) => {
                self.shed += 1;
                back_off(after)
            }
            Outcome::Status(s) => {
                *self.other_status.entry(s).or_default() += 1;
                Some(Duration::from_millis(50))
            }
            Outcome::Transport => {
                self.transport += 1;
                Some(Duration::from_millis(50))
            }
        }
    }

    fn merge(&mut self, o: Tally) {
        self.created += o.created;
        self.out_of_stock += o.out_of_stock;
        for (k, v) in o.other_conflicts {
            *self.other_conflicts.entry(k).or_default() += v;
        }
        self.limited += o.limited;
        self.shed += o.shed;
        for (k, v) in o.other_status {
            *self.other_status.entry(k).or_default() += v;
        }
        self.transport += o.transport;
        self.all.add(&o.all);
        self.ok.add(&o.ok);
        self.ids.extend(o.ids);
        self.last_created = self.last_created.max(o.last_created);
    }

    pub fn errors_text(&self) -> String {
        let mut parts: Vec<String> = self
            .other_status
            .iter()
            .map(|(s, n)| format!("{n}×{s}"))
            .collect();
        parts.extend(
            self.other_conflicts
                .iter()
                .map(|(c, n)| format!("{n}×409 {c}")),
        );
        if self.transport > 0 {
            parts.push(format!("{}×no answer", self.transport));
        }
        if parts.is_empty() {
            "0".into()
        } else {
            parts.join(", ")
        }
    }
}

pub struct FlashRun {
    pub customers: usize,
    pub stock: i64,
    pub sell_out: bool,
    /// Wall time of the load (until the last in-flight request answered).
    pub load: Duration,
    pub tally: Tally,
    /// From the end of the load until no order of the coupon was still `ordered`.
    pub drain: Option<Duration>,
    pub inv: Inv,
    /// Highest VmRSS of the app sampled every 100 ms during the load, KiB.
    pub rss_peak_kb: Option<u64>,
    /// CPU used from the start of the load until every order was paid or failed (the
    /// payments of the run included).
    pub cpu: crate::sys::Budget,
    /// Admission transactions that made the run's orders: the orders of one batch share
    /// their `ordered_at` (the default `now()`, the transaction's start), so this is the
    /// number of distinct `ordered_at` values.
    pub batches: i64,
}

impl FlashRun {
    /// Orders per admission transaction, on average.
    pub fn per_batch(&self) -> f64 {
        self.inv.sold as f64 / self.batches.max(1) as f64
    }

    pub fn created_per_sec(&self) -> f64 {
        self.tally.created as f64 / self.load.as_secs_f64()
    }

    pub fn requests_per_sec(&self) -> f64 {
        self.tally.all.count() as f64 / self.load.as_secs_f64()
    }

    pub fn one_line(&self) -> String {
        format!(
            "{} purchases ({:.0}/s), {} requests/s, p50/p95/p99/max {}, 409 out_of_stock {}, 429 {}, 503 {}, errors {}, drain {}, violations {}",
            self.tally.created,
            self.created_per_sec(),
            self.requests_per_sec().round(),
            self.tally.all.summary(),
            self.tally.out_of_stock,
            self.tally.limited,
            self.tally.shed,
            self.tally.errors_text(),
            self.drain
                .map_or("timed out".into(), |d| format!("{:.2} s", d.as_secs_f64())),
            self.inv.violations.len()
        )
    }
}

/// Samples the app's VmRSS every 100 ms until `stop`; returns the highest value seen.
fn rss_sampler(pid: Option<u32>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Option<u64>> {
    tokio::spawn(async move {
        let mut peak = None;
        while !stop.load(Ordering::Relaxed) {
            if let Some(m) = crate::sys::memory(pid) {
                peak = Some(peak.unwrap_or(0).max(m.rss_kb));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    })
}

/// Waits until no order of the coupon is still `ordered` (every one paid or failed).
pub async fn wait_drained(pool: &PgPool, coupon_id: &str) -> Result<Option<Duration>, String> {
    let start = Instant::now();
    loop {
        let (open,): (i64,) = sqlx::query_as(
            "select count(*) from orders where coupon_id = $1::uuid and status = 'ordered'",
        )
        .bind(coupon_id)
        .fetch_one(pool)
        .await
        .map_err(|e| format!("drain poll: {e}"))?;
        if open == 0 {
            return Ok(Some(start.elapsed()));
        }
        if start.elapsed() > DRAIN_TIMEOUT {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

static RUN: AtomicUsize = AtomicUsize::new(0);

pub async fn flash_sale(
    opts: &Opts,
    api: &Api,
    pool: &PgPool,
    world: &World,
    customers: usize,
    stock: i64,
) -> Result<FlashRun, String> {
    let coupon = sale_coupon(api, world, customers, stock).await?;
    flash_sale_of(opts, api, pool, world, customers, stock, &coupon).await
}

/// A new coupon for a flash sale.
pub async fn sale_coupon(
    api: &Api,
    world: &World,
    customers: usize,
    stock: i64,
) -> Result<String, String> {
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    api.create_coupon(
        &world.owner_token,
        &format!("Flash sale {run}: C={customers} stock={stock}"),
        9_900,
        stock,
    )
    .await
}

/// The flash sale of `coupon` (new, with `stock` units).
pub async fn flash_sale_of(
    opts: &Opts,
    api: &Api,
    pool: &PgPool,
    world: &World,
    customers: usize,
    stock: i64,
    coupon: &str,
) -> Result<FlashRun, String> {
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let sell_out = stock < 1_000_000;
    let coupon = coupon.to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(opts.app_pid, stop.clone());
    let cpu_start = crate::sys::Budget::now(&opts.pids());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(opts.flash_secs);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, c) in world.customers.iter().take(customers).enumerate() {
        let api = api.clone();
        let token = c.token.clone();
        let coupon = coupon.clone();
        tasks.spawn(async move {
            let mut t = Tally::default();
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let key = format!("flash{run}-{i}-{n}");
                let t0 = Instant::now();
                let out = api.buy(&token, &coupon, &key).await;
                if let Some(wait) = t.record(out, t0.elapsed(), t0 - start) {
                    tokio::time::sleep(wait).await;
                }
            }
            t
        });
    }
    let mut tally = Tally::default();
    while let Some(t) = tasks.join_next().await {
        tally.merge(t.map_err(|e| e.to_string())?);
    }
    let load = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let rss_peak_kb = sampler.await.map_err(|e| e.to_string())?;
    let drain = wait_drained(pool, &coupon).await?;
    let cpu = crate::sys::Budget::now(&opts.pids()).since(&cpu_start);
    let (batches,): (i64,) =
        sqlx::query_as("select count(distinct ordered_at) from orders where coupon_id = $1::uuid")
            .bind(&coupon)
            .fetch_one(pool)
            .await
            .map_err(|e| format!("batches: {e}"))?;
    let mut inv = invariants::check(pool, opts.gateway(), &coupon, stock, &tally).await?;
    if drain.is_none() {
        inv.violations.push(format!(
            "orders still `ordered` {} s after the load",
            DRAIN_TIMEOUT.as_secs()
        ));
    }
    if sell_out && inv.remaining != 0 {
        inv.violations.push(format!(
            "the sell-out run did not sell out: {} of {stock} left although {} customers kept buying",
            inv.remaining, customers
        ));
    }
    Ok(FlashRun {
        customers,
        stock,
        sell_out,
        load,
        tally,
        drain,
        inv,
        rss_peak_kb,
        cpu,
        batches,
    })
}

pub struct SagaRun {
    pub rate: u64,
    pub planned: u64,
    pub load: Duration,
    pub tally: Tally,
    /// Ticks dropped because too many requests were in flight (the app fell behind).
    pub skipped: u64,
    /// Client send → the my-page row seen `paid` by polling the `mypage` table.
    pub visible: Lat,
    /// `mypage.paid_at − mypage.ordered_at` (both stamped by the database).
    pub stamped: Lat,
    /// Orders never seen paid by the poller.
    pub unseen: usize,
    pub drain: Option<Duration>,
    pub inv: Inv,
}

impl SagaRun {
    pub fn achieved_rate(&self) -> f64 {
        self.tally.created as f64 / self.load.as_secs_f64()
    }

    pub fn one_line(&self) -> String {
        format!(
            "{} purchases ({:.0}/s achieved), request p50/p95/p99/max {}, visible p50/p95/p99/max {}, stamped {}, skipped {}, errors {}, violations {}",
            self.tally.created,
            self.achieved_rate(),
            self.tally.all.summary(),
            self.visible.summary(),
            self.stamped.summary(),
            self.skipped,
            self.tally.errors_text(),
            self.inv.violations.len()
        )
    }
}

/// Most requests in flight at once before ticks are dropped (and counted).
const SAGA_MAX_IN_FLIGHT: usize = 2048;
const POLL_EVERY: Duration = Duration::from_millis(20);

pub async fn saga(opts: &Opts, api: &Api, pool: &PgPool, world: &World) -> Result<SagaRun, String> {
    let coupon = api
        .create_coupon(&world.owner_token, "Saga pacing", 4_500, 1_000_000)
        .await?;
    let planned = opts.saga_rate * opts.saga_secs;
    // Orders waiting to be seen paid: id -> when its request was sent.
    let pending: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let load_done = Arc::new(AtomicBool::new(false));
    let poller = {
        let pending = pending.clone();
        let load_done = load_done.clone();
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut visible = Lat::default();
            let mut done_at: Option<Instant> = None;
            loop {
                let ids: Vec<String> = pending.lock().unwrap().keys().cloned().collect();
                if !ids.is_empty() {
                    let seen: Vec<(String,)> = sqlx::query_as(
                        "select order_id::text from mypage where order_id = any($1::text[]::uuid[]) and status = 'paid'",
                    )
                    .bind(&ids)
                    .fetch_all(&pool)
                    .await
                    .map_err(|e| format!("my page poll: {e}"))?;
                    let now = Instant::now();
                    let mut p = pending.lock().unwrap();
                    for (id,) in seen {
                        if let Some(sent) = p.remove(&id) {
                            visible.record(now - sent);
                        }
                    }
                }
                if load_done.load(Ordering::Relaxed) {
                    let since = *done_at.get_or_insert_with(Instant::now);
                    if pending.lock().unwrap().is_empty() || since.elapsed() > DRAIN_TIMEOUT {
                        break;
                    }
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
            let unseen = pending.lock().unwrap().len();
            Ok::<_, String>((visible, unseen))
        })
    };

    let in_flight = Arc::new(AtomicUsize::new(0));
    let skipped = Arc::new(AtomicU64::new(0));
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / opts.saga_rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut tally = Tally::default();
    for n in 0..planned {
        tick.tick().await;
        if in_flight.load(Ordering::Relaxed) >= SAGA_MAX_IN_FLIGHT {
            skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let c = &world.customers[n as usize % world.customers.len()];
        let (api, token, coupon) = (api.clone(), c.token.clone(), coupon.clone());
        let (pending, in_flight) = (pending.clone(), in_flight.clone());
        tasks.spawn(async move {
            let mut t = Tally::default();
            let sent = Instant::now();
            let out = api.buy(&token, &coupon, &format!("saga-{n}")).await;
            if let Outcome::Created(id) = &out {
                pending.lock().unwrap().insert(id.clone(), sent);
            }
            t.record(out, sent.elapsed(), sent - start);
            in_flight.fetch_sub(1, Ordering::Relaxed);
            t
        });
        // Collect finished tasks as we go, so the set stays small.
        while let Some(t) = tasks.try_join_next() {
            tally.merge(t.map_err(|e| e.to_string())?);
        }
    }
    while let Some(t) = tasks.join_next().await {
        tally.merge(t.map_err(|e| e.to_string())?);
    }
    let load = start.elapsed();
    load_done.store(true, Ordering::Relaxed);
    let drain = wait_drained(pool, &coupon).await?;
    let (visible, unseen) = poller.await.map_err(|e| e.to_string())??;
    let rows: Vec<(f64,)> = sqlx::query_as(
        "select (extract(epoch from (paid_at - ordered_at)) * 1e6)::float8 from mypage where coupon_id = $1::uuid and paid_at is not null",
    )
    .bind(&coupon)
    .fetch_all(pool)
    .await
    .map_err(|e| format!("saga timings: {e}"))?;
    let mut stamped = Lat::default();
    for (us,) in rows {
        stamped.record_us(us.max(0.0) as u64);
    }
    let mut inv = invariants::check(pool, opts.gateway(), &coupon, 1_000_000, &tally).await?;
    if drain.is_none() {
        inv.violations
            .push("saga orders still `ordered` after the drain timeout".into());
    }
    Ok(SagaRun {
        rate: opts.saga_rate,
        planned,
        load,
        tally,
        skipped: skipped.load(Ordering::Relaxed),
        visible,
        stamped,
        unseen,
        drain,
        inv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_answers_by_kind_and_backs_off_when_told() {
        let mut t = Tally::default();
        let ms = Duration::from_millis;
        assert_eq!(t.record(Outcome::Created("a".into()), ms(5), ms(100)), None);
        assert_eq!(t.record(Outcome::OutOfStock, ms(1), ms(200)), None);
        assert_eq!(
            t.record(Outcome::Shed(Some(3)), ms(1), ms(300)),
            Some(ms(1000))
        );
        assert_eq!(
            t.record(Outcome::Limited(None), ms(1), ms(300)),
            Some(ms(50))
        );
        t.record(Outcome::Conflict("sale_ended".into()), ms(1), ms(300));
        t.record(Outcome::Status(500), ms(1), ms(300));
        t.record(Outcome::Transport, ms(1), ms(300));
        assert_eq!((t.created, t.out_of_stock, t.shed, t.limited), (1, 1, 1, 1));
        assert_eq!(t.all.count(), 7);
        assert_eq!(t.ok.count(), 1);
        assert_eq!(t.last_created, ms(100));
        assert_eq!(t.errors_text(), "1×500, 1×409 sale_ended, 1×no answer");
        let mut u = Tally::default();
        u.record(Outcome::Created("b".into()), ms(5), ms(900));
        t.merge(u);
        assert_eq!(t.ids, ["a", "b"]);
        assert_eq!(t.last_created, ms(900));
    }
}
