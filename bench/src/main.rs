//! Coupan's benchmark driver, run by `./scripts/bench.sh` (which builds everything in
//! release mode and starts PostgreSQL, the payment gateway and the app first).
//!
//! Scenarios: flash sale (C = 64 and 256, a run that never sells out and one that does),
//! the same sale with 5,000 live stock streams open (and without, to compare), the pgbench
//! ceiling on the same PostgreSQL, saga latency at a paced rate, my page with
//! 1M orders, the catalogue page, the hydrate bundle and the app's memory. Invariants are
//! checked after every purchase run; a violation makes the process exit with status 1
//! (after the report is written). Missed targets are reported, not fatal.
//!
//! The purchase flow is driven by this crate (reqwest + hdrhistogram) rather than goose:
//! the invariant checks need every order id returned, the saga scenario needs an open-loop
//! paced schedule and the per-order send time, and the report needs responses split by
//! error code (409 out_of_stock vs. 429 vs. 503). Single URLs are driven by wrk.

mod api;
mod ceiling;
mod flash;
mod floor;
mod invariants;
mod live;
mod pages;
mod report;
mod stats;
mod sys;

use std::path::PathBuf;
use std::time::Duration;

/// Everything the scenarios need to know, from the command line and the environment that
/// `scripts/bench.sh` sets.
#[derive(Clone, Debug)]
pub struct Opts {
    pub quick: bool,
    pub out: PathBuf,
    pub command: String,
    pub root: PathBuf,
    pub app_url: String,
    pub gateway_url: String,
    /// The gateway's secret key (`BENCH_GATEWAY_KEY`).
    pub gateway_key: String,
    /// The app's database (for invariants, seeding, drain polling).
    pub database_url: String,
    /// `postgres://user:password@host:port` of the same cluster (pgbench's own database).
    pub pg_base_url: String,
    pub app_pid: Option<u32>,
    /// PostgreSQL's postmaster (`BENCH_PG_PID`) and the gateway (`BENCH_GATEWAY_PID`), for
    /// the CPU budget.
    pub pg_pid: Option<u32>,
    pub gateway_pid: Option<u32>,
    /// The site the app serves (`pkg/` holds the bundle).
    pub site_dir: PathBuf,
    /// Flash-sale load duration per run.
    pub flash_secs: u64,
    pub saga_rate: u64,
    pub saga_secs: u64,
    pub pgbench_secs: u64,
    pub wrk_secs: u64,
    pub seed_customers: i64,
    pub seed_orders: i64,
    /// Stock streams held open in the live scenario.
    pub live_streams: usize,
    pub notes: Vec<String>,
    /// Scenarios to run (`--only`); empty = all. Names: ceiling, flash, live, saga, pages,
    /// bundle (the bundle is measured in every run: `--only bundle` runs nothing else).
    pub only: Vec<String>,
}

impl Opts {
    /// Whether the scenario `name` runs (all do unless `--only` names some).
    pub fn runs(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == name)
    }

    /// The processes the CPU budget names.
    pub fn pids(&self) -> sys::Pids {
        sys::Pids {
            app: self.app_pid,
            postgres: self.pg_pid,
            gateway: self.gateway_pid,
        }
    }

    /// The stand-in gateway, for its ledger.
    pub fn gateway(&self) -> invariants::Gateway<'_> {
        invariants::Gateway {
            url: &self.gateway_url,
            key: &self.gateway_key,
        }
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{name} is not set (run ./scripts/bench.sh)"))
}

fn parse_opts() -> Result<Opts, String> {
    let mut quick = false;
    let mut out = None;
    let mut command = None;
    let mut notes = Vec::new();
    let mut only = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--out" => out = Some(PathBuf::from(args.next().ok_or("--out needs a file")?)),
            "--command" => command = Some(args.next().ok_or("--command needs text")?),
            "--note" => notes.push(args.next().ok_or("--note needs text")?),
            "--only" => {
                let list = args.next().ok_or("--only needs a list")?;
                for name in list.split(',') {
                    if !["ceiling", "flash", "live", "saga", "pages", "bundle"].contains(&name) {
                        return Err(format!(
                            "--only: unknown scenario {name:?} (ceiling, flash, live, saga, pages, bundle)"
                        ));
                    }
                    only.push(name.to_string());
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: bench [--quick] [--only LIST] [--out FILE] [--command TEXT] [--note TEXT]...\n\
                     --only ceiling,flash,live,saga,pages,bundle runs just those scenarios\n\
                     (the bundle is measured in every run).\n\
                     Run it through ./scripts/bench.sh, which starts the servers and sets\n\
                     BENCH_ROOT, BENCH_APP_URL, BENCH_GATEWAY_URL, BENCH_GATEWAY_KEY, BENCH_DATABASE_URL,\n\
                     BENCH_PG_BASE_URL and BENCH_APP_PID."
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    let root = PathBuf::from(env("BENCH_ROOT")?);
    let pid = |name: &str| std::env::var(name).ok().and_then(|p| p.trim().parse().ok());
    let app_pid = pid("BENCH_APP_PID");
    Ok(Opts {
        quick,
        out: out.unwrap_or_else(|| root.join("BENCHMARKS.md")),
        command: command.unwrap_or_else(|| "./scripts/bench.sh".into()),
        app_url: env("BENCH_APP_URL")?,
        gateway_url: env("BENCH_GATEWAY_URL")?,
        gateway_key: env("BENCH_GATEWAY_KEY")?,
        database_url: env("BENCH_DATABASE_URL")?,
        pg_base_url: env("BENCH_PG_BASE_URL")?,
        site_dir: std::env::var("BENCH_SITE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("target/site")),
        root,
        app_pid,
        pg_pid: pid("BENCH_PG_PID"),
        gateway_pid: pid("BENCH_GATEWAY_PID"),
        flash_secs: if quick { 4 } else { 15 },
        saga_rate: 500,
        saga_secs: if quick { 3 } else { 10 },
        pgbench_secs: if quick { 4 } else { 15 },
        wrk_secs: if quick { 3 } else { 10 },
        seed_customers: if quick { 5_000 } else { 100_000 },
        seed_orders: if quick { 50_000 } else { 1_000_000 },
        live_streams: std::env::var("BENCH_LIVE_STREAMS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5_000),
        notes,
        only,
    })
}

fn say(msg: impl AsRef<str>) {
    eprintln!("\x1b[1m--> {}\x1b[0m", msg.as_ref());
}

fn main() {
    // The live scenario starts this driver again as the floor's server (`floor.rs`).
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some(floor::SERVER) {
        floor::serve(&args.next().unwrap_or_default());
    }
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(driver()),
        Err(e) => {
            eprintln!("bench: no async runtime: {e}");
            std::process::exit(1);
        }
    }
}

async fn driver() {
    let opts = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    match run(opts).await {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("bench: an invariant was violated (see the report)");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    }
}

/// Runs every scenario; `Ok(false)` when an invariant was violated.
async fn run(opts: Opts) -> Result<bool, String> {
    let started = std::time::Instant::now();
    let mut rep = report::Report::new(&opts);
    rep.memory_idle = sys::memory(opts.app_pid);
    let stop_busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = sys::busy_sampler(stop_busy.clone());
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect(&opts.database_url)
        .await
        .map_err(|e| format!("cannot connect to the bench database: {e}"))?;
    let client = api::Api::new(&opts.app_url)?;

    say("setting up: an owner and 256 customers through the API");
    let world = api::World::create(&client, 256).await?;

    // The ceiling first, while the app is idle (its own database on the same cluster).
    if opts.runs("ceiling") {
        say("pgbench ceiling: (a) single row, (b) the app's statements, (c) the app's batch");
        rep.ceiling = Some(ceiling::run(&opts).await?);
    }

    let flash_runs: &[(usize, bool)] = if opts.runs("flash") {
        &[(64, false), (64, true), (256, false), (256, true)]
    } else {
        &[]
    };
    for &(customers, sell_out) in flash_runs {
        let stock = if sell_out {
            // Enough to sell out well inside the run at the rate the first run measured.
            let rate = rep.flash.first().map_or(200.0, |r| r.created_per_sec());
            ((rate * opts.flash_secs as f64 / 3.0) as i64).clamp(50, 1_000_000)
        } else {
            1_000_000
        };
        say(format!(
            "flash sale: C={customers}, stock {stock}, {} s",
            opts.flash_secs
        ));
        let run = flash::flash_sale(&opts, &client, &pool, &world, customers, stock).await?;
        eprintln!("    {}", run.one_line());
        rep.flash.push(run);
    }
    rep.memory = sys::memory(opts.app_pid);

    // After the memory of the flash sales is taken: the streams' memory is reported apart.
    if opts.runs("live") {
        let run = live::run(&opts, &client, &pool, &world, opts.live_streams).await?;
        eprintln!("    {}", run.one_line());
        rep.live = Some(run);
    }

    if opts.runs("saga") {
        say(format!(
            "saga: {} purchases/s for {} s, open loop",
            opts.saga_rate, opts.saga_secs
        ));
        let saga = flash::saga(&opts, &client, &pool, &world).await?;
        eprintln!("    {}", saga.one_line());
        rep.saga = Some(saga);
    }

    if opts.runs("pages") {
        say(format!(
            "my page: seeding {} orders over {} customers",
            opts.seed_orders, opts.seed_customers
        ));
        rep.pages = Some(pages::run(&opts, &client, &pool, &world).await?);
    }
    rep.bundle = Some(pages::bundle(&opts)?);
    // Memory again: the page runs may have raised the peak (reported apart).
    rep.memory_end = sys::memory(opts.app_pid);

    // A last global check: every charge in the ledger belongs to a paid order.
    rep.global_violations = invariants::global(&pool, opts.gateway()).await?;
    rep.elapsed = started.elapsed();
    stop_busy.store(true, std::sync::atomic::Ordering::Relaxed);
    rep.busy = busy.await.ok();
    let ok = rep.ok();
    let text = rep.render();
    println!("{text}");
    std::fs::write(&opts.out, &text)
        .map_err(|e| format!("cannot write {}: {e}", opts.out.display()))?;
    say(format!("report written to {}", opts.out.display()));
    Ok(ok)
}
