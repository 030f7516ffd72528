//! My page with a large order history, the catalogue page (wrk), and the bundle sizes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::Opts;
use crate::api::{Api, PASSWORD, World};

pub const CONNECTIONS: u32 = 64;
const COUPONS: usize = 10;
/// Seeded orders are inserted and folded this many at a time (one transaction each).
const CHUNK: i64 = 50_000;

/// One wrk run (numbers printed by bench/wrk/bench.lua's `done`).
#[derive(Clone, Debug, Default)]
pub struct WrkRun {
    pub what: String,
    pub url_path: String,
    pub requests: u64,
    pub secs: f64,
    pub non_2xx: u64,
    pub socket_errors: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// CPU used during the run (wrk is the load generator).
    pub cpu: crate::sys::Budget,
}

impl WrkRun {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }
}

pub struct Pages {
    pub seed_customers: i64,
    pub seed_orders: i64,
    pub seed_time: Duration,
    /// `VACUUM (ANALYZE)` and `CHECKPOINT` after the seed, before the measurements.
    pub upkeep_time: Duration,
    pub mypage_rows: i64,
    pub items_per_customer: usize,
    pub mypage_api: WrkRun,
    /// The same requests with 8 connections: the latency when the CPU is not saturated.
    pub mypage_api_c8: WrkRun,
    /// pgbench running the API's query over the same 64 customers (`bench/pgbench/mypage.sql`).
    pub mypage_query: crate::ceiling::PgbenchRun,
    pub mypage_ssr: WrkRun,
    pub catalogue: WrkRun,
    pub coupon_page: WrkRun,
    pub violations: Vec<String>,
}

fn db(e: sqlx::Error) -> String {
    format!("my page seed: {e}")
}

/// Seeds `opts.seed_orders` paid orders over `opts.seed_customers` customers through the
/// same path the app's writes take in the database: order rows, then an `OrderPlaced` and a
/// `PaymentCompleted` event per order, whose trigger builds the `mypage` rows.
async fn seed(opts: &Opts, api: &Api, pool: &PgPool, world: &World) -> Result<i64, String> {
    let mut coupons = Vec::new();
    for k in 0..COUPONS {
        coupons.push(
            api.create_coupon(
                &world.owner_token,
                &format!("Seeded coupon {k}"),
                1_000 * (k as i64 + 1),
                1_000_000,
            )
            .await?,
        );
    }
    // Every seeded customer gets the password hash of a customer made through the API,
    // so that seeded customers can log in with the bench password.
    let (hash,): (String,) = sqlx::query_as("select password_hash from users where email = $1")
        .bind(&world.customers[0].email)
        .fetch_one(pool)
        .await
        .map_err(db)?;
    sqlx::query(
        "insert into users (id, email, password_hash, name, role)
         select md5('seed-c' || g)::uuid, 'seed' || g || '@bench.coupan.kr', $1, 'Seeded ' || g, 'customer'
         from generate_series(1, $2::bigint) g",
    )
    .bind(&hash)
    .bind(opts.seed_customers)
    .execute(pool)
    .await
    .map_err(db)?;

    // Two connections fold chunks in parallel (the machine has few cores).
    let chunks: Vec<(i64, i64)> = (0..(opts.seed_orders + CHUNK - 1) / CHUNK)
        .map(|i| (i * CHUNK + 1, ((i + 1) * CHUNK).min(opts.seed_orders)))
        .collect();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..2 {
        let mine: Vec<(i64, i64)> = chunks.iter().copied().skip(w).step_by(2).collect();
        let (pool, coupons) = (pool.clone(), coupons.clone());
        let (n_customers, n_orders) = (opts.seed_customers, opts.seed_orders);
        workers.spawn(async move {
            for (lo, hi) in mine {
                let mut tx = pool.begin().await.map_err(db)?;
                // Order g belongs to customer (g mod N) + 1 and coupon g mod 10; older
                // orders first, one minute apart per customer.
                sqlx::query(
                    "insert into orders (id, customer_id, coupon_id, quantity, unit_price, amount, status,
                                         payment_status, payment_key, request_id, ordered_at, paid_at)
                     select md5('seed-o' || g)::uuid, md5('seed-c' || ((g - 1) % $3 + 1))::uuid,
                            ($5::text[])[((g % $6) + 1)::int]::uuid, 1, c.price, c.price, 'paid', 'completed',
                            'pay_seed_' || g, 'seed',
                            now() - make_interval(secs => ($4 - g)::float8 * 0.5),
                            now() - make_interval(secs => ($4 - g)::float8 * 0.5 - 0.2)
                     from generate_series($1::bigint, $2::bigint) g
                     join coupons c on c.id = ($5::text[])[((g % $6) + 1)::int]::uuid",
                )
                .bind(lo)
                .bind(hi)
                .bind(n_customers)
                .bind(n_orders)
                .bind(&coupons)
                .bind(coupons.len() as i64)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                sqlx::query(
                    "insert into events (aggregate_type, aggregate_id, event_type, payload, occurred_at, request_id)
                     select 'order', o.id, 'OrderPlaced',
                            jsonb_build_object('customer_id', o.customer_id, 'coupon_id', o.coupon_id,
                                'shop_id', c.shop_id, 'coupon_name', c.name, 'shop_name', s.name,
                                'quantity', o.quantity, 'unit_price', o.unit_price, 'amount', o.amount,
                                'status', 'ordered', 'payment_status', 'pending'),
                            o.ordered_at, 'seed'
                     from generate_series($1::bigint, $2::bigint) g
                     join orders o on o.id = md5('seed-o' || g)::uuid
                     join coupons c on c.id = o.coupon_id join shops s on s.id = c.shop_id
                     order by g",
                )
                .bind(lo)
                .bind(hi)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                sqlx::query(
                    "insert into events (aggregate_type, aggregate_id, event_type, payload, occurred_at, request_id)
                     select 'order', o.id, 'PaymentCompleted',
                            jsonb_build_object('status', 'paid', 'payment_status', 'completed',
                                'payment_key', o.payment_key,
                                'vouchers', jsonb_build_array(upper(substr(md5('seed-v' || g), 1, 16)))),
                            o.paid_at, 'seed'
                     from generate_series($1::bigint, $2::bigint) g
                     join orders o on o.id = md5('seed-o' || g)::uuid
                     order by g",
                )
                .bind(lo)
                .bind(hi)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                tx.commit().await.map_err(db)?;
            }
            Ok::<_, String>(())
        });
    }
    while let Some(r) = workers.join_next().await {
        r.map_err(|e| e.to_string())??;
    }
    sqlx::raw_sql("analyze users; analyze orders; analyze events; analyze mypage")
        .execute(pool)
        .await
        .map_err(db)?;
    let (rows,): (i64,) = sqlx::query_as(
        "select count(*) from mypage m where m.customer_id in
            (select id from users where email like 'seed%@bench.coupan.kr') and m.status = 'paid'",
    )
    .fetch_one(pool)
    .await
    .map_err(db)?;
    Ok(rows)
}

/// Logs in through the browser form's server function; returns the `Cookie` header value.
async fn session_cookie(api: &Api, email: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .post(api.url("/sfn/auth/login"))
        // As the site's own log-in form: another origin would be refused.
        .header("origin", &api.base)
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("next", "/mypage"),
        ])
        .send()
        .await
        .map_err(|e| format!("form login: {e}"))?;
    let status = resp.status();
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("coupan_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| format!("form login of {email} answered {status} without a session cookie"))
}

fn wrk(
    opts: &Opts,
    connections: u32,
    what: &str,
    path: &str,
    header: &str,
    values: &[String],
) -> Result<WrkRun, String> {
    let dir = opts.root.join("target/bench/wrk");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let list = dir.join(format!("{}.txt", what.replace(' ', "_")));
    std::fs::write(&list, values.join("\n")).map_err(|e| e.to_string())?;
    let cpu_start = crate::sys::Budget::now(&opts.pids());
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{}s", opts.wrk_secs),
        ])
        .args(["--timeout", "10s", "-s"])
        .arg(opts.root.join("bench/wrk/bench.lua"))
        .arg(format!("{}{path}", opts.app_url))
        .env("BENCH_WRK_HEADER", header)
        .env("BENCH_WRK_VALUES", &list)
        .output()
        .map_err(|e| format!("wrk: {e} (apt-get install wrk)"))?;
    let cpu = crate::sys::Budget::now(&opts.pids()).since(&cpu_start);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("BENCH "))
        .ok_or_else(|| {
            format!(
                "wrk printed no result for {what}:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let mut run = parse_wrk(what, path, line);
    run.cpu = cpu;
    eprintln!(
        "    {what}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, non-2xx {}, socket errors {}",
        run.rps(),
        run.p50_ms,
        run.p99_ms,
        run.non_2xx,
        run.socket_errors
    );
    Ok(run)
}

/// Reads the "BENCH k=v ..." line of bench/wrk/bench.lua.
fn parse_wrk(what: &str, path: &str, line: &str) -> WrkRun {
    let get = |k: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    WrkRun {
        what: what.into(),
        url_path: path.into(),
        requests: get("requests") as u64,
        secs: get("duration_us") / 1e6,
        non_2xx: get("status_errors") as u64,
        socket_errors: (get("connect") + get("read") + get("write") + get("timeout")) as u64,
        p50_ms: get("p50_us") / 1000.0,
        p90_ms: get("p90_us") / 1000.0,
        p99_ms: get("p99_us") / 1000.0,
        max_ms: get("max_us") / 1000.0,
        cpu: Default::default(),
    }
}

pub async fn run(opts: &Opts, api: &Api, pool: &PgPool, world: &World) -> Result<Pages, String> {
    let t = Instant::now();
    let mypage_rows = seed(opts, api, pool, world).await?;
    let seed_time = t.elapsed();
    eprintln!(
        "    seeded in {:.0} s: {mypage_rows} paid my-page rows",
        seed_time.as_secs_f64()
    );
    // The seed's upkeep before the measurements, as pgbench vacuums before its own runs:
    // otherwise autovacuum and the checkpoint of a million fresh rows fall into some runs
    // and not others (PostgreSQL's CPU per SSR page moved from 221 to 326 µs that way).
    let t = Instant::now();
    for upkeep in ["vacuum (analyze)", "checkpoint"] {
        sqlx::query(upkeep)
            .execute(pool)
            .await
            .map_err(|e| format!("{upkeep} after the seed: {e}"))?;
    }
    let upkeep_time = t.elapsed();
    eprintln!(
        "    vacuum (analyze) and checkpoint in {:.0} s",
        upkeep_time.as_secs_f64()
    );
    let mut violations = Vec::new();
    if mypage_rows != opts.seed_orders {
        violations.push(format!(
            "my page seed: {mypage_rows} paid rows for {} orders",
            opts.seed_orders
        ));
    }

    // 64 seeded customers, spread over the id range: a bearer token and a session each.
    let mut tokens = Vec::new();
    let mut cookies = Vec::new();
    let step = (opts.seed_customers / i64::from(CONNECTIONS)).max(1);
    for k in 0..i64::from(CONNECTIONS) {
        let email = format!("seed{}@bench.coupan.kr", k * step + 1);
        tokens.push(format!("Bearer {}", api.token(&email).await?));
        cookies.push(session_cookie(api, &email).await?);
    }
    // The pages must show the seeded history, or the timings measure an error page.
    let per_customer = (opts.seed_orders / opts.seed_customers) as usize;
    let resp = api
        .client
        .get(api.url("/api/v1/mypage"))
        .header("Authorization", &tokens[0])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let items = body["items"].as_array().map_or(0, Vec::len);
    if status != StatusCode::OK || items != per_customer.min(100) {
        violations.push(format!(
            "GET /api/v1/mypage of a seeded customer: {status}, {items} items (expected {per_customer})"
        ));
    }
    let html = api
        .client
        .get(api.url("/mypage"))
        .header("Cookie", &cookies[0])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = html.status();
    let html = html.text().await.unwrap_or_default();
    if status != StatusCode::OK || !html.contains("Seeded coupon") {
        violations.push(format!(
            "GET /mypage with a seeded customer's session: {status}, seeded orders not in the page"
        ));
    }

    let mypage_api = wrk(
        opts,
        CONNECTIONS,
        "mypage api",
        "/api/v1/mypage",
        "Authorization",
        &tokens,
    )?;
    // The same query by pgbench, right after, on the same data and customers.
    let db_name = opts
        .database_url
        .rsplit('/')
        .next()
        .and_then(|d| d.split('?').next())
        .unwrap_or("coupan_bench")
        .to_string();
    let mypage_query = crate::ceiling::pgbench(
        opts,
        "mypage_query",
        "mypage.sql",
        &db_name,
        CONNECTIONS,
        &[("step", step.to_string())],
    )?;
    eprintln!(
        "    mypage query (pgbench, {CONNECTIONS} clients): {:.0} tps, latency p50/p95/p99/max {}",
        mypage_query.tps,
        mypage_query.lat.summary()
    );
    if mypage_query.failed > 0 {
        violations.push(format!(
            "pgbench mypage.sql: {} failed transactions",
            mypage_query.failed
        ));
    }
    let mypage_api_c8 = wrk(
        opts,
        8,
        "mypage api, 8 connections",
        "/api/v1/mypage",
        "Authorization",
        &tokens,
    )?;
    let mypage_ssr = wrk(
        opts,
        CONNECTIONS,
        "mypage ssr",
        "/mypage",
        "Cookie",
        &cookies,
    )?;
    let catalogue = wrk(opts, CONNECTIONS, "catalogue", "/", "", &[])?;
    let (coupon_id,): (String,) =
        sqlx::query_as("select id::text from coupons where name = 'Seeded coupon 0'")
            .fetch_one(pool)
            .await
            .map_err(db)?;
    let coupon_page = wrk(
        opts,
        CONNECTIONS,
        "coupon page",
        &format!("/coupons/{coupon_id}"),
        "",
        &[],
    )?;
    for r in [
        &mypage_api,
        &mypage_api_c8,
        &mypage_ssr,
        &catalogue,
        &coupon_page,
    ] {
        if r.non_2xx > 0 || r.socket_errors > 0 || r.requests == 0 {
            violations.push(format!(
                "{}: {} non-2xx answers, {} socket errors of {} requests",
                r.what, r.non_2xx, r.socket_errors, r.requests
            ));
        }
    }
    Ok(Pages {
        seed_customers: opts.seed_customers,
        seed_orders: opts.seed_orders,
        seed_time,
        upkeep_time,
        mypage_rows,
        items_per_customer: per_customer,
        mypage_api,
        mypage_api_c8,
        mypage_query,
        mypage_ssr,
        catalogue,
        coupon_page,
        violations,
    })
}

pub struct Asset {
    pub file: String,
    pub raw: u64,
    pub gzip: u64,
    pub brotli: u64,
}

pub struct Bundle {
    pub wasm: Vec<Asset>,
    pub js: Vec<Asset>,
    pub css: Vec<Asset>,
}

fn compressed_len(prog: &str, args: &[&str], file: &Path) -> Result<u64, String> {
    let out = Command::new(prog)
        .args(args)
        .arg(file)
        .output()
        .map_err(|e| format!("{prog}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{prog} failed on {}", file.display()));
    }
    Ok(out.stdout.len() as u64)
}

fn assets(dir: &Path, ext: &str) -> Result<Vec<Asset>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e} (is the site built?)", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            Ok(Asset {
                file: f.file_name().unwrap_or_default().to_string_lossy().into(),
                raw: std::fs::metadata(&f).map_err(|e| e.to_string())?.len(),
                gzip: compressed_len("gzip", &["-9", "-c"], &f)?,
                brotli: compressed_len("brotli", &["-c", "-q", "11"], &f)?,
            })
        })
        .collect()
}

pub fn bundle(opts: &Opts) -> Result<Bundle, String> {
    let dir = opts.site_dir.join("pkg");
    Ok(Bundle {
        wasm: assets(&dir, "wasm")?,
        js: assets(&dir, "js")?,
        css: assets(&dir, "css")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_wrk_line() {
        let r = parse_wrk(
            "x",
            "/",
            "BENCH requests=2000 duration_us=4000000 status_errors=3 connect=1 read=2 write=0 timeout=4 p50_us=1500 p90_us=2500 p99_us=9000 max_us=12000",
        );
        assert_eq!(r.requests, 2000);
        assert_eq!(r.rps(), 500.0);
        assert_eq!(r.non_2xx, 3);
        assert_eq!(r.socket_errors, 7);
        assert_eq!(r.p50_ms, 1.5);
        assert_eq!(r.p99_ms, 9.0);
        assert_eq!(r.max_ms, 12.0);
    }
}
