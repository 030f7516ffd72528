//! Harness for the operations tests in `ops/tests/`: brings up several Coupan replicas
//! behind nginx with `scripts/replicas.sh` (and takes them down again, also when a test
//! panics), drives load with many tasks, and checks the purchase saga's invariants in
//! PostgreSQL and in the payment gateway's ledger.
//!
//! Run with `cargo test -p ops -- --test-threads=1 --nocapture` after `cargo leptos build`
//! and `cargo build -p paygate` (`./scripts/test.sh` runs it last). Set
//! `COUPAN_OPS_KEEP=1` to leave the environment running after a test (for a look at
//! target/replicas/*.log).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

pub const PASSWORD: &str = "ops test password 123";

/// Prints a line of the test's story (visible with `--nocapture`).
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        println!("[ops {:>6.1}s] {}", $crate::elapsed().as_secs_f64(), format!($($t)*));
    }};
}

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// Time since the first call (the start of the test binary, in practice).
pub fn elapsed() -> Duration {
    START.get_or_init(Instant::now).elapsed()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `scripts/replicas.sh ARGS` (blocking); its progress lines go to stderr.
pub fn script_blocking(args: &[String]) -> Result<(), String> {
    let status = std::process::Command::new("bash")
        .arg(root().join("scripts/replicas.sh"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run scripts/replicas.sh: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "scripts/replicas.sh {} failed: {status}",
            args.join(" ")
        ))
    }
}

/// `scripts/replicas.sh ARGS` off the async runtime; panics if it fails.
pub async fn script(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let shown = args.join(" ");
    let started = Instant::now();
    tokio::task::spawn_blocking(move || script_blocking(&args))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    say!(
        "replicas.sh {shown}: done in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// The running environment. Dropping it runs `replicas.sh down`.
pub struct Env {
    /// nginx in front of the replicas.
    pub url: String,
    pub replicas: Vec<String>,
    /// Each replica's metrics listener (`COUPAN_METRICS_ADDR`), in the order of `replicas`.
    pub metrics: Vec<String>,
    pub gateway: String,
    /// The gateway's secret key (its ledger, an admin route, needs it too).
    pub gateway_key: String,
    pub dir: PathBuf,
    pub db: PgPool,
    pub client: Client,
}

impl Drop for Env {
    fn drop(&mut self) {
        if std::env::var("COUPAN_OPS_KEEP").is_ok_and(|v| !v.is_empty() && v != "0") {
            println!(
                "COUPAN_OPS_KEEP is set: the replicas keep running (scripts/replicas.sh down)"
            );
            return;
        }
        if let Err(e) = script_blocking(&["down".to_string()]) {
            eprintln!("{e}");
        }
    }
}

/// A coupon on sale, made by an owner through the API.
pub struct Coupon {
    pub id: Uuid,
    pub stock: i64,
    pub price: i64,
}

impl Env {
    /// `replicas.sh up N` with extra environment for the replicas, then reads the addresses.
    pub async fn up(n: usize, extra_env: &[(&str, &str)]) -> Env {
        elapsed();
        let mut cmd_env: Vec<(String, String)> = extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        cmd_env.push(("RUST_LOG".into(), "info".into()));
        let started = Instant::now();
        tokio::task::spawn_blocking(move || {
            let status = std::process::Command::new("bash")
                .arg(root().join("scripts/replicas.sh"))
                .args(["up", &n.to_string()])
                .envs(cmd_env)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run scripts/replicas.sh");
            if !status.success() {
                // Leave nothing behind.
                let _ = script_blocking(&["down".to_string()]);
                panic!("scripts/replicas.sh up {n} failed ({status}); see its output above");
            }
        })
        .await
        .unwrap();
        let dir = root().join("target/replicas");
        let text = std::fs::read_to_string(dir.join("env")).expect("target/replicas/env");
        let vars: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        // Named, so that the check below can tell the tests' own connections apart.
        let db_options: sqlx::postgres::PgConnectOptions = vars["COUPAN_OPS_DATABASE_URL"]
            .parse::<sqlx::postgres::PgConnectOptions>()
            .expect("COUPAN_OPS_DATABASE_URL")
            .application_name("coupan-ops");
        let db = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(db_options)
            .await
            .expect("connect to the replicas' database");
        let env = Env {
            url: vars["COUPAN_OPS_URL"].to_string(),
            replicas: vars["COUPAN_OPS_REPLICAS"]
                .split(',')
                .map(str::to_string)
                .collect(),
            metrics: vars["COUPAN_OPS_METRICS"]
                .split(',')
                .map(str::to_string)
                .collect(),
            gateway: vars["COUPAN_OPS_GATEWAY_URL"].to_string(),
            gateway_key: vars["COUPAN_OPS_GATEWAY_KEY"].to_string(),
            dir,
            db,
            client: Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
        };
        say!(
            "up in {:.1}s: nginx {} over {} replicas {:?}, gateway {}",
            started.elapsed().as_secs_f64(),
            env.url,
            n,
            env.replicas,
            env.gateway
        );
        // The replicas run as the app's role, never as the superuser these checks use.
        let (app_role, superusers): (i64, i64) = sqlx::query_as(
            "select count(*) filter (where a.usename = 'coupan_app'),
                    count(*) filter (where r.rolsuper and a.application_name <> 'coupan-ops')
             from pg_stat_activity a join pg_roles r on r.rolname = a.usename
             where a.datname = current_database()",
        )
        .fetch_one(&env.db)
        .await
        .expect("read the replicas' connections");
        assert!(
            app_role >= n as i64,
            "{app_role} connections as coupan_app for {n} replicas"
        );
        assert_eq!(
            superusers, 0,
            "a superuser connection that is not the tests'"
        );
        say!("{app_role} connections as the app's role coupan_app, none as another superuser");
        env
    }

    /// Signs up an account through nginx; returns its bearer token.
    pub async fn account(&self, email: &str, role: &str, shop: Option<&str>) -> String {
        account(&self.client, &self.url, email, role, shop).await
    }

    /// `n` customers (signed up concurrently); their tokens.
    pub async fn customers(&self, n: usize) -> Vec<String> {
        let tag = Uuid::new_v4().simple().to_string();
        let mut tasks = Vec::new();
        for i in 0..n {
            let email = format!("buyer{i}-{}@ops.example.com", &tag[..8]);
            let (client, url) = (self.client.clone(), self.url.clone());
            tasks.push(tokio::spawn(async move {
                account(&client, &url, &email, "customer", None).await
            }));
        }
        let mut tokens = Vec::new();
        for t in tasks {
            tokens.push(t.await.unwrap());
        }
        tokens
    }

    /// An owner with a shop and one coupon of `stock` units at `price`.
    pub async fn coupon(&self, stock: i64, price: i64) -> Coupon {
        let tag = &Uuid::new_v4().simple().to_string()[..8];
        let owner = self
            .account(
                &format!("owner-{tag}@ops.example.com"),
                "owner",
                Some("Ops Shop"),
            )
            .await;
        let res = self
            .client
            .post(format!("{}/api/v1/coupons", self.url))
            .bearer_auth(&owner)
            .json(
                &json!({ "name": format!("Ops coupon {tag}"), "description": "load",
                           "price": price, "stock": stock }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "create coupon");
        let body: Value = res.json().await.unwrap();
        Coupon {
            id: body["id"].as_str().unwrap().parse().unwrap(),
            stock,
            price,
        }
    }

    /// The gateway's ledger.
    pub async fn ledger(&self) -> paygate::Ledger {
        self.client
            .get(format!("{}{}", self.gateway, paygate::LEDGER_PATH))
            .header(
                "authorization",
                paygate::basic_authorization(&self.gateway_key),
            )
            .send()
            .await
            .expect("gateway ledger")
            .json()
            .await
            .expect("the gateway's ledger")
    }

    /// The sum over the replicas of a counter with a label, from `GET /metrics`
    /// (replicas that do not answer count 0).
    pub async fn metric_sum(&self, name: &str, label: &str) -> f64 {
        let mut total = 0.0;
        for r in &self.replicas {
            total += self.metric(r, name, label).await;
        }
        total
    }

    /// A counter or gauge of `replica` (its URL in `replicas`), read from its metrics
    /// listener; 0 when it does not answer (stopped).
    pub async fn metric(&self, replica: &str, name: &str, label: &str) -> f64 {
        let i = self
            .replicas
            .iter()
            .position(|r| r == replica)
            .unwrap_or_else(|| panic!("{replica} is not a replica"));
        let url = format!("{}/metrics", self.metrics[i]);
        let Ok(res) = self.client.get(&url).send().await else {
            return 0.0;
        };
        assert!(res.status().is_success(), "{url}: {}", res.status());
        let text = res.text().await.unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Waits until no order of the coupon is still waiting for its payment; the time it
    /// took, or `None` after `limit`.
    pub async fn wait_settled(&self, coupon: Uuid, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        loop {
            let pending: i64 = sqlx::query_scalar(
                "select count(*) from orders where coupon_id = $1 and status = 'ordered'",
            )
            .bind(coupon)
            .fetch_one(&self.db)
            .await
            .unwrap_or(i64::MAX);
            if pending == 0 {
                return Some(started.elapsed());
            }
            if started.elapsed() > limit {
                say!("{pending} orders still unpaid after {limit:?}");
                return None;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Which replica served each purchase, from nginx's access log (the last upstream
    /// tried).
    pub fn purchases_per_replica(&self) -> BTreeMap<String, usize> {
        let log = std::fs::read_to_string(self.dir.join("nginx/access.log")).unwrap_or_default();
        let mut map = BTreeMap::new();
        for line in log.lines().filter(|l| l.contains("\"POST /api/v1/orders ")) {
            if let Some(up) = line
                .split(" upstream=")
                .nth(1)
                .and_then(|rest| rest.split(" upstream_status=").next())
            {
                let last = up.rsplit(", ").next().unwrap_or(up).to_string();
                *map.entry(last).or_default() += 1;
            }
        }
        map
    }

    /// Checks the purchase saga's invariants (the `invariants` crate, shared with the
    /// server tests and the benchmark) for every order of `coupon` once it settled; nothing
    /// was cancelled. Orders placed whose 201 was lost to a fault are allowed and counted.
    /// Panics listing every broken invariant.
    pub async fn check_saga(&self, coupon: &Coupon, acked: &HashSet<Uuid>) -> SagaReport {
        let ledger = self.ledger().await;
        let answered: Vec<Uuid> = acked.iter().copied().collect();
        let expect = invariants::Expect {
            initial_stock: Some(coupon.stock),
            answered: Some(&answered),
            unanswered_allowed: true,
            settled: true,
            no_cancellations: true,
        };
        let found = invariants::verify(
            &self.db,
            invariants::Scope::Coupon(coupon.id),
            &ledger,
            &expect,
        )
        .await
        .expect("read the saga's state");
        found.assert_holds();
        let report = SagaReport {
            orders: found.orders,
            acked: acked.len(),
            unacknowledged: found.unanswered,
            paid: found.paid,
            failed: found.failed,
            ledger_charges: found.charges,
            sold: found.paid_units,
            stock_left: found.stock.unwrap_or_default(),
        };
        say!(
            "saga checked: {} orders in the database ({} answered 201, {} placed but never acknowledged), \
             {} paid, {} payment_failed; one OrderPlaced per order, one PaymentCompleted and exactly one \
             ledger charge (same payment key) per paid order, no charge for failed ones, {} charges in all; \
             one voucher per unit sold ({}); stock {} = {} - {}; no payment job left",
            report.orders,
            report.acked,
            report.unacknowledged,
            report.paid,
            report.failed,
            report.ledger_charges,
            report.sold,
            report.stock_left,
            coupon.stock,
            report.sold
        );
        report
    }
}

/// What `check_saga` found.
#[derive(Debug, Default)]
pub struct SagaReport {
    pub orders: usize,
    pub acked: usize,
    pub unacknowledged: usize,
    pub paid: usize,
    pub failed: usize,
    pub ledger_charges: usize,
    pub sold: i64,
    pub stock_left: i64,
}

/// Signs up an account at `base`; returns its bearer token.
pub async fn account(
    client: &Client,
    base: &str,
    email: &str,
    role: &str,
    shop: Option<&str>,
) -> String {
    let mut body = json!({ "email": email, "password": PASSWORD, "name": "Ops", "role": role });
    if let Some(shop) = shop {
        body["shop_name"] = json!(shop);
    }
    let res = client
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_eq!(
        status,
        201,
        "signup {email}: {}",
        res.text().await.unwrap_or_default()
    );
    let res = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "token {email}");
    let body: Value = res.json().await.unwrap();
    body["access_token"]
        .as_str()
        .or(body["token"].as_str())
        .expect("a token")
        .to_string()
}

// --- load ------------------------------------------------------------------------------

/// One HTTP answer, or what went wrong without one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Status(u16),
    Timeout,
    Connection,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Status(s) => write!(f, "{s}"),
            Outcome::Timeout => write!(f, "timeout"),
            Outcome::Connection => write!(f, "connection error"),
        }
    }
}

fn outcome_of(r: &Result<reqwest::Response, reqwest::Error>) -> Outcome {
    match r {
        Ok(res) => Outcome::Status(res.status().as_u16()),
        Err(e) if e.is_timeout() => Outcome::Timeout,
        Err(_) => Outcome::Connection,
    }
}

/// Answers counted by kind, and by kind per second of the run (for the story).
#[derive(Default)]
pub struct Tally {
    pub counts: BTreeMap<(String, Outcome), u64>,
    /// (what, second since start, outcome) → count
    pub timeline: BTreeMap<(String, u64, Outcome), u64>,
}

impl Tally {
    pub fn total(&self, what: &str, pred: impl Fn(&Outcome) -> bool) -> u64 {
        self.counts
            .iter()
            .filter(|((w, o), _)| w == what && pred(o))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn describe(&self) -> String {
        self.counts
            .iter()
            .map(|((w, o), n)| format!("{w} {o}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One purchase (one idempotency key), after its retries.
#[derive(Clone, Debug)]
pub struct Purchase {
    pub key: String,
    pub final_outcome: Outcome,
    pub order_id: Option<Uuid>,
    pub attempts: u32,
    pub request_id: Option<String>,
}

/// How the load behaves.
#[derive(Clone)]
pub struct LoadPlan {
    pub base: String,
    pub coupon: Uuid,
    pub tokens: Vec<String>,
    pub buyers: usize,
    pub readers: usize,
    /// Pause between one task's requests.
    pub pace: Duration,
    /// Resend a purchase with the same key after a 502/503/connection error for this
    /// long (a client that retries); zero = never.
    pub retry_for: Duration,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    started: Instant,
    tally: Arc<Mutex<Tally>>,
    buyers: Vec<tokio::task::JoinHandle<Vec<Purchase>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

pub struct LoadResult {
    pub purchases: Vec<Purchase>,
    pub tally: Tally,
    pub duration: Duration,
}

impl LoadResult {
    /// Order ids answered 201.
    pub fn accepted(&self) -> HashSet<Uuid> {
        self.purchases.iter().filter_map(|p| p.order_id).collect()
    }
}

impl Load {
    pub fn start(plan: LoadPlan) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let started = Instant::now();
        let client = Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let record = {
            let tally = tally.clone();
            move |what: &str, o: &Outcome| {
                let sec = started.elapsed().as_secs();
                let mut t = tally.lock().unwrap();
                *t.counts.entry((what.to_string(), o.clone())).or_default() += 1;
                *t.timeline
                    .entry((what.to_string(), sec, o.clone()))
                    .or_default() += 1;
            }
        };
        let mut buyers = Vec::new();
        for b in 0..plan.buyers {
            let (plan, stop, client, record) =
                (plan.clone(), stop.clone(), client.clone(), record.clone());
            buyers.push(tokio::spawn(async move {
                let token = plan.tokens[b % plan.tokens.len()].clone();
                let mut done = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let key = Uuid::new_v4().to_string();
                    let first = Instant::now();
                    let mut attempts = 0;
                    let purchase = loop {
                        attempts += 1;
                        let res = client
                            .post(format!("{}/api/v1/orders", plan.base))
                            .bearer_auth(&token)
                            .header("Idempotency-Key", &key)
                            .json(&json!({ "coupon_id": plan.coupon, "quantity": 1 }))
                            .send()
                            .await;
                        let outcome = outcome_of(&res);
                        record("purchase", &outcome);
                        let retryable = matches!(
                            outcome,
                            Outcome::Status(502..=504) | Outcome::Connection | Outcome::Timeout
                        );
                        if retryable && first.elapsed() < plan.retry_for {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                        let mut p = Purchase {
                            key: key.clone(),
                            final_outcome: outcome.clone(),
                            order_id: None,
                            attempts,
                            request_id: None,
                        };
                        if let Ok(res) = res {
                            p.request_id = res
                                .headers()
                                .get("x-request-id")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string);
                            if res.status() == 201 {
                                let body: Value = res.json().await.unwrap_or_default();
                                p.order_id = body["id"].as_str().and_then(|s| s.parse().ok());
                                assert!(p.order_id.is_some(), "201 without an order id: {body}");
                            }
                        }
                        break p;
                    };
                    done.push(purchase);
                    tokio::time::sleep(plan.pace).await;
                }
                done
            }));
        }
        let mut readers = Vec::new();
        for r in 0..plan.readers {
            let (plan, stop, client, record) =
                (plan.clone(), stop.clone(), client.clone(), record.clone());
            readers.push(tokio::spawn(async move {
                let token = plan.tokens[r % plan.tokens.len()].clone();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let (what, req) = match n % 3 {
                        0 => (
                            "read /coupons",
                            client.get(format!("{}/api/v1/coupons", plan.base)),
                        ),
                        1 => (
                            "read /coupons/{id}",
                            client.get(format!("{}/api/v1/coupons/{}", plan.base, plan.coupon)),
                        ),
                        _ => (
                            "read /me",
                            client
                                .get(format!("{}/api/v1/me", plan.base))
                                .bearer_auth(&token),
                        ),
                    };
                    let res = req.send().await;
                    record(what, &outcome_of(&res));
                    tokio::time::sleep(plan.pace).await;
                }
            }));
        }
        Load {
            stop,
            started,
            tally,
            buyers,
            readers,
        }
    }

    /// Time since the load started (the clock of `Tally::timeline`).
    pub fn since_start(&self) -> Duration {
        self.started.elapsed()
    }

    /// A snapshot of the answers so far.
    pub fn counts(&self) -> BTreeMap<(String, Outcome), u64> {
        self.tally.lock().unwrap().counts.clone()
    }

    pub async fn stop(self) -> LoadResult {
        self.stop.store(true, Ordering::Relaxed);
        let mut purchases = Vec::new();
        for b in self.buyers {
            purchases.extend(b.await.expect("a buyer task panicked"));
        }
        for r in self.readers {
            r.await.expect("a reader task panicked");
        }
        let tally = std::mem::take(&mut *self.tally.lock().unwrap());
        LoadResult {
            purchases,
            tally,
            duration: self.started.elapsed(),
        }
    }
}

/// Polls `url` until it answers `status` (or `limit` passes); whether it did.
pub async fn wait_for_status(client: &Client, url: &str, status: u16, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(res) = client.get(url).timeout(Duration::from_secs(3)).send().await
            && res.status().as_u16() == status
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
