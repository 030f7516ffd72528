//! The ceiling: pgbench on the same PostgreSQL cluster, at the flash sale's concurrency,
//! in a database of its own (`coupan_ceiling`) so the app's payment workers never see its
//! rows. (a) the single-row transaction, (b) the app's purchase statements on its schema,
//! (c) the app's batch admission transaction (64 purchases per transaction).

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::Connection;

use crate::Opts;
use crate::stats::Lat;

pub const CLIENTS: u32 = 64;
const DB: &str = "coupan_ceiling";
/// Purchases per transaction of `app_batch.sql`.
pub const BATCH: u64 = 64;
/// Clients of the batch ceiling (c): the app decides one batch at a time per coupon in a
/// process (one queue task per coupon, `orders::admission`), so one client is the app's
/// shape; `BATCH_CLIENTS_MANY` shows what several processes batching the same coupon
/// could add.
pub const BATCH_CLIENTS: u32 = 1;
pub const BATCH_CLIENTS_MANY: u32 = 4;

pub struct PgbenchRun {
    pub script: String,
    pub clients: u32,
    pub tps: f64,
    pub transactions: u64,
    pub failed: u64,
    /// Per-transaction latencies from pgbench's transaction log.
    pub lat: Lat,
    /// CPU used during the run (pgbench is the load generator).
    pub cpu: crate::sys::Budget,
}

pub struct Ceiling {
    pub clients: u32,
    pub secs: u64,
    pub single_row: PgbenchRun,
    pub app_statements: PgbenchRun,
    /// (c) at `BATCH_CLIENTS` (the ceiling) and at `BATCH_CLIENTS_MANY`.
    pub app_batch: PgbenchRun,
    pub app_batch_many: PgbenchRun,
    pub violations: Vec<String>,
}

impl Ceiling {
    /// Purchases/s of the batch ceiling (c): its transactions/s × the batch size.
    pub fn batch_purchases_per_sec(&self) -> f64 {
        self.app_batch.tps * BATCH as f64
    }
}

/// host, port, user, password from `postgres://user:password@host:port`.
fn parts(base: &str) -> Result<(String, String, String, String), String> {
    let bad = || "BENCH_PG_BASE_URL must look like postgres://user:password@host:port".to_string();
    let rest = base
        .strip_prefix("postgres://")
        .or_else(|| base.strip_prefix("postgresql://"))
        .ok_or_else(bad)?;
    let (cred, hostport) = rest.trim_end_matches('/').split_once('@').ok_or_else(bad)?;
    let (user, pw) = cred.split_once(':').ok_or_else(bad)?;
    let (host, port) = hostport.split_once(':').ok_or_else(bad)?;
    Ok((host.into(), port.into(), user.into(), pw.into()))
}

async fn prepare(opts: &Opts) -> Result<(), String> {
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", opts.pg_base_url))
        .await
        .map_err(|e| format!("ceiling: connect: {e}"))?;
    for sql in [
        format!("drop database if exists {DB} with (force)"),
        format!("create database {DB}"),
    ] {
        sqlx::raw_sql(&sql)
            .execute(&mut admin)
            .await
            .map_err(|e| format!("ceiling: {sql}: {e}"))?;
    }
    let mut conn = sqlx::PgConnection::connect(&format!("{}/{DB}", opts.pg_base_url))
        .await
        .map_err(|e| format!("ceiling: connect: {e}"))?;
    let mut migrations: Vec<PathBuf> = std::fs::read_dir(opts.root.join("migrations"))
        .map_err(|e| format!("ceiling: migrations: {e}"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    migrations.sort();
    migrations.push(opts.root.join("bench/pgbench/setup.sql"));
    for m in migrations {
        let sql = std::fs::read_to_string(&m).map_err(|e| format!("{}: {e}", m.display()))?;
        sqlx::raw_sql(&sql)
            .execute(&mut conn)
            .await
            .map_err(|e| format!("ceiling: {}: {e}", m.display()))?;
    }
    Ok(())
}

/// Runs `bench/pgbench/{script}` with `clients` clients for `opts.pgbench_secs` on
/// database `db`; `defines` are passed as `-D name=value`.
pub fn pgbench(
    opts: &Opts,
    name: &str,
    script: &str,
    db: &str,
    clients: u32,
    defines: &[(&str, String)],
) -> Result<PgbenchRun, String> {
    let (host, port, user, pw) = parts(&opts.pg_base_url)?;
    let logdir = opts.root.join("target/bench/pgbench");
    let _ = std::fs::remove_dir_all(&logdir);
    std::fs::create_dir_all(&logdir).map_err(|e| e.to_string())?;
    let script_path = opts.root.join("bench/pgbench").join(script);
    let cpu_start = crate::sys::Budget::now(&opts.pids());
    let out = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-P", "5", "-l"])
        .arg(format!("--log-prefix={}", logdir.join(name).display()))
        .arg(format!("--client={clients}"))
        .arg(format!("--jobs={}", clients.min(2)))
        .arg(format!("--time={}", opts.pgbench_secs))
        .arg(format!("--file={}", script_path.display()))
        .args(defines.iter().map(|(k, v)| format!("--define={k}={v}")))
        .arg(db)
        .env("PGHOST", host)
        .env("PGPORT", port)
        .env("PGUSER", user)
        .env("PGPASSWORD", pw)
        .output()
        .map_err(|e| format!("pgbench: {e} (is postgresql-contrib installed?)"))?;
    let cpu = crate::sys::Budget::now(&opts.pids()).since(&cpu_start);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "pgbench {script} failed:\n{stdout}\n…\n{}",
            tail.join("\n")
        ));
    }
    let field = |prefix: &str| -> Option<f64> {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l[prefix.len()..].split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    let tps = field("tps = ").ok_or_else(|| format!("pgbench printed no tps:\n{stdout}"))?;
    let transactions = field("number of transactions actually processed: ").unwrap_or(0.0) as u64;
    let failed = field("number of failed transactions: ").unwrap_or(0.0) as u64;
    Ok(PgbenchRun {
        script: format!("bench/pgbench/{script}"),
        clients,
        tps,
        transactions,
        failed,
        lat: read_logs(&logdir)?,
        cpu,
    })
}

/// pgbench `-l` lines: client_id transaction_no time_us script_no epoch epoch_us.
fn read_logs(dir: &Path) -> Result<Lat, String> {
    let mut lat = Lat::default();
    for e in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        let text = std::fs::read_to_string(e.path()).map_err(|e| e.to_string())?;
        for line in text.lines() {
            if let Some(us) = line.split_whitespace().nth(2).and_then(|v| v.parse().ok()) {
                lat.record_us(us);
            }
        }
    }
    Ok(lat)
}

pub async fn run(opts: &Opts) -> Result<Ceiling, String> {
    prepare(opts).await?;
    let single_row = pgbench(opts, "single_row", "single_row.sql", DB, CLIENTS, &[])?;
    eprintln!(
        "    (a) single row: {:.0} tps, latency p50/p95/p99/max {}",
        single_row.tps,
        single_row.lat.summary()
    );
    let app_statements = pgbench(opts, "app_statements", "app_purchase.sql", DB, CLIENTS, &[])?;
    eprintln!(
        "    (b) app statements: {:.0} tps, latency p50/p95/p99/max {}",
        app_statements.tps,
        app_statements.lat.summary()
    );
    let batch = |clients: u32| -> Result<PgbenchRun, String> {
        let run = pgbench(opts, "app_batch", "app_batch.sql", DB, clients, &[])?;
        eprintln!(
            "    (c) app batch, {clients} client(s): {:.0} tps = {:.0} purchases/s, latency p50/p95/p99/max {}",
            run.tps,
            run.tps * BATCH as f64,
            run.lat.summary()
        );
        Ok(run)
    };
    let app_batch = batch(BATCH_CLIENTS)?;
    let app_batch_many = batch(BATCH_CLIENTS_MANY)?;
    // The ceiling scripts must themselves keep stock exact, or their numbers mean nothing.
    let mut violations = Vec::new();
    let mut conn = sqlx::PgConnection::connect(&format!("{}/{DB}", opts.pg_base_url))
        .await
        .map_err(|e| format!("ceiling: connect: {e}"))?;
    let (a_taken, a_orders): (i64, i64) = sqlx::query_as(
        "select 1000000000 - n::bigint, (select count(*) from ceiling_orders) from ceiling_stock where id = 1",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(|e| format!("ceiling check: {e}"))?;
    if a_taken != a_orders {
        violations.push(format!(
            "pgbench (a): {a_taken} units taken but {a_orders} orders"
        ));
    }
    for (what, coupon, transactions, per_transaction) in [
        (
            "(b)",
            "00000000-0000-0000-0000-00000000c001",
            app_statements.transactions,
            1,
        ),
        (
            "(c)",
            "00000000-0000-0000-0000-00000000c002",
            app_batch.transactions + app_batch_many.transactions,
            BATCH as i64,
        ),
    ] {
        let (taken, orders, events, jobs): (i64, i64, i64, i64) = sqlx::query_as(
            "select 1000000000 - c.stock::bigint,
                    (select count(*) from orders o where o.coupon_id = c.id),
                    (select count(*) from events e join orders o on o.id = e.aggregate_id
                      where o.coupon_id = c.id and e.event_type = 'OrderPlaced'),
                    (select count(*) from payment_jobs j join orders o on o.id = j.order_id
                      where o.coupon_id = c.id)
             from coupons c where c.id = $1::uuid",
        )
        .bind(coupon)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| format!("ceiling check: {e}"))?;
        // pgbench counts the transactions that committed; each made `per_transaction`
        // orders (no key collides, no purchase is refused: the stock never runs out).
        let expected = transactions as i64 * per_transaction;
        if taken != orders || orders != events || events != jobs || orders != expected {
            violations.push(format!(
                "pgbench {what}: {taken} units taken, {orders} orders, {events} OrderPlaced events, \
                 {jobs} payment jobs; {transactions} transactions × {per_transaction} = {expected}"
            ));
        }
    }
    Ok(Ceiling {
        clients: CLIENTS,
        secs: opts.pgbench_secs,
        single_row,
        app_statements,
        app_batch,
        app_batch_many,
        violations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_base_url() {
        assert_eq!(
            parts("postgres://bench:pw@127.0.0.1:25420").unwrap(),
            (
                "127.0.0.1".into(),
                "25420".into(),
                "bench".into(),
                "pw".into()
            )
        );
        assert!(parts("mysql://x").is_err());
    }

    #[test]
    fn reads_transaction_logs() {
        let dir = std::env::temp_dir().join(format!("bench-pgbench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lines: String = (1..=100)
            .map(|i| format!("0 {i} {} 0 1700000000 {i}\n", i * 1000))
            .collect();
        std::fs::write(dir.join("a.1"), lines).unwrap();
        let lat = read_logs(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(lat.count(), 100);
        let p99 = lat.ms(0.99).unwrap();
        assert!((98.9..=99.1).contains(&p99), "{p99}");
    }
}
