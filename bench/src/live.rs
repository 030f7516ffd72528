//! Live stock streams during a flash sale: `streams` clients hold
//! `GET /api/v1/coupons/{id}/live` open on the app while C customers buy the coupon.
//!
//! Measured: the app's RSS before and with the streams open (and its peak during the
//! sale); the flash sale's purchases/s without streams (a coupon of its own, first) and
//! with them; and how long each stock change takes to reach every client. The change's
//! time is when this driver's own `LISTEN coupon_live` connection received the database's
//! notification (sent at commit; the nearest outside view of the commit). A client "has"
//! a change once it received an event whose `stock_left` is at or below the changed value
//! (in a sale without cancellations the stock only falls, and the app's pacing skips
//! intermediate values on purpose). Per change, the slowest client's delay is one sample
//! of "commit → every client"; every (change, client) pair is one sample of the per-client
//! delay. After the sale every client must have received the final stock (a violation
//! otherwise).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Semaphore, watch};

use crate::Opts;
use crate::api::{Api, World};
use crate::flash::{self, FlashRun};
use crate::stats::Lat;
use crate::sys;

/// Customers buying in both sales.
pub const CUSTOMERS: usize = 64;
/// Streams opening at once (the app's listen backlog is 1024).
const OPENING_AT_ONCE: usize = 200;

pub struct LiveRun {
    pub streams: usize,
    /// Streams that answered and sent their first event.
    pub opened: usize,
    pub open_time: Duration,
    /// VmRSS before opening the streams and with all of them open, KiB.
    pub rss_before_kb: Option<u64>,
    pub rss_open_kb: Option<u64>,
    pub without: FlashRun,
    pub with: FlashRun,
    /// Stock changes the driver's LISTEN saw during the sale.
    pub changes: usize,
    /// Per change: until the last client had it.
    pub every_client: Lat,
    /// Per (change, client).
    pub per_client: Lat,
    /// Events the clients received during the sale, in all.
    pub events: u64,
    /// The shortest time between two events of one client.
    pub min_gap: Option<Duration>,
    pub violations: Vec<String>,
}

impl LiveRun {
    /// Purchases/s with the streams open over without them.
    pub fn ratio(&self) -> f64 {
        self.with.created_per_sec() / self.without.created_per_sec()
    }

    pub fn one_line(&self) -> String {
        format!(
            "{} streams ({} opened in {:.1} s), RSS {} -> {} KiB, purchases/s {:.0} without, {:.0} with ({:.2}×), commit → every client p50/p95/p99/max {}, {} changes, {} events, violations {}",
            self.streams,
            self.opened,
            self.open_time.as_secs_f64(),
            self.rss_before_kb.unwrap_or(0),
            self.rss_open_kb.unwrap_or(0),
            self.without.created_per_sec(),
            self.with.created_per_sec(),
            self.ratio(),
            self.every_client.summary(),
            self.changes,
            self.events,
            self.violations.len()
        )
    }
}

/// What one client received: (arrival, stock_left) per event.
type Received = Vec<(Instant, i64)>;

/// Holds one stream open until `stop`, recording every `stock` event.
async fn client(
    http: reqwest::Client,
    url: String,
    opening: Arc<Semaphore>,
    opened: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) -> Result<Received, String> {
    let permit = opening.acquire_owned().await.map_err(|e| e.to_string())?;
    let mut res = http
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("open: {e}"))?;
    if !res.status().is_success() {
        return Err(format!("open: status {}", res.status()));
    }
    let mut permit = Some(permit);
    let mut buf = String::new();
    let mut got = Received::new();
    loop {
        tokio::select! {
            chunk = res.chunk() => match chunk {
                Ok(Some(bytes)) => {
                    let now = Instant::now();
                    buf.push_str(&String::from_utf8_lossy(&bytes));
                    while let Some(end) = buf.find("\n\n") {
                        let block: String = buf.drain(..end + 2).collect();
                        if let Some(stock) = stock_of(&block) {
                            got.push((now, stock));
                            if permit.take().is_some() {
                                opened.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                Ok(None) => return Err("the app ended the stream".into()),
                Err(e) => return Err(format!("read: {e}")),
            },
            _ = stop.changed() => return Ok(got),
        }
    }
}

/// `stock_left` of an `event: stock` block.
fn stock_of(block: &str) -> Option<i64> {
    if !block.lines().any(|l| l.trim() == "event: stock") {
        return None;
    }
    let data = block.lines().find_map(|l| l.strip_prefix("data:"))?;
    let v: serde_json::Value = serde_json::from_str(data.trim()).ok()?;
    v["stock_left"].as_i64()
}

pub async fn run(
    opts: &Opts,
    api: &Api,
    pool: &PgPool,
    world: &World,
    streams: usize,
) -> Result<LiveRun, String> {
    let stock = 1_000_000;
    crate::say(format!(
        "live: flash sale C={CUSTOMERS} without streams, {} s",
        opts.flash_secs
    ));
    let without = flash::flash_sale(opts, api, pool, world, CUSTOMERS, stock).await?;
    eprintln!("    {}", without.one_line());

    let coupon = flash::sale_coupon(api, world, CUSTOMERS, stock).await?;
    let mut listener = PgListener::connect(&opts.database_url)
        .await
        .map_err(|e| format!("LISTEN: {e}"))?;
    listener
        .listen("coupon_live")
        .await
        .map_err(|e| format!("LISTEN: {e}"))?;
    let (stop_changes, mut changes_stop) = watch::channel(false);
    let watched = coupon.clone();
    let changes = tokio::spawn(async move {
        let mut seen: Received = Vec::new();
        loop {
            tokio::select! {
                n = listener.recv() => {
                    let n = n.map_err(|e| format!("LISTEN: {e}"))?;
                    let now = Instant::now();
                    let v: serde_json::Value = serde_json::from_str(n.payload()).map_err(|e| e.to_string())?;
                    if v["coupon_id"] == watched.as_str() {
                        seen.push((now, v["stock_left"].as_i64().unwrap_or(i64::MAX)));
                    }
                }
                _ = changes_stop.changed() => return Ok::<_, String>(seen),
            }
        }
    });

    crate::say(format!("live: opening {streams} stock streams"));
    let rss_before_kb = sys::memory(opts.app_pid).map(|m| m.rss_kb);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| e.to_string())?;
    let url = api.url(&format!("/api/v1/coupons/{coupon}/live"));
    let (stop_clients, clients_stop) = watch::channel(false);
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let opened = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..streams {
        clients.spawn(client(
            http.clone(),
            url.clone(),
            opening.clone(),
            opened.clone(),
            clients_stop.clone(),
        ));
    }
    let deadline = started + Duration::from_secs(120);
    while opened.load(Ordering::Relaxed) < streams && Instant::now() < deadline {
        if let Some(Ok(Err(e))) = clients.try_join_next() {
            return Err(format!("a stream failed while opening: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open_time = started.elapsed();
    let opened_n = opened.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_open_kb = sys::memory(opts.app_pid).map(|m| m.rss_kb);

    crate::say(format!(
        "live: flash sale C={CUSTOMERS} with {opened_n} streams open, {} s",
        opts.flash_secs
    ));
    let sale_start = Instant::now();
    let with = flash::flash_sale_of(opts, api, pool, world, CUSTOMERS, stock, &coupon).await?;
    eprintln!("    {}", with.one_line());
    // The last change is paced at most 200 ms behind: give it time to arrive everywhere.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_changes.send(true);
    let _ = stop_clients.send(true);
    let seen_changes: Received = changes
        .await
        .map_err(|e| e.to_string())??
        .into_iter()
        .filter(|(t, _)| *t >= sale_start)
        .collect();
    let mut received: Vec<Received> = Vec::with_capacity(streams);
    let mut violations = Vec::new();
    while let Some(r) = clients.join_next().await {
        match r.map_err(|e| e.to_string())? {
            Ok(got) => received.push(got),
            Err(e) => violations.push(format!("a stream failed: {e}")),
        }
    }
    if opened_n < streams {
        violations.push(format!("only {opened_n} of {streams} streams opened"));
    }
    let final_stock: i64 =
        sqlx::query_scalar::<_, i32>("select stock from coupons where id = $1::uuid")
            .bind(&coupon)
            .fetch_one(pool)
            .await
            .map_err(|e| format!("final stock: {e}"))?
            .into();
    let mut every_client = Lat::default();
    let mut per_client = Lat::default();
    let mut slowest = vec![Duration::ZERO; seen_changes.len()];
    let mut missed = 0u64;
    let mut events = 0u64;
    let mut min_gap: Option<Duration> = None;
    let mut stale = 0usize;
    for got in &received {
        let during: Vec<&(Instant, i64)> = got.iter().filter(|(t, _)| *t >= sale_start).collect();
        events += during.len() as u64;
        for w in got.windows(2) {
            let gap = w[1].0 - w[0].0;
            min_gap = Some(min_gap.map_or(gap, |m| m.min(gap)));
        }
        if got.last().map(|(_, s)| *s) != Some(final_stock) {
            stale += 1;
        }
        // Both only fall: walk them together.
        let mut j = 0;
        for (n, (at, value)) in seen_changes.iter().enumerate() {
            while j < got.len() && (got[j].1 > *value || got[j].0 < sale_start) {
                j += 1;
            }
            match got.get(j) {
                Some((arrived, _)) => {
                    let d = arrived.saturating_duration_since(*at);
                    per_client.record(d);
                    slowest[n] = slowest[n].max(d);
                }
                None => missed += 1,
            }
        }
    }
    for d in slowest {
        every_client.record(d);
    }
    if stale > 0 {
        violations.push(format!(
            "{stale} streams did not end on the final stock {final_stock}"
        ));
    }
    if missed > 0 {
        violations.push(format!("{missed} (change, client) pairs never delivered"));
    }
    Ok(LiveRun {
        streams,
        opened: opened_n,
        open_time,
        rss_before_kb,
        rss_open_kb,
        without,
        with,
        changes: seen_changes.len(),
        every_client,
        per_client,
        events,
        min_gap,
        violations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stock_of_stock_events_only() {
        let block = "event: stock\ndata: {\"coupon_id\":\"x\",\"stock_left\":41,\"held\":0,\"on_sale\":true}\n\n";
        assert_eq!(stock_of(block), Some(41));
        assert_eq!(stock_of(":\n\n"), None);
        assert_eq!(stock_of("event: other\ndata: {\"stock_left\":1}\n\n"), None);
    }
}
