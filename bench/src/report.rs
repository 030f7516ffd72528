//! The report: printed and written to BENCHMARKS.md.

use std::fmt::Write;
use std::time::Duration;

use crate::Opts;
use crate::ceiling::{Ceiling, PgbenchRun};
use crate::flash::{FlashRun, SagaRun};
use crate::live::LiveRun;
use crate::pages::{Asset, Bundle, Pages, WrkRun};
use crate::stats::fmt_ms;
use crate::sys::{self, Machine, Memory};

// The targets of issue #15, which keeps those of issue #5 it does not change (sizes in
// decimal units: 1 KB = 1000 bytes, 1 MB = 10^6 bytes).
const FLASH_RATIO: f64 = 5.0;
const FLASH_P99_MS: f64 = 150.0;
/// End-to-end flash purchases/s (C=64) over the batch ceiling (c).
const BATCH_RATIO: f64 = 0.6;
const SAGA_P99_MS: f64 = 500.0;
/// My page API req/s over its query's pgbench tps, both at C=64.
const MYPAGE_QUERY_RATIO: f64 = 0.6;
/// Stretch: my page API p99 at C=64.
const MYPAGE_P99_MS: f64 = 10.0;
const SSR_MYPAGE_RPS: f64 = 1_800.0;
const CATALOGUE_RPS: f64 = 1_750.0;
const PAGES_P99_MS: f64 = 60.0;
const BUNDLE_BROTLI_KB: f64 = 250.0;
const RSS_MB: f64 = 150.0;
// Issue #12: live stock streams during a flash sale.
const LIVE_P99_MS: f64 = 250.0;
const LIVE_RATIO: f64 = 0.9;

pub struct Report {
    quick: bool,
    command: String,
    notes: Vec<String>,
    machine: Machine,
    pub ceiling: Option<Ceiling>,
    pub flash: Vec<FlashRun>,
    pub memory_idle: Option<Memory>,
    pub memory: Option<Memory>,
    pub memory_end: Option<Memory>,
    pub live: Option<LiveRun>,
    pub saga: Option<SagaRun>,
    pub pages: Option<Pages>,
    pub bundle: Option<Bundle>,
    pub global_violations: Vec<String>,
    /// Other heavy processes during the run: (samples, samples with some, names).
    pub busy: Option<(u32, u32, std::collections::BTreeSet<String>)>,
    pub elapsed: Duration,
}

/// "met" or how far off, for a number that must stay at or below `target`.
fn at_most(measured: f64, target: f64, unit: &str) -> String {
    if measured <= target {
        "**met**".into()
    } else {
        format!(
            "**missed** by {:.1} {unit} ({:.0}% over)",
            measured - target,
            (measured / target - 1.0) * 100.0
        )
    }
}

/// "met" or how far off, for a number that must reach at least `target`.
fn at_least(measured: f64, target: f64, unit: &str) -> String {
    if measured >= target {
        "**met**".into()
    } else {
        format!(
            "**missed** by {:.0} {unit} ({:.0}% short)",
            target - measured,
            (1.0 - measured / target) * 100.0
        )
    }
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

fn mb_kib(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

impl Report {
    pub fn new(opts: &Opts) -> Report {
        Report {
            quick: opts.quick,
            command: opts.command.clone(),
            notes: opts.notes.clone(),
            machine: sys::machine(&opts.root),
            ceiling: None,
            flash: Vec::new(),
            memory_idle: None,
            memory: None,
            memory_end: None,
            live: None,
            saga: None,
            pages: None,
            bundle: None,
            global_violations: Vec::new(),
            busy: None,
            elapsed: Duration::ZERO,
        }
    }

    fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        for r in &self.flash {
            for x in &r.inv.violations {
                v.push(format!(
                    "flash sale C={} stock={}: {x}",
                    r.customers, r.stock
                ));
            }
        }
        if let Some(l) = &self.live {
            for (what, r) in [("without streams", &l.without), ("with streams", &l.with)] {
                v.extend(
                    r.inv
                        .violations
                        .iter()
                        .map(|x| format!("live, flash sale {what}: {x}")),
                );
            }
            v.extend(l.violations.iter().map(|x| format!("live streams: {x}")));
        }
        if let Some(s) = &self.saga {
            v.extend(s.inv.violations.iter().map(|x| format!("saga: {x}")));
        }
        if let Some(c) = &self.ceiling {
            v.extend(c.violations.iter().cloned());
        }
        if let Some(p) = &self.pages {
            v.extend(p.violations.iter().cloned());
        }
        v.extend(self.global_violations.iter().cloned());
        v
    }

    pub fn ok(&self) -> bool {
        self.violations().is_empty()
    }

    fn flash_run(&self, c: usize, sell_out: bool) -> Option<&FlashRun> {
        self.flash
            .iter()
            .find(|r| r.customers == c && r.sell_out == sell_out)
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(s, "# Coupan benchmarks\n");
        let _ = writeln!(
            s,
            "Written by `{}` ({} run, {:.0} s). Re-run it on a quiet machine for numbers to compare.\n",
            self.command,
            if self.quick {
                "**quick smoke** — short runs, small seed; not for comparison"
            } else {
                "full"
            },
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(s, "| | |\n|---|---|");
        let _ = writeln!(s, "| date | {} |", m.date);
        let _ = writeln!(s, "| git commit | {} |", m.commit);
        let _ = writeln!(s, "| CPU | {} × {} |", m.cores, m.cpu_model);
        let _ = writeln!(s, "| memory | {} MiB |", m.mem_total_mb);
        let _ = writeln!(s, "| kernel | {} |", m.kernel);
        let _ = writeln!(
            s,
            "| load average (1/5/15 min) | at start {}; at end {} |",
            m.loadavg,
            sys::loadavg()
        );
        let busy_end = sys::busy_processes();
        let _ = writeln!(
            s,
            "| other heavy processes | at start: {}; at end: {} |",
            if m.busy.is_empty() {
                "none".into()
            } else {
                m.busy.join(", ")
            },
            if busy_end.is_empty() {
                "none".into()
            } else {
                busy_end.join(", ")
            }
        );
        if let Some((samples, busy, names)) = &self.busy {
            let _ = writeln!(
                s,
                "| other heavy processes during the run | {} |",
                if *busy == 0 {
                    format!("none seen (sampled every 2 s, {samples} samples)")
                } else {
                    format!(
                        "**yes** — in {busy} of {samples} samples (every 2 s): {}; the numbers are lower than a quiet machine gives",
                        names.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                }
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "| note | {n} |");
        }
        let _ = writeln!(s);

        self.render_targets(&mut s);
        self.render_flash(&mut s);
        self.render_live(&mut s);
        self.render_ceiling(&mut s);
        self.render_saga(&mut s);
        self.render_pages(&mut s);
        self.render_cpu(&mut s);
        self.render_bundle(&mut s);
        self.render_memory(&mut s);
        self.render_invariants(&mut s);
        let _ = writeln!(s, "{}", METHOD.trim());
        s
    }

    fn render_targets(&self, s: &mut String) {
        let _ = writeln!(s, "## Targets (issue #15; the live targets of issue #12)\n");
        let _ = writeln!(s, "| target | measured | result |\n|---|---|---|");
        let flash64 = self.flash_run(64, false);
        let single = self.ceiling.as_ref().map(|c| c.single_row.tps);
        if let (Some(f), Some(tps)) = (flash64, single) {
            let rate = f.created_per_sec();
            let _ = writeln!(
                s,
                "| flash sale C=64: purchases/s ≥ {FLASH_RATIO}× single-row pgbench tps ({:.0}/s) | {rate:.0}/s = {:.2}× | {} |",
                FLASH_RATIO * tps,
                rate / tps,
                at_least(rate, FLASH_RATIO * tps, "purchases/s")
            );
        }
        if let (Some(f), Some(c)) = (flash64, &self.ceiling) {
            let rate = f.created_per_sec();
            let ceiling = c.batch_purchases_per_sec();
            let _ = writeln!(
                s,
                "| flash sale C=64: purchases/s ≥ {BATCH_RATIO}× the app's batch transaction in pgbench (c) ({:.0} purchases/s) | {rate:.0}/s = {:.2}× | {} |",
                ceiling,
                rate / ceiling,
                at_least(rate, BATCH_RATIO * ceiling, "purchases/s")
            );
        }
        if let Some(f) = flash64 {
            let p99 = f.tally.all.ms(0.99).unwrap_or(f64::INFINITY);
            let _ = writeln!(
                s,
                "| flash sale C=64: p99 of purchase requests ≤ {FLASH_P99_MS} ms | {} | {} |",
                fmt_ms(Some(p99)),
                at_most(p99, FLASH_P99_MS, "ms")
            );
        }
        if !self.flash.is_empty() {
            let oversold: i64 = self
                .flash
                .iter()
                .map(|r| (r.inv.sold - r.stock).max(0))
                .sum();
            let _ = writeln!(
                s,
                "| zero oversold (all {} flash runs) | {oversold} units oversold | {} |",
                self.flash.len(),
                if oversold == 0 {
                    "**met**"
                } else {
                    "**missed**"
                }
            );
        }
        if let Some(g) = &self.saga {
            let p99 = g.visible.ms(0.99).unwrap_or(f64::INFINITY);
            let _ = writeln!(
                s,
                "| saga: purchase → paid on my page p99 ≤ {SAGA_P99_MS} ms at {}/s | {} (achieved {:.0}/s) | {} |",
                g.rate,
                fmt_ms(Some(p99)),
                g.achieved_rate(),
                at_most(p99, SAGA_P99_MS, "ms")
            );
        }
        if let Some(p) = &self.pages {
            let api = p.mypage_api.rps();
            let query = p.mypage_query.tps;
            let _ = writeln!(
                s,
                "| my page API at C=64: req/s ≥ {MYPAGE_QUERY_RATIO}× its query in pgbench at C=64 ({:.0} tps) | {api:.0} req/s = {:.2}× | {} |",
                query,
                api / query,
                at_least(api, MYPAGE_QUERY_RATIO * query, "req/s")
            );
            let _ = writeln!(
                s,
                "| my page API p99 ≤ {MYPAGE_P99_MS} ms at C=64, {} orders (stretch) | {} | {} |",
                p.seed_orders,
                fmt_ms(Some(p.mypage_api.p99_ms)),
                at_most(p.mypage_api.p99_ms, MYPAGE_P99_MS, "ms")
            );
            for (r, rps) in [
                (&p.mypage_ssr, SSR_MYPAGE_RPS),
                (&p.catalogue, CATALOGUE_RPS),
            ] {
                let _ = writeln!(
                    s,
                    "| `GET {}` (SSR) at C=64: ≥ {rps:.0} req/s | {:.0} req/s | {} |",
                    r.url_path,
                    r.rps(),
                    at_least(r.rps(), rps, "req/s")
                );
                let _ = writeln!(
                    s,
                    "| `GET {}` (SSR) at C=64: p99 ≤ {PAGES_P99_MS} ms | {} | {} |",
                    r.url_path,
                    fmt_ms(Some(r.p99_ms)),
                    at_most(r.p99_ms, PAGES_P99_MS, "ms")
                );
            }
        }
        if let Some(b) = &self.bundle {
            let br: u64 = b.wasm.iter().map(|a| a.brotli).sum();
            let _ = writeln!(
                s,
                "| hydrate bundle (wasm) ≤ {BUNDLE_BROTLI_KB} KB brotli | {} | {} |",
                kb(br),
                at_most(br as f64 / 1000.0, BUNDLE_BROTLI_KB, "KB")
            );
        }
        if let Some(peak) = self.rss_peak_kb() {
            let mb = mb_kib(peak);
            let _ = writeln!(
                s,
                "| app RSS ≤ {RSS_MB} MB during the flash sale | {mb:.1} MB | {} |",
                at_most(mb, RSS_MB, "MB")
            );
        }
        if let Some(l) = &self.live {
            let p99 = l.every_client.ms(0.99).unwrap_or(f64::INFINITY);
            let _ = writeln!(
                s,
                "| live (issue #12): stock change commit → event at every one of {} streams, p99 ≤ {LIVE_P99_MS} ms | {} | {} |",
                l.streams,
                fmt_ms(Some(p99)),
                at_most(p99, LIVE_P99_MS, "ms")
            );
            let _ = writeln!(
                s,
                "| live (issue #12): flash-sale purchases/s with the streams open ≥ {:.0}% of without | {:.0}/s vs {:.0}/s = {:.0}% | {} |",
                LIVE_RATIO * 100.0,
                l.with.created_per_sec(),
                l.without.created_per_sec(),
                l.ratio() * 100.0,
                at_least(l.ratio() * 100.0, LIVE_RATIO * 100.0, "points")
            );
        }
        let _ = writeln!(
            s,
            "\nWhat limits a missed target (profiles and measurements, written by hand): `bench/LIMITS.md`.\n"
        );
    }

    /// Peak RSS during the flash sales: the higher of the 100 ms samples and VmHWM read
    /// right after them (VmHWM covers the moments between samples).
    fn rss_peak_kb(&self) -> Option<u64> {
        let sampled = self.flash.iter().filter_map(|r| r.rss_peak_kb).max();
        let hwm = self.memory.map(|m| m.hwm_kb);
        sampled.max(hwm)
    }

    fn render_flash(&self, s: &mut String) {
        if self.flash.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "## Flash sale\n\nEach customer logged in once (`POST /api/v1/auth/token`), then bought quantity 1 in a loop \
             (`POST /api/v1/orders`, Bearer token, a fresh `Idempotency-Key` each) for the whole run; latency is over \
             all purchase requests (201 and refusals). Drain = from the end of the load until no order of the coupon \
             is still `ordered`. Admission batches = transactions that made the orders (the orders of a batch share \
             their `ordered_at`, the transaction's start).\n"
        );
        let _ = writeln!(
            s,
            "| C | stock | load | 201 | purchases/s | requests/s | p50 / p95 / p99 / max | 409 out_of_stock | 429 | 503 | errors | sold / left | last 201 at | drain until all paid | paid / failed / ledger charges | admission batches (orders per batch) |"
        );
        let _ = writeln!(
            s,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in &self.flash {
            let _ = writeln!(
                s,
                "| {} | {}{} | {:.1} s | {} | **{:.0}** | {:.0} | {} | {} | {} | {} | {} | {} / {} | {:.1} s | {} | {} / {} / {} | {} ({:.1}) |",
                r.customers,
                r.stock,
                if r.sell_out { " (sells out)" } else { "" },
                r.load.as_secs_f64(),
                r.tally.created,
                r.created_per_sec(),
                r.requests_per_sec(),
                r.tally.all.summary(),
                r.tally.out_of_stock,
                r.tally.limited,
                r.tally.shed,
                r.tally.errors_text(),
                r.inv.sold,
                r.inv.remaining,
                r.tally.last_created.as_secs_f64(),
                r.drain.map_or("not drained".into(), |d| format!(
                    "{:.2} s",
                    d.as_secs_f64()
                )),
                r.inv.paid,
                r.inv.failed,
                r.inv.charges,
                r.batches,
                r.per_batch()
            );
        }
        let _ = writeln!(
            s,
            "\nLatency of the 201 answers alone (p50 / p95 / p99 / max): {}\n",
            self.flash
                .iter()
                .map(|r| format!(
                    "C={} stock {}: {}",
                    r.customers,
                    r.stock,
                    r.tally.ok.summary()
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }

    fn render_live(&self, s: &mut String) {
        let Some(l) = &self.live else { return };
        let secs = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.1} s"));
        let pair = |a: Option<f64>, b: Option<f64>| format!("{} / {}", secs(a), secs(b));
        let per_thousand =
            |cpu: Option<f64>, n: u64| cpu.filter(|_| n > 0).map(|c| c * 1000.0 / n as f64);
        let mib = |kb: Option<u64>| kb.map_or("–".into(), |k| format!("{:.1} MB", mb_kib(k)));
        let per_stream = match (l.rss_before_kb, l.rss_open_kb) {
            (Some(a), Some(b)) if l.opened > 0 => {
                format!(
                    "{:.1} KB",
                    (b.saturating_sub(a)) as f64 * 1.024 / l.opened as f64
                )
            }
            _ => "–".into(),
        };
        let _ = writeln!(
            s,
            "## Live stock streams (issue #12)\n\n{} clients hold `GET /api/v1/coupons/{{id}}/live` open on the one app \
             process while C={} customers buy that coupon ({} s, stock never runs out); the same sale on a coupon of \
             its own without streams ran first. A change's time is when the driver's own `LISTEN coupon_live` got the \
             database's notification (sent at commit); a client has the change once it received an event with that \
             stock or less (the app paces each stream to at most 5 events/s per coupon, skipping values in between, \
             never the last). The clients run in the driver, on the same 2 cores as the app and PostgreSQL.\n",
            l.streams,
            crate::live::CUSTOMERS,
            l.with.load.as_secs_f64().round()
        );
        let _ = writeln!(
            s,
            "| | value |\n|---|---|\n| streams opened | {} of {} in {:.1} s |\n| app RSS before / with the streams open | {} / {} ({} per stream) |\n\
             | app RSS peak during the sale with streams (100 ms samples) | {} |\n\
             | purchases/s without / with streams | {:.0} / **{:.0}** ({:.0}%) |\n\
             | purchase p99 without / with streams | {} / {} |\n\
             | stock changes (commits) during the sale | {} |\n\
             | **commit → every client** p50 / p95 / p99 / max | {} |\n\
             | commit → one client p50 / p95 / p99 / max | {} |\n\
             | events received by all clients during the sale | {} ({:.1} per client per second) |\n\
             | shortest gap between two events of a client | {} |\n\
             | CPU seconds during the sale without / with streams: app | {} |\n\
             | the same: driver (buyers, and the stream clients in the second sale) | {} |\n\
             | the same: whole machine (2 cores) | {} |\n\
             | app CPU per 1,000 purchases without / with streams | {} |",
            l.opened,
            l.streams,
            l.open_time.as_secs_f64(),
            mib(l.rss_before_kb),
            mib(l.rss_open_kb),
            per_stream,
            mib(l.with.rss_peak_kb),
            l.without.created_per_sec(),
            l.with.created_per_sec(),
            l.ratio() * 100.0,
            fmt_ms(l.without.tally.all.ms(0.99)),
            fmt_ms(l.with.tally.all.ms(0.99)),
            l.changes,
            l.every_client.summary(),
            l.per_client.summary(),
            l.events,
            l.events as f64 / l.opened.max(1) as f64 / l.with.load.as_secs_f64(),
            l.min_gap
                .map_or("–".into(), |g| fmt_ms(Some(g.as_secs_f64() * 1000.0))),
            pair(l.cpu_without.app, l.cpu_with.app),
            pair(l.cpu_without.driver, l.cpu_with.driver),
            pair(l.cpu_without.machine, l.cpu_with.machine),
            {
                let ms =
                    |x: Option<f64>| x.map_or("–".into(), |v| format!("{:.0} ms", v * 1000.0));
                format!(
                    "{} / {}",
                    ms(per_thousand(l.cpu_without.app, l.without.tally.created)),
                    ms(per_thousand(l.cpu_with.app, l.with.tally.created))
                )
            },
        );
        // CPU per event: what the sale with streams used beyond the sale's own (the sale
        // without streams, scaled by purchases), over the events delivered.
        let per_event = |with: Option<f64>, without: Option<f64>| -> String {
            match (with, without) {
                (Some(w), Some(wo)) if l.events > 0 && l.without.tally.created > 0 => format!(
                    "{:.1} µs",
                    (w - wo * l.with.tally.created as f64 / l.without.tally.created as f64) * 1e6
                        / l.events as f64
                ),
                _ => "–".into(),
            }
        };
        let _ = writeln!(
            s,
            "| CPU per event delivered in the sale (with streams, minus the sale's own scaled by purchases): app / driver | {} / {} |",
            per_event(l.cpu_with.app, l.cpu_without.app),
            per_event(l.cpu_with.driver, l.cpu_without.driver),
        );
        if let Some(f) = &l.floor {
            let us = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.1} µs"));
            let pct = |x: Option<f64>| x.map_or("–".into(), |v| format!("{:.0}%", v * 100.0));
            let _ = writeln!(
                s,
                "| **the floor**: the same fan-out with a bare tokio server (`bench/src/floor.rs`: no HTTP library, no app; {} of {} streams, 5 events/s each, no sale), CPU per event: server / clients | {} / {} |\n\
                 | the floor's share of the 2 cores at {:.0} events/s (server and clients; whole machine busy meanwhile) | {} (machine {}) |",
                f.opened,
                f.streams,
                us(f.server_us()),
                us(f.clients_us()),
                f.events as f64 / f.secs,
                pct(f.share()),
                pct(f.machine_cpu.map(|m| m / f.secs / 2.0)),
            );
        }
        s.push('\n');
    }

    fn render_ceiling(&self, s: &mut String) {
        let Some(c) = &self.ceiling else { return };
        let _ = writeln!(
            s,
            "## Ceiling: pgbench on the same PostgreSQL\n\n`pgbench -n -M prepared -c C -j min(C,2) -T {}` in a database of its own on the same cluster \
             (the app's migrations applied, triggers included), before the HTTP runs; latency from pgbench's per-transaction log. \
             (a) and (b) run at the flash sale's C={}. (c) is the app's batch admission transaction \
             (`orders::admission::decide`: find earlier orders by key, lock the coupon row, read the coupon, insert {} orders, \
             one stock update, {} `OrderPlaced` events and {} payment jobs, commit) with one pgbench transaction = one batch of \
             {} purchases. Its ceiling runs at C={}: the app keeps one queue task per coupon in a process, which decides one \
             batch at a time (the next batch starts after the previous one committed), so one client is what the app can \
             ask of PostgreSQL for one coupon; more clients would only wait for the coupon's row lock, which every batch holds \
             from its start to its commit. C={} is shown for comparison (several app processes batching the same coupon). \
             The app's batches hold at most `batch_max` = 128 purchases, and at most 64 at C=64 (one purchase in flight per \
             customer); the flash sale table shows how many the app's batches held on average.\n",
            c.secs,
            c.clients,
            crate::ceiling::BATCH,
            crate::ceiling::BATCH,
            crate::ceiling::BATCH,
            crate::ceiling::BATCH,
            crate::ceiling::BATCH_CLIENTS,
            crate::ceiling::BATCH_CLIENTS_MANY
        );
        let _ = writeln!(
            s,
            "| script | C | tps | purchases/s | transactions | failed | latency p50 / p95 / p99 / max |\n|---|---|---|---|---|---|---|"
        );
        let row = |s: &mut String, r: &PgbenchRun, what: &str, per: u64| {
            let _ = writeln!(
                s,
                "| {what} (`{}`) | {} | **{:.0}** | **{:.0}** | {} | {} | {} |",
                r.script,
                r.clients,
                r.tps,
                r.tps * per as f64,
                r.transactions,
                r.failed,
                r.lat.summary()
            );
        };
        row(s, &c.single_row, "(a) single row + order + event", 1);
        row(
            s,
            &c.app_statements,
            "(b) the app's purchase statements, one purchase per transaction",
            1,
        );
        row(
            s,
            &c.app_batch,
            "(c) the app's batch transaction, 64 purchases",
            crate::ceiling::BATCH,
        );
        row(
            s,
            &c.app_batch_many,
            "(c) the same, several processes (for comparison)",
            crate::ceiling::BATCH,
        );
        for (cust, sell_out) in [(64, false), (256, false)] {
            if let Some(f) = self.flash_run(cust, sell_out) {
                let rate = f.created_per_sec();
                let _ = writeln!(
                    s,
                    "\nEnd-to-end purchases/s (C={cust}) / single-row pgbench tps = {:.0} / {:.0} = **{:.2}×**; \
                     / app-statements pgbench tps = {:.2}×; / batch ceiling (c) purchases/s = {:.0} / {:.0} = **{:.2}×**",
                    rate,
                    c.single_row.tps,
                    rate / c.single_row.tps,
                    rate / c.app_statements.tps,
                    rate,
                    c.batch_purchases_per_sec(),
                    rate / c.batch_purchases_per_sec()
                );
            }
        }
        let _ = writeln!(s);
    }

    /// CPU microseconds per purchase (flash runs, ceilings) or per request (pages), by process.
    fn render_cpu(&self, s: &mut String) {
        let mut rows: Vec<(String, &sys::Budget, u64, &str)> = Vec::new();
        for r in &self.flash {
            rows.push((
                format!(
                    "flash sale C={} stock {}{}",
                    r.customers,
                    r.stock,
                    if r.sell_out { " (sells out)" } else { "" }
                ),
                &r.cpu,
                r.tally.created,
                "purchase",
            ));
        }
        if let Some(c) = &self.ceiling {
            for r in [&c.app_batch, &c.app_batch_many] {
                rows.push((
                    format!("pgbench (c) batch, C={}", r.clients),
                    &r.cpu,
                    r.transactions * crate::ceiling::BATCH,
                    "purchase",
                ));
            }
        }
        if let Some(p) = &self.pages {
            for r in [
                &p.mypage_api,
                &p.mypage_api_c8,
                &p.mypage_ssr,
                &p.catalogue,
                &p.coupon_page,
            ] {
                rows.push((format!("{} (wrk)", r.what), &r.cpu, r.requests, "request"));
            }
            rows.push((
                "mypage query (pgbench, C=64)".into(),
                &p.mypage_query.cpu,
                p.mypage_query.transactions,
                "query",
            ));
        }
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "## CPU budget\n\nCPU microseconds (user + system) per purchase, per request or per query, read from `/proc` \
             before and after each run. Flash runs: from the start of the load until every order was paid or failed \
             (the payments of the run included). Per process: the app; PostgreSQL = the postmaster and all its \
             children (backends, background workers), the live ones' utime + stime plus the cutime + cstime of every \
             process of the tree, which holds the time of children that exited and were reaped (backends that closed \
             during the run count); the gateway (`paygate`); the load generator = this driver and its children (the \
             flash buyers run in the driver; wrk and pgbench are its children, counted once they exit). Machine = busy \
             time of all cores from `/proc/stat` (everything but idle and iowait); rest = machine − the named \
             processes (other processes on the machine, interrupts; negative only from rounding to the 10 ms clock \
             tick). Cores busy = machine CPU / wall time.\n"
        );
        let _ = writeln!(
            s,
            "| run | per | count | wall | app | PostgreSQL | gateway | load generator | named | **machine** | rest | cores busy |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for (what, b, n, per) in rows {
            let us = |x: Option<f64>| match x {
                Some(v) if n > 0 => format!("{:.0}", v * 1e6 / n as f64),
                _ => "–".into(),
            };
            let _ = writeln!(
                s,
                "| {what} | {per} | {n} | {:.1} s | {} | {} | {} | {} | {} | **{}** | {} | {} |",
                b.wall,
                us(b.app),
                us(b.postgres),
                us(b.gateway),
                us(b.load),
                us(Some(b.named())),
                us(b.machine),
                us(b.rest()),
                b.machine
                    .filter(|_| b.wall > 0.0)
                    .map_or("–".into(), |m| format!("{:.2}", m / b.wall))
            );
        }
        let _ = writeln!(s);
    }

    fn render_saga(&self, s: &mut String) {
        let Some(g) = &self.saga else { return };
        let _ = writeln!(
            s,
            "## Saga latency\n\nOpen loop: one purchase every {:.1} ms ({}/s planned, {} in all) over 256 customers, \
             whatever the answers; a request is skipped (and counted) only when {} are in flight. \
             \"Visible\" = from sending the purchase until a poller (every 20 ms, on the `mypage` table, the \
             read model `GET /api/v1/mypage` serves) sees the order `paid`; \"stamped\" = `mypage.paid_at − \
             mypage.ordered_at` as the database stamped them.\n",
            1000.0 / g.rate as f64,
            g.rate,
            g.planned,
            2048
        );
        let _ = writeln!(
            s,
            "| | value |\n|---|---|\n| purchases answered 201 | {} ({:.0}/s over {:.1} s) |\n| skipped ticks | {} |\n\
             | 409 / 429 / 503 / errors | {} / {} / {} / {} |\n| purchase request p50 / p95 / p99 / max | {} |\n\
             | **visible on my page** p50 / p95 / p99 / max | {} |\n| stamped paid_at − ordered_at p50 / p95 / p99 / max | {} |\n\
             | never seen paid | {} |\n| drain after the load | {} |\n",
            g.tally.created,
            g.achieved_rate(),
            g.load.as_secs_f64(),
            g.skipped,
            g.tally.out_of_stock,
            g.tally.limited,
            g.tally.shed,
            g.tally.errors_text(),
            g.tally.all.summary(),
            g.visible.summary(),
            g.stamped.summary(),
            g.unseen,
            g.drain.map_or("not drained".into(), |d| format!(
                "{:.2} s",
                d.as_secs_f64()
            ))
        );
    }

    fn render_pages(&self, s: &mut String) {
        let Some(p) = &self.pages else { return };
        let _ = writeln!(
            s,
            "## Pages (wrk, {} connections, 2 threads)\n\nMy page: {} paid orders over {} customers ({} each; {} paid my-page rows built), seeded in {:.0} s \
             straight in SQL through the same triggers the app's writes fire (order rows, then one `OrderPlaced` and one \
             `PaymentCompleted` event per order; the `mypage` rows are built by the events trigger; voucher codes are \
             in the events and the read model, the `vouchers` table is not seeded). Requests rotate over 64 seeded \
             customers: Bearer tokens for the API, session cookies from the login form (`POST /sfn/auth/login`) for \
             the SSR page. After the seed and before the measurements, `VACUUM (ANALYZE)` and `CHECKPOINT` ({:.0} s), \
             as pgbench vacuums before its runs: the upkeep of the fresh rows stays out of the timings.\n",
            crate::pages::CONNECTIONS,
            p.seed_orders,
            p.seed_customers,
            p.items_per_customer,
            p.mypage_rows,
            p.seed_time.as_secs_f64(),
            p.upkeep_time.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "| page | requests/s | p50 | p90 | p99 | max | non-2xx | socket errors |\n|---|---|---|---|---|---|---|---|"
        );
        let row = |s: &mut String, r: &WrkRun| {
            let _ = writeln!(
                s,
                "| {} `GET {}` | **{:.0}** | {:.2} ms | {:.2} ms | **{:.2} ms** | {:.1} ms | {} | {} |",
                r.what,
                if r.url_path.starts_with("/coupons/") {
                    "/coupons/{id}"
                } else {
                    &r.url_path
                },
                r.rps(),
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                r.max_ms,
                r.non_2xx,
                r.socket_errors
            );
        };
        for r in [
            &p.mypage_api,
            &p.mypage_api_c8,
            &p.mypage_ssr,
            &p.catalogue,
            &p.coupon_page,
        ] {
            row(s, r);
        }
        let q = &p.mypage_query;
        let _ = writeln!(
            s,
            "\nMy page's query ceiling: `{}` (pgbench -M prepared, {} clients), the query `GET /api/v1/mypage` runs \
             (`mypage::repo::for_customer`, limit 100 + 1, no cursor) over the same 64 customers, on the same seeded \
             database, right after the API run: **{:.0} tps**, {} failed, latency p50 / p95 / p99 / max {}. \
             API req/s / query tps = {:.0} / {:.0} = **{:.2}×**.\n",
            q.script,
            q.clients,
            q.tps,
            q.failed,
            q.lat.summary(),
            p.mypage_api.rps(),
            q.tps,
            p.mypage_api.rps() / q.tps
        );
    }

    fn render_bundle(&self, s: &mut String) {
        let Some(b) = &self.bundle else { return };
        let _ = writeln!(
            s,
            "## Bundle (`pkg/` of the release site the app served)\n\n| file | raw | gzip -9 | brotli -q 11 |\n|---|---|---|---|"
        );
        let row = |s: &mut String, a: &Asset| {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                a.file,
                kb(a.raw),
                kb(a.gzip),
                kb(a.brotli)
            );
        };
        for a in b.wasm.iter().chain(&b.js).chain(&b.css) {
            row(s, a);
        }
        let _ = writeln!(s);
    }

    fn render_memory(&self, s: &mut String) {
        let _ = writeln!(s, "## Memory of the app process\n");
        match (self.rss_peak_kb(), self.memory, self.memory_end) {
            (Some(peak), m, end) => {
                let _ = writeln!(
                    s,
                    "Peak RSS during the flash sales: **{:.1} MB** (highest of VmRSS sampled every 100 ms and VmHWM \
                     right after the last flash run{}). Before any load (just started): VmRSS {}. After all runs: VmRSS {}, VmHWM {}.\n",
                    mb_kib(peak),
                    m.map_or(String::new(), |m| format!(" = {:.1} MB", mb_kib(m.hwm_kb))),
                    self.memory_idle
                        .map_or("–".into(), |e| format!("{:.1} MB", mb_kib(e.rss_kb))),
                    end.map_or("–".into(), |e| format!("{:.1} MB", mb_kib(e.rss_kb))),
                    end.map_or("–".into(), |e| format!("{:.1} MB", mb_kib(e.hwm_kb))),
                );
            }
            _ => {
                let _ = writeln!(s, "Not measured (no app pid).\n");
            }
        }
    }

    fn render_invariants(&self, s: &mut String) {
        let _ = writeln!(s, "## Invariants\n");
        let _ = writeln!(
            s,
            "Checked after every purchase run with the `invariants` crate (the same checks as the server and \
             operations tests): initial stock = remaining + units in live orders, no negative stock, nothing \
             oversold; orders in the database = 201 answers, id for id; exactly one `OrderPlaced` event per order; \
             the gateway ledger has exactly one charge (of the order's amount, under its payment key) per paid order \
             and none for the others, and no refunds; one `PaymentCompleted`/`PaymentFailed` event per paid/failed \
             order; one voucher per paid unit; every order's my-page row in agreement; after the drain every order \
             `paid` or `payment_failed` and no payment job left. After all runs the same over every order bought \
             over HTTP, and every ledger entry belongs to one of them. \
             The pgbench scripts' own stock, order and event counts are checked too.\n"
        );
        let v = self.violations();
        if v.is_empty() {
            let runs = self.flash.len() + usize::from(self.saga.is_some());
            let _ = writeln!(s, "**All held** ({runs} purchase runs).\n");
        } else {
            let _ = writeln!(s, "**VIOLATED** — the benchmark failed:\n");
            for x in v {
                let _ = writeln!(s, "- {x}");
            }
            let _ = writeln!(s);
        }
    }
}

const METHOD: &str = r#"
## How it is run

`./scripts/bench.sh` builds the site and server (`cargo leptos build --release`), the payment
gateway and this driver (`bench/`) in release mode, starts a fresh PostgreSQL cluster in
`target/bench/pg` (port 25420, default settings except `max_connections`), the gateway
(`paygate`, no latency, no failures, ledger in `target/bench/`) and the app (`LEPTOS_ENV=PROD`,
`RUST_LOG=warn`, rate limits raised out of the way) on port 3400, then runs `target/release/bench`.
Load generators run on the same machine as the app and the database, and take part of the CPU.
The flash sale and saga driver is `bench/` (reqwest + hdrhistogram) rather than goose: the
invariants need every order id that was answered, the saga run needs an open-loop schedule and
each order's send time, and refusals are counted by their error code. Pages are driven by `wrk`
with `bench/wrk/bench.lua`; the ceiling by `pgbench` with `bench/pgbench/*.sql`.
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_met_or_by_how_much() {
        assert_eq!(at_most(150.0, 150.0, "ms"), "**met**");
        assert_eq!(
            at_most(300.0, 150.0, "ms"),
            "**missed** by 150.0 ms (100% over)"
        );
        assert_eq!(at_least(1400.0, 1380.0, "purchases/s"), "**met**");
        assert_eq!(
            at_least(690.0, 1380.0, "purchases/s"),
            "**missed** by 690 purchases/s (50% short)"
        );
    }
}
