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
pub const OPENING_AT_ONCE: usize = 200;

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
    /// CPU seconds used during each sale (app, this driver and its clients, whole machine).
    pub cpu_without: sys::CpuUse,
    pub cpu_with: sys::CpuUse,
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
    /// The same fan-out at its floor (`floor.rs`), measured after the sales.
    pub floor: Option<crate::floor::FloorRun>,
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

/// `"stock_left":` in an event's JSON; nothing else the app sends on the stream has it.
const STOCK_KEY: &[u8] = b"\"stock_left\":";

/// Holds one stream open until `stop`, recording every `stock` event.
///
/// A bare HTTP/1.1 client on a TCP socket with one reused buffer, scanning the bytes for
/// `"stock_left":N`: the 5,000 readers share the 2 cores with the app, so each event should
/// cost them as little as it can (reqwest with a JSON parse per event cost about 8 µs of
/// CPU per event).
pub async fn client(
    addr: String,
    request: Arc<[u8]>,
    opening: Arc<Semaphore>,
    opened: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) -> Result<Received, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let permit = opening.acquire_owned().await.map_err(|e| e.to_string())?;
    let mut socket = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("open: {e}"))?;
    socket
        .write_all(&request)
        .await
        .map_err(|e| format!("open: {e}"))?;
    let mut permit = Some(permit);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut head_done = false;
    let mut got = Received::new();
    loop {
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        tokio::select! {
            n = socket.read_buf(&mut buf) => match n {
                Ok(0) => return Err("the app ended the stream".into()),
                Ok(_) => {
                    let now = Instant::now();
                    if !head_done {
                        let Some(end) = find(&buf, b"\r\n\r\n") else { continue };
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        let status = head.split(' ').nth(1).unwrap_or_default();
                        if status != "200" {
                            return Err(format!("open: status {status}"));
                        }
                        buf.drain(..end + 4);
                        head_done = true;
                    }
                    let keep = scan(&buf, |stock| got.push((now, stock)));
                    buf.drain(..buf.len() - keep);
                    if !got.is_empty() && permit.take().is_some() {
                        opened.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(e) => return Err(format!("read: {e}")),
            },
            _ = stop.changed() => return Ok(got),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Calls `each` with every complete `"stock_left":N` of `bytes`, in order; returns how
/// many bytes at the end must be kept for the next read (a value or key cut short).
fn scan(bytes: &[u8], mut each: impl FnMut(i64)) -> usize {
    let mut at = 0;
    while let Some(k) = find(&bytes[at..], STOCK_KEY) {
        let start = at + k;
        let digits = start + STOCK_KEY.len();
        let len = bytes[digits..]
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'-')
            .count();
        if digits + len == bytes.len() {
            return bytes.len() - start;
        }
        if let Some(v) = std::str::from_utf8(&bytes[digits..digits + len])
            .ok()
            .and_then(|t| t.parse().ok())
        {
            each(v);
        }
        at = digits + len;
    }
    // A key cut short at the end.
    (1..STOCK_KEY.len())
        .rev()
        .find(|&n| bytes.len() >= n && bytes.ends_with(&STOCK_KEY[..n]))
        .unwrap_or(0)
        .min(bytes.len() - at)
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
    let cpu_start = sys::CpuUse::now(opts.app_pid);
    let without = flash::flash_sale(opts, api, pool, world, CUSTOMERS, stock).await?;
    let cpu_without = sys::CpuUse::now(opts.app_pid).since(&cpu_start);
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
    let addr = api
        .base
        .strip_prefix("http://")
        .ok_or("live: the app's address is not http://")?
        .to_string();
    let request: Arc<[u8]> = format!(
        "GET /api/v1/coupons/{coupon}/live HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .into_bytes()
    .into();
    let (stop_clients, clients_stop) = watch::channel(false);
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let opened = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..streams {
        clients.spawn(client(
            addr.clone(),
            request.clone(),
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
    let cpu_start = sys::CpuUse::now(opts.app_pid);
    let with = flash::flash_sale_of(opts, api, pool, world, CUSTOMERS, stock, &coupon).await?;
    let cpu_with = sys::CpuUse::now(opts.app_pid).since(&cpu_start);
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
    crate::say(format!(
        "live: the floor, a bare tokio fan-out to {streams} streams (no HTTP library, no app)"
    ));
    let floor = match crate::floor::run(streams).await {
        Ok(f) => {
            eprintln!("    {}", f.one_line());
            Some(f)
        }
        Err(e) => {
            eprintln!("    {e}");
            None
        }
    };
    Ok(LiveRun {
        streams,
        opened: opened_n,
        open_time,
        rss_before_kb,
        rss_open_kb,
        without,
        with,
        cpu_without,
        cpu_with,
        changes: seen_changes.len(),
        every_client,
        per_client,
        events,
        min_gap,
        violations,
        floor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_stock_value_across_cut_reads() {
        let stream = "4a\r\nevent: stock\ndata: {\"coupon_id\":\"x\",\"stock_left\":41,\"held\":0,\"on_sale\":true}\n\n\r\n3\r\n:\n\n\r\n4a\r\nevent: stock\ndata: {\"coupon_id\":\"x\",\"stock_left\":7,\"held\":0,\"on_sale\":true}\n\n\r\n";
        let bytes = stream.as_bytes();
        // Every way of cutting the stream in two reads gives the same values.
        for cut in 0..=bytes.len() {
            let mut got = Vec::new();
            let mut buf = bytes[..cut].to_vec();
            let keep = scan(&buf, |v| got.push(v));
            buf.drain(..buf.len() - keep);
            buf.extend_from_slice(&bytes[cut..]);
            let keep = scan(&buf, |v| got.push(v));
            assert_eq!(got, vec![41, 7], "cut at {cut}");
            assert_eq!(keep, 0, "cut at {cut}");
        }
    }
}
