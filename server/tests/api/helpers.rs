use std::sync::LazyLock;

use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use server::config::Config;
use server::metrics::Metrics;
use server::shutdown::Report;
use server::startup::Application;
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const PASSWORD: &str = "correct horse battery";
pub const JWT_SECRET: &str = "test-secret-that-is-long-enough-0123456789";
/// The secret key the app sends to the tests' gateways, and they expect.
pub const PAYMENT_KEY: &str = "test_sk_coupan_tests_0123456789";
/// The login role the application under test connects as: a member of the app's group
/// role (`server::db::RUNTIME_ROLE`), like the app's role everywhere else.
pub const RUNTIME_USER: &str = "coupan_test_app";

/// The application as `main` runs it (`Application::build_with_pool`), on a free port, over
/// the test's database, connected as the app's role ([`runtime_pool`]).
pub struct TestApp {
    pub base: String,
    /// Where `/metrics` is served (its own port).
    pub metrics_base: String,
    pub client: Client,
    /// The test's own pool (the database's owner: set up and inspect anything).
    pub pool: PgPool,
    /// The pool the application uses (the app's role, least privilege).
    pub app_pool: PgPool,
    stop: Option<oneshot::Sender<()>>,
    running: Option<JoinHandle<Result<Report, String>>>,
}

/// A request of a test that has no answer after this long fails the test: a stall ends
/// the run with a message, not at CI's time limit.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The test binary's metrics recorder, installed once as `main` installs the server's:
/// every application of the binary renders it.
static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    Metrics::install().expect("the metrics recorder is installed once per test binary")
});

/// The settings of the tests: the production defaults (read through the same parsing
/// as the server's environment) except for what the tests need otherwise. The payment
/// workers are off (`COUPAN_PAYMENT_WORKERS=0`): tests that pay drive a worker by hand,
/// or set `payment_workers` themselves.
pub fn test_config() -> Config {
    test_config_with(&[])
}

/// `test_config()` with some settings given as the server reads them (`extra` wins).
pub fn test_config_with(extra: &[(&str, &str)]) -> Config {
    // Pictures: a fresh directory per app (made on its first upload).
    let images = std::env::temp_dir()
        .join(format!("coupan-test-images-{}", uuid::Uuid::new_v4()))
        .display()
        .to_string();
    let settings: &[(&str, &str)] = &[
        ("COUPAN_IMAGE_STORE", &images),
        // Not used to connect: the application gets the test's pool.
        ("DATABASE_URL", "postgres://sqlx-test-pool/unused"),
        ("JWT_SECRET", JWT_SECRET),
        ("LEPTOS_SITE_ADDR", "127.0.0.1:0"),
        ("COUPAN_DB_MAX_CONNECTIONS", "10"),
        ("COUPAN_METRICS_ADDR", "127.0.0.1:0"),
        // Nothing listens there: a test that pays starts its own gateway.
        ("COUPAN_PAYMENT_URL", "http://127.0.0.1:9"),
        ("COUPAN_PAYMENT_ALLOW_HTTP", "true"),
        ("COUPAN_PAYMENT_SECRET_KEY", PAYMENT_KEY),
        ("COUPAN_PAYMENT_TIMEOUT_MS", "2000"),
        ("COUPAN_PAYMENT_WORKERS", "0"),
        ("COUPAN_PAYMENT_BATCH_MAX", "16"),
        ("COUPAN_BREAKER_OPEN_SECS", "1"),
        // High: only the tests of the limits (edge.rs) set them low.
        ("COUPAN_RATE_AUTH_PER_MIN", "1000000"),
        ("COUPAN_RATE_PURCHASE_PER_MIN", "1000000"),
        ("COUPAN_SHUTDOWN_TIMEOUT_SECS", "5"),
    ];
    Config::from_lookup(&|name: &str| {
        extra
            .iter()
            .chain(settings)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
    .expect("the test settings are valid")
}

/// Set up once per test binary: the login role [`RUNTIME_USER`], a member of the app's
/// group role, with the password of the tests' `DATABASE_URL` (whoever knows that is the
/// superuser anyway). Roles belong to the whole cluster; the group role's privileges come
/// with the migrations of each test database.
static RUNTIME_ROLE_READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// The password of the tests' `DATABASE_URL`, if it has one.
pub fn admin_password() -> Option<String> {
    let url = std::env::var("DATABASE_URL").ok()?;
    let url = reqwest::Url::parse(&url).ok()?;
    let password = url.password()?;
    Some(percent_decode(password).unwrap_or_else(|| password.to_string()))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn ensure_runtime_role(pool: &PgPool) {
    let group = server::db::RUNTIME_ROLE;
    let password = match admin_password() {
        Some(p) => format!("password '{}'", p.replace('\'', "''")),
        None => "password null".to_string(),
    };
    // Concurrent tests of other binaries may do the same: a role created meanwhile is fine.
    let statements = [
        format!(
            "do $$ begin create role {group} nologin; \
             exception when duplicate_object or unique_violation then null; end $$"
        ),
        format!(
            "do $$ begin create role {RUNTIME_USER} login; \
             exception when duplicate_object or unique_violation then null; end $$"
        ),
        format!(
            "alter role {RUNTIME_USER} with login inherit nosuperuser nocreatedb nocreaterole \
             nobypassrls {password}"
        ),
        format!("grant {group} to {RUNTIME_USER}"),
    ];
    for statement in &statements {
        let mut tries = 0;
        loop {
            match sqlx::query(statement).execute(pool).await {
                Ok(_) => break,
                // "tuple concurrently updated" when another process changes the same role.
                Err(e) if tries < 5 => {
                    tries += 1;
                    eprintln!("setting up {RUNTIME_USER} (try {tries}): {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50 * tries)).await;
                }
                Err(e) => panic!("cannot set up the role {RUNTIME_USER}: {e}"),
            }
        }
    }
}

/// A pool on the test's database as the app's role ([`RUNTIME_USER`]), with the app's pool
/// settings. It is closed when the test's own pool is (so that the test database can be
/// dropped afterwards): a connection of the test's pool is held until then.
pub async fn runtime_pool(pool: &PgPool, config: &Config) -> PgPool {
    RUNTIME_ROLE_READY
        .get_or_init(|| ensure_runtime_role(pool))
        .await;
    let mut options = (*pool.connect_options()).clone().username(RUNTIME_USER);
    if let Some(password) = admin_password() {
        options = options.password(&password);
    }
    let app_pool = server::db::connect_with(config, options)
        .await
        .expect("connect as the app's role");
    let held = pool
        .acquire()
        .await
        .expect("a connection of the test's pool");
    let (test_pool, closing) = (pool.clone(), app_pool.clone());
    tokio::spawn(async move {
        test_pool.close_event().await;
        closing.close().await;
        drop(held);
    });
    app_pool
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> TestApp {
        TestApp::spawn_with(pool, test_config()).await
    }

    /// The app with other settings than `test_config()`.
    pub async fn spawn_with(pool: PgPool, config: Config) -> TestApp {
        let app_pool = runtime_pool(&pool, &config).await;
        let application = Application::build_with_pool(config, METRICS.clone(), app_pool.clone())
            .await
            .expect("the application starts");
        let base = format!("http://{}", application.address());
        let metrics_base = format!(
            "http://{}",
            application
                .metrics_address()
                .expect("the tests serve /metrics")
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let signal = async move {
            // Dropping the TestApp without `stop` leaves the app serving until the
            // test's runtime ends, as before.
            if stopped.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let running = tokio::spawn(application.run_until_stopped(signal));
        TestApp {
            client: Client::builder()
                .default_headers(same_origin(&base))
                .timeout(REQUEST_TIMEOUT)
                .build()
                .unwrap(),
            base,
            metrics_base,
            pool,
            app_pool,
            stop: Some(stop),
            running: Some(running),
        }
    }

    /// Stops the app as SIGTERM stops the server (readiness 503, requests in flight
    /// finish, the payment workers stop) and returns what had to be cut short.
    pub async fn stop(mut self) -> Report {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.running
            .take()
            .expect("running")
            .await
            .expect("the app's task")
            .expect("the shutdown")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A client with its own cookie jar (a browser on the site's pages: its requests name
    /// the site as their `Origin`, as a browser's posts do).
    pub fn browser(&self) -> Client {
        Client::builder()
            .default_headers(same_origin(&self.base))
            .timeout(REQUEST_TIMEOUT)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn patch(&self, path: &str, body: Value, token: Option<&str>) -> Response {
        let mut req = self.client.patch(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// `POST /api/v1/orders/{order}/cancel` as the customer with `token`.
    pub async fn cancel(&self, order: impl std::fmt::Display, token: &str) -> Response {
        self.post(
            &format!("/api/v1/orders/{order}/cancel"),
            json!({}),
            Some(token),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn signup(&self, email: &str, role: &str, shop: Option<&str>) -> Response {
        let mut body =
            json!({ "email": email, "password": PASSWORD, "name": "Tester", "role": role });
        if let Some(shop) = shop {
            body["shop_name"] = json!(shop);
        }
        self.post("/api/v1/auth/signup", body, None).await
    }

    /// The API log-in (`POST /api/v1/auth/token`) before sending: the test may add
    /// headers.
    pub fn token_request(&self, email: &str, password: &str) -> RequestBuilder {
        self.client
            .post(self.url("/api/v1/auth/token"))
            .json(&json!({ "email": email, "password": password }))
    }

    /// A bearer token for `email` (password `PASSWORD`).
    pub async fn token(&self, email: &str) -> String {
        let res = self.token_request(email, PASSWORD).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The browser log-in: the log-in form's post (`/sfn/auth/login`) from `client`, for
    /// `email` with `PASSWORD` unless the test says otherwise (see [`LogIn`]).
    pub fn log_in(&self, client: &Client, email: &str) -> LogIn {
        LogIn {
            request: client.post(self.url("/sfn/auth/login")),
            login_page: self.url("/login"),
            email: email.to_string(),
            password: PASSWORD.to_string(),
            next: None,
        }
    }

    /// Signs up an owner with a shop and returns a token.
    pub async fn owner(&self, email: &str, shop: &str) -> String {
        assert_eq!(
            self.signup(email, "owner", Some(shop)).await.status(),
            StatusCode::CREATED
        );
        self.token(email).await
    }

    pub async fn customer(&self, email: &str) -> String {
        assert_eq!(
            self.signup(email, "customer", None).await.status(),
            StatusCode::CREATED
        );
        self.token(email).await
    }

    pub async fn create_coupon(&self, token: &str, body: Value) -> Value {
        let res = self.post("/api/v1/coupons", body, Some(token)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }
}

/// A browser log-in being prepared ([`TestApp::log_in`]): change the password or add the
/// form's `next`, add headers, then `send` it (or take the `request`).
pub struct LogIn {
    request: RequestBuilder,
    login_page: String,
    email: String,
    password: String,
    next: Option<String>,
}

impl LogIn {
    pub fn password(mut self, password: &str) -> LogIn {
        self.password = password.to_string();
        self
    }

    pub fn next(mut self, next: &str) -> LogIn {
        self.next = Some(next.to_string());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> LogIn {
        self.request = self.request.header(name, value);
        self
    }

    /// As a browser without JavaScript posts the form: it asks for HTML and names the
    /// log-in page as the referer (where a failure is sent back).
    pub fn without_javascript(self) -> LogIn {
        let page = self.login_page.clone();
        self.header("accept", "text/html").header("referer", &page)
    }

    /// The request, ready to send.
    pub fn request(self) -> RequestBuilder {
        let mut form = vec![("email", self.email), ("password", self.password)];
        if let Some(next) = self.next {
            form.push(("next", next));
        }
        self.request.form(&form)
    }

    pub async fn send(self) -> Response {
        self.request().send().await.unwrap()
    }
}

/// `Origin: base`: what a browser sends with a form or fetch from the site's own pages
/// (the cross-site request check wants it on posts with the session cookie, log-in and
/// sign-up). Tests of that check use [`plain_client`].
fn same_origin(base: &str) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ORIGIN, base.parse().unwrap());
    headers
}

/// A client that keeps no cookies, follows no redirects and adds no header: each test
/// request says exactly what it sends (a cross-site request, a cookie by hand).
pub fn plain_client() -> Client {
    Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The session cookie a response sets, as a browser sends it back: `name=value`, for
/// `coupan_session` or its `__Host-` form.
pub fn session_pair(res: &Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap_or_default())
        .find(|pair| {
            pair.split_once('=')
                .is_some_and(|(name, value)| name.ends_with("coupan_session") && !value.is_empty())
        })
        .map(str::to_string)
}

/// The `coupan_session` Set-Cookie of a response, whole (`coupan_session=<id>; Path=/; ...`).
pub fn session_cookie(res: &Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("coupan_session="))
        .map(str::to_string)
}

/// Asserts the error JSON shape and returns the body.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(body["error"]["message"].is_string(), "body: {body}");
    body
}

/// A coupon for a test, built from the body every test starts from (a description,
/// 15,000 won, 10 in stock): `NewCoupon::named("Latte").stock(3).create(&app, &owner)`.
#[derive(Clone, Debug)]
pub struct NewCoupon(Value);

/// A coupon created in a shop of its own: the owner's token and the coupon's id.
pub struct ShopCoupon {
    pub owner: String,
    pub id: String,
}

impl NewCoupon {
    pub fn named(name: &str) -> NewCoupon {
        NewCoupon(json!({ "name": name, "description": "desc", "price": 15000, "stock": 10 }))
    }

    pub fn stock(self, stock: i64) -> NewCoupon {
        self.set("stock", json!(stock))
    }

    /// Any other field of the API's coupon body (`per_customer_limit`, `sale_starts_at`...).
    pub fn set(mut self, field: &str, value: Value) -> NewCoupon {
        self.0[field] = value;
        self
    }

    /// The JSON body, for tests that post it themselves.
    pub fn body(self) -> Value {
        self.0
    }

    /// Creates it for the owner with token `owner` (201 expected): the coupon as answered.
    pub async fn create(self, app: &TestApp, owner: &str) -> Value {
        app.create_coupon(owner, self.0).await
    }

    /// Signs up the owner `owner_email` with shop `shop`, then creates the coupon there.
    pub async fn create_in_shop(self, app: &TestApp, owner_email: &str, shop: &str) -> ShopCoupon {
        let owner = app.owner(owner_email, shop).await;
        let id = self.create(app, &owner).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        ShopCoupon { owner, id }
    }

    /// The same in a shop of a new owner with a fresh e-mail.
    pub async fn create_in_new_shop(self, app: &TestApp, shop: &str) -> ShopCoupon {
        let email = format!("owner-{}@example.com", uuid::Uuid::new_v4());
        self.create_in_shop(app, &email, shop).await
    }
}

/// A customer made directly in the database (no password hashing) with a valid token:
/// for tests that need hundreds of buyers.
pub async fn quick_customers(pool: &PgPool, n: usize) -> Vec<String> {
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "insert into users (email, password_hash, name, role)
         select 'buyer' || g || '-' || gen_random_uuid() || '@example.com', 'x', 'Buyer', 'customer'
         from generate_series(1, $1) g returning id",
    )
    .bind(n as i32)
    .fetch_all(pool)
    .await
    .unwrap();
    let keys = app::auth::tokens::JwtKeys::new(JWT_SECRET.as_bytes());
    ids.into_iter()
        .map(|user_id| {
            keys.issue(
                app::auth::guards::Principal {
                    user_id,
                    role: app::domain::Role::Customer,
                },
                0,
            )
            .unwrap()
            .0
        })
        .collect()
}

/// An in-process payment gateway on a real port, which tests can stop and start again
/// (its ledger survives).
pub struct TestGateway {
    pub gateway: paygate::Gateway,
    pub addr: std::net::SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestGateway {
    pub async fn start() -> TestGateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gateway = paygate::Gateway::in_memory();
        let mut g = TestGateway {
            gateway,
            addr,
            task: None,
        };
        g.serve(listener);
        g
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let router = paygate::router(self.gateway.clone(), paygate::Access::new(PAYMENT_KEY));
        self.task = Some(tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap()
        }));
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    pub async fn restart(&mut self) {
        self.stop();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    pub fn set_mode(&self, f: impl FnOnce(&mut paygate::Mode)) {
        let mut m = self.gateway.mode();
        f(&mut m);
        self.gateway.set_mode(m);
    }

    /// Charges and refunds per order id.
    pub async fn counts(&self) -> std::collections::HashMap<String, (usize, usize)> {
        let mut map = std::collections::HashMap::new();
        for e in self.gateway.ledger().await.entries {
            let slot: &mut (usize, usize) = map.entry(e.order_id.clone()).or_default();
            match e.kind {
                paygate::LedgerKind::Charge => slot.0 += 1,
                paygate::LedgerKind::Refund => slot.1 += 1,
            }
        }
        map
    }
}

/// A worker against `gateway`, with short backoffs and a quick breaker, driven by tests.
pub fn test_worker(pool: &PgPool, gateway_url: &str) -> server::payment::Worker {
    test_worker_with(
        pool,
        server::payment::GatewaySettings {
            url: gateway_url.to_string(),
            secret_key: PAYMENT_KEY.to_string(),
            timeout: std::time::Duration::from_secs(3),
            allow_http: true,
        },
    )
}

/// A client of the test gateway (its key, plain http) whose calls give up after `timeout`.
pub fn test_gateway_client(url: &str, timeout: std::time::Duration) -> server::payment::Gateway {
    server::payment::Gateway::new(&server::payment::GatewaySettings {
        url: url.to_string(),
        secret_key: PAYMENT_KEY.to_string(),
        timeout,
        allow_http: true,
    })
    .expect("the test gateway's client")
}

/// The same worker with other gateway settings (another key, https).
pub fn test_worker_with(
    pool: &PgPool,
    gateway: server::payment::GatewaySettings,
) -> server::payment::Worker {
    use server::payment::{Breaker, Gateway, Worker, worker::WorkerSettings};
    let settings = WorkerSettings {
        tasks: 1,
        // drain() and settle() go in batches of this; run_once() in batches of one.
        batch_max: 16,
        poll_interval: std::time::Duration::from_millis(20),
        backoff_base: std::time::Duration::from_millis(5),
        backoff_max: std::time::Duration::from_millis(40),
        ..WorkerSettings::default()
    };
    Worker::new(
        pool.clone(),
        Gateway::new(&gateway).expect("the test gateway's client"),
        std::sync::Arc::new(Breaker::new(3, std::time::Duration::from_millis(100))),
        settings,
    )
}

/// Runs the worker until no payment work is left at all (waiting out backoffs), or panics
/// after `secs`.
pub async fn settle(worker: &server::payment::Worker, pool: &PgPool, secs: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        worker.drain().await.unwrap();
        let left: i64 = sqlx::query_scalar("select count(*) from payment_jobs")
            .fetch_one(pool)
            .await
            .unwrap();
        if left == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} payment jobs still queued"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

impl TestApp {
    pub async fn buy(
        &self,
        token: &str,
        coupon_id: &str,
        quantity: i64,
        key: Option<&str>,
    ) -> Response {
        let mut req = self
            .client
            .post(self.url("/api/v1/orders"))
            .bearer_auth(token)
            .json(&json!({"coupon_id": coupon_id, "quantity": quantity}));
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req.send().await.unwrap()
    }

    pub async fn order_status(&self, order_id: &str) -> (String, String) {
        let id = uuid::Uuid::parse_str(order_id).unwrap();
        sqlx::query_as("select status, payment_status from orders where id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    pub async fn stock(&self, coupon_id: &str) -> i32 {
        let id = uuid::Uuid::parse_str(coupon_id).unwrap();
        sqlx::query_scalar("select stock from coupons where id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// One Server-Sent Event: its `event:`, `data:` and `id:` lines.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
    pub id: Option<String>,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// A client's side of an open event stream (comment lines are skipped).
pub struct SseStream {
    res: Response,
    buf: String,
    /// The server ended the stream.
    pub ended: bool,
}

impl SseStream {
    /// Opens the stream; panics unless it answers 200 `text/event-stream`.
    pub async fn open(req: reqwest::RequestBuilder) -> SseStream {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let ct = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        SseStream {
            res,
            buf: String::new(),
            ended: false,
        }
    }

    /// The next event within `within`; `None` when none came (or the stream ended: see
    /// `ended`).
    pub async fn next_within(&mut self, within: std::time::Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut e = SseEvent {
                    event: "message".into(),
                    data: String::new(),
                    id: None,
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        e.event = v.trim().to_string();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if !e.data.is_empty() {
                            e.data.push('\n');
                        }
                        e.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        e.id = Some(v.trim().to_string());
                        any = true;
                    }
                }
                if any {
                    return Some(e);
                }
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(_) => self.ended = true,
            }
        }
    }

    /// The next event, which must come within 5 s.
    pub async fn next(&mut self) -> SseEvent {
        self.next_within(std::time::Duration::from_secs(5))
            .await
            .expect("an event within 5 s")
    }

    /// Events until `done` says one is the last wanted, within `within` in all.
    pub async fn until(
        &mut self,
        within: std::time::Duration,
        mut done: impl FnMut(&SseEvent) -> bool,
    ) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(e) = self.next_within(left).await else {
                panic!("no matching event within {within:?}; saw {seen:?}");
            };
            let stop = done(&e);
            seen.push(e);
            if stop {
                return seen;
            }
        }
    }
}
