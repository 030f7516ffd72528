//! # paygate — a fake, Toss-Payments-like payment provider
//!
//! A test double that Coupan's payment worker calls over HTTP. It never moves money; it
//! keeps a *ledger* of the charges and refunds it would have made, so tests can prove
//! that an order was never charged twice and a payment never refunded twice.
//!
//! ## Errors
//! Every error body is `{"code": "...", "message": "..."}`.
//!
//! ## Idempotency (every `POST /v1/...`)
//! * Header `Idempotency-Key` is required; missing or empty → `400 MISSING_IDEMPOTENCY_KEY`.
//!   Keys are global (not per path).
//! * Same key + same method/path + same JSON body (compared as JSON: whitespace and key
//!   order do not matter) → the stored response (status and body, byte for byte) is replayed
//!   without doing anything again; the replay carries the header `Idempotent-Replayed: true`.
//! * Same key with a different body or path → `422 IDEMPOTENCY_KEY_REUSED` (not stored).
//! * Every answer the gateway *decides* (200, 400 decline or invalid request, 404) is stored
//!   under the key. Simulated outages (`503 PROVIDER_ERROR`) and storage failures
//!   (`500 PROVIDER_ERROR`) are not stored and did nothing, so a retry with the same key
//!   is safe and can succeed.
//!
//! ## Payment object
//! `{"paymentKey": "pay_<uuid simple>", "orderId", "status": "DONE"|"CANCELED"|"ABORTED",
//!   "totalAmount", "balanceAmount", "approvedAt": RFC 3339 | null, "canceledAt": RFC 3339 | null}`
//! (amounts are integer KRW).
//!
//! ## Endpoints
//! * `POST /v1/payments/confirm` body `{"orderId": string, "amount": integer > 0,
//!   "orderName"?: string, "customerKey"?: string}`
//!   * `200` new payment, `status` `DONE`, `balanceAmount` = `totalAmount`, `canceledAt` null;
//!     exactly one ledger `charge`.
//!   * If the order already has a `DONE` or `CANCELED` payment (made under another key):
//!     `200` with *that* payment; nothing is charged (the amount is not compared).
//!   * Declined (see `/admin/mode`): `400 REJECT_CARD_PAYMENT`; nothing is charged, but an
//!     `ABORTED` payment (`balanceAmount` 0, `approvedAt` null) is recorded so that the order
//!     lookup shows it. A later confirm of that order under a new key may succeed.
//!   * Missing/empty `orderId`, `amount` not an integer > 0, or a body that is not a JSON
//!     object: `400 INVALID_REQUEST`.
//! * `POST /v1/payments/{paymentKey}/cancel` body `{"cancelReason": string (non-empty)}`
//!   * `200` the payment with `status` `CANCELED`, `balanceAmount` 0, `canceledAt` set;
//!     exactly one ledger `refund` (of the full amount) on the first cancel.
//!   * Already `CANCELED`: `200` with the same payment; nothing is refunded again.
//!   * Unknown key: `404 NOT_FOUND_PAYMENT`. An `ABORTED` payment: `400 NOT_CANCELABLE_PAYMENT`.
//!     Bad body: `400 INVALID_REQUEST`.
//! * `GET /v1/payments/orders/{orderId}` → `200` the latest payment of the order, or
//!   `404 NOT_FOUND_PAYMENT`. (Extra: `GET /v1/payments/{paymentKey}` likewise by key.)
//! * `GET /v1/ledger` → `200 {"entries": [{"seq": 1, "kind": "charge"|"refund", "orderId",
//!   "paymentKey", "amount", "at"}], "charges": n, "refunds": n}`.
//! * `GET /healthz` → `200 ok`.
//! * `GET /admin/mode` → the mode; `POST /admin/mode` (no idempotency key) with any of
//!   `{"failure_rate": 0..=1, "latency_ms": int >= 0, "decline_all": bool,
//!   "decline_order_prefix": string | null}` changes only the fields given (an empty prefix
//!   or null clears it) and returns the whole mode; bad values → `400 INVALID_REQUEST`.
//!   * `failure_rate`: probability that a confirm or cancel answers `503 PROVIDER_ERROR`
//!     having done nothing.
//!   * `latency_ms`: sleep before answering `/v1/payments/...` requests (the state lock is
//!     not held while sleeping).
//!   * `decline_all`, or an `orderId` starting with `decline_order_prefix`: confirm declines.
//!
//! ## Configuration (binary)
//! `PAYGATE_ADDR` (default `127.0.0.1:3002`), `PAYGATE_LATENCY_MS` (default 0),
//! `PAYGATE_FAILURE_RATE` (default 0), `PAYGATE_LEDGER_FILE` (optional). An empty variable
//! counts as unset. A bad value is reported by name and the process exits with status 2.
//!
//! ## Persistence
//! With a ledger file every state change (payments, ledger entries, stored idempotent
//! responses) is appended as one JSON line before it takes effect, and the file is replayed
//! on start: a restarted gateway still refuses to charge an order twice and still replays
//! idempotent responses. A torn last line (crash mid-write) is dropped on start. The file
//! survives a process crash, not a power loss (no fsync). Without a file, state is in memory.
//! The mode is never persisted.
//!
//! ## Concurrency
//! One lock serialises all decisions, so concurrent confirms of one order produce exactly one
//! charge, and concurrent requests with one key produce one effect.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// Request header carrying the idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Response header set (to `true`) on a replayed idempotent response.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

// ---------------------------------------------------------------------------------------
// Domain types
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Done,
    Canceled,
    Aborted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub payment_key: String,
    pub order_id: String,
    pub status: PaymentStatus,
    pub total_amount: i64,
    pub balance_amount: i64,
    pub approved_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerKind {
    Charge,
    Refund,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub seq: u64,
    pub kind: LedgerKind,
    pub order_id: String,
    pub payment_key: String,
    pub amount: i64,
    pub at: DateTime<Utc>,
}

/// Body of `GET /v1/ledger`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub entries: Vec<LedgerEntry>,
    pub charges: usize,
    pub refunds: usize,
}

/// Runtime behaviour switch (`/admin/mode`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Mode {
    pub failure_rate: f64,
    pub latency_ms: u64,
    pub decline_all: bool,
    pub decline_order_prefix: Option<String>,
}

impl Mode {
    fn declines(&self, order_id: &str) -> bool {
        self.decline_all
            || self
                .decline_order_prefix
                .as_deref()
                .is_some_and(|p| !p.is_empty() && order_id.starts_with(p))
    }
}

/// A stored idempotent response.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdemRecord {
    method: String,
    path: String,
    /// Canonical form of the request body.
    fingerprint: String,
    status: u16,
    body: Value,
    #[serde(default)]
    order_id: Option<String>,
}

/// One line of the ledger file; also the unit of every state change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Record {
    Payment { payment: Payment },
    Ledger { entry: LedgerEntry },
    Idempotency { key: String, record: IdemRecord },
}

// ---------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open ledger file {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("ledger file {path} line {line} is not a valid record: {source}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
}

#[derive(Default)]
struct Store {
    payments: HashMap<String, Payment>,
    /// Payment keys of each order, oldest first.
    orders: HashMap<String, Vec<String>>,
    ledger: Vec<LedgerEntry>,
    idempotency: HashMap<String, IdemRecord>,
    file: Option<File>,
}

impl Store {
    fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(open_err)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(open_err)?;

        let mut store = Store::default();
        let mut valid_len = 0usize;
        let mut offset = 0usize;
        let mut lines = text.split_inclusive('\n').enumerate().peekable();
        while let Some((index, line)) = lines.next() {
            offset += line.len();
            let is_last = lines.peek().is_none();
            let complete = line.ends_with('\n');
            let content = line.trim();
            if content.is_empty() {
                if complete {
                    valid_len = offset;
                }
                continue;
            }
            match serde_json::from_str::<Record>(content) {
                Ok(record) if complete || !is_last => {
                    store.apply(record);
                    valid_len = offset;
                }
                // A complete record that lacks only its newline: keep it.
                Ok(record) => {
                    store.apply(record);
                    file.write_all(b"\n").map_err(open_err)?;
                    valid_len = offset + 1;
                }
                Err(e) if is_last && !complete => {
                    tracing::warn!(
                        path = %path.display(),
                        line = index + 1,
                        error = %e,
                        "dropping a torn last line of the ledger file"
                    );
                }
                Err(source) => {
                    return Err(StoreError::Corrupt {
                        path: path.to_owned(),
                        line: index + 1,
                        source,
                    });
                }
            }
        }
        let len = file.seek(SeekFrom::End(0)).map_err(open_err)? as usize;
        if len > valid_len {
            file.set_len(valid_len as u64).map_err(open_err)?;
        }
        store.file = Some(file);
        Ok(store)
    }

    fn apply(&mut self, record: Record) {
        match record {
            Record::Payment { payment } => {
                let keys = self.orders.entry(payment.order_id.clone()).or_default();
                if !keys.contains(&payment.payment_key) {
                    keys.push(payment.payment_key.clone());
                }
                self.payments.insert(payment.payment_key.clone(), payment);
            }
            Record::Ledger { entry } => self.ledger.push(entry),
            Record::Idempotency { key, record } => {
                self.idempotency.insert(key, record);
            }
        }
    }

    /// Writes the records to the file (if any), then applies them. On a write error
    /// nothing is applied and the file is cut back to where it was.
    fn commit(&mut self, records: Vec<Record>) -> io::Result<()> {
        if let Some(file) = &mut self.file {
            let mut buf = Vec::new();
            for record in &records {
                serde_json::to_writer(&mut buf, record)?;
                buf.push(b'\n');
            }
            let before = file.metadata()?.len();
            if let Err(e) = file.write_all(&buf).and_then(|()| file.flush()) {
                let _ = file.set_len(before);
                return Err(e);
            }
        }
        for record in records {
            self.apply(record);
        }
        Ok(())
    }

    fn order_payments<'a>(&'a self, order_id: &str) -> impl Iterator<Item = &'a Payment> + 'a {
        self.orders
            .get(order_id)
            .into_iter()
            .flatten()
            .filter_map(|key| self.payments.get(key))
    }

    /// The order's payment that is (or was) charged: `DONE` or `CANCELED`.
    fn settled_payment(&self, order_id: &str) -> Option<&Payment> {
        self.order_payments(order_id)
            .find(|p| matches!(p.status, PaymentStatus::Done | PaymentStatus::Canceled))
    }

    fn latest_payment(&self, order_id: &str) -> Option<&Payment> {
        self.order_payments(order_id).last()
    }

    fn next_seq(&self) -> u64 {
        self.ledger.last().map_or(1, |e| e.seq + 1)
    }

    fn ledger(&self) -> Ledger {
        let count = |kind| self.ledger.iter().filter(|e| e.kind == kind).count();
        Ledger {
            entries: self.ledger.clone(),
            charges: count(LedgerKind::Charge),
            refunds: count(LedgerKind::Refund),
        }
    }
}

/// The gateway's shared state. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    store: Arc<Mutex<Store>>,
    mode: Arc<std::sync::Mutex<Mode>>,
}

impl Default for Gateway {
    fn default() -> Self {
        Self::in_memory()
    }
}

impl Gateway {
    /// A gateway that keeps everything in memory.
    pub fn in_memory() -> Self {
        Self::from_store(Store::default())
    }

    /// A gateway persisted to (and first rebuilt from) a JSON-lines ledger file, which is
    /// created if missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Ok(Self::from_store(Store::open(path.as_ref())?))
    }

    fn from_store(store: Store) -> Self {
        Gateway {
            store: Arc::new(Mutex::new(store)),
            mode: Arc::new(std::sync::Mutex::new(Mode::default())),
        }
    }

    pub fn with_mode(self, mode: Mode) -> Self {
        self.set_mode(mode);
        self
    }

    pub fn mode(&self) -> Mode {
        self.mode.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    /// A snapshot of the ledger.
    pub async fn ledger(&self) -> Ledger {
        self.store.lock().await.ledger()
    }

    async fn simulate_latency(&self) {
        let ms = self.mode().latency_ms;
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    fn simulate_failure(&self) -> bool {
        let rate = self.mode().failure_rate;
        rate > 0.0 && rand::thread_rng().r#gen::<f64>() < rate
    }
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

pub const DEFAULT_ADDR: &str = "127.0.0.1:3002";

/// Every environment variable the binary reads (`RUST_LOG` is the log filter). The
/// deployment manifests are checked against this list (`server/tests/api/deploy.rs`).
pub const ENV_VARS: &[&str] = &[
    "PAYGATE_ADDR",
    "PAYGATE_LATENCY_MS",
    "PAYGATE_FAILURE_RATE",
    "PAYGATE_LEDGER_FILE",
    "RUST_LOG",
];

/// The binary's configuration, read from `PAYGATE_*` variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub addr: SocketAddr,
    pub latency_ms: u64,
    pub failure_rate: f64,
    pub ledger_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not valid UTF-8")]
    NotUnicode { name: &'static str },
    #[error("{name}={value:?} is not a socket address like 127.0.0.1:3002")]
    Addr { name: &'static str, value: String },
    #[error("{name}={value:?} is not a whole number of milliseconds (0 or more)")]
    Latency { name: &'static str, value: String },
    #[error("{name}={value:?} is not a number from 0 to 1")]
    FailureRate { name: &'static str, value: String },
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut vars = HashMap::new();
        for &name in ENV_VARS.iter().filter(|n| n.starts_with("PAYGATE_")) {
            match std::env::var(name) {
                Ok(v) => {
                    vars.insert(name, v);
                }
                Err(std::env::VarError::NotPresent) => {}
                Err(std::env::VarError::NotUnicode(_)) => {
                    errors.push(ConfigError::NotUnicode { name })
                }
            }
        }
        match Config::from_lookup(|name| vars.get(name).cloned()) {
            Ok(c) if errors.is_empty() => Ok(c),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }

    /// Reads the configuration through `lookup` (a variable's value, `None` if unset).
    /// Empty values count as unset. Returns every bad value, not just the first.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<ConfigError>> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut errors = Vec::new();

        const ADDR: &str = "PAYGATE_ADDR";
        let addr = match get(ADDR) {
            None => DEFAULT_ADDR.parse().expect("default address"),
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                errors.push(ConfigError::Addr {
                    name: ADDR,
                    value: v,
                });
                DEFAULT_ADDR.parse().expect("default address")
            }),
        };

        const LATENCY: &str = "PAYGATE_LATENCY_MS";
        let latency_ms = match get(LATENCY) {
            None => 0,
            Some(v) => v.trim().parse::<u64>().unwrap_or_else(|_| {
                errors.push(ConfigError::Latency {
                    name: LATENCY,
                    value: v,
                });
                0
            }),
        };

        const RATE: &str = "PAYGATE_FAILURE_RATE";
        let failure_rate = match get(RATE) {
            None => 0.0,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(r) if valid_rate(r) => r,
                _ => {
                    errors.push(ConfigError::FailureRate {
                        name: RATE,
                        value: v,
                    });
                    0.0
                }
            },
        };

        let ledger_file = get("PAYGATE_LEDGER_FILE").map(PathBuf::from);

        if errors.is_empty() {
            Ok(Config {
                addr,
                latency_ms,
                failure_rate,
                ledger_file,
            })
        } else {
            Err(errors)
        }
    }

    /// The mode this configuration starts the gateway in.
    pub fn mode(&self) -> Mode {
        Mode {
            failure_rate: self.failure_rate,
            latency_ms: self.latency_ms,
            ..Mode::default()
        }
    }
}

fn valid_rate(r: f64) -> bool {
    r.is_finite() && (0.0..=1.0).contains(&r)
}

// ---------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------

/// The gateway's HTTP API (see the crate documentation).
pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/payments/confirm", post(confirm))
        .route("/v1/payments/{payment_key}/cancel", post(cancel))
        .route("/v1/payments/orders/{order_id}", get(payment_by_order))
        .route("/v1/payments/{payment_key}", get(payment_by_key))
        .route("/v1/ledger", get(ledger))
        .route("/admin/mode", get(get_mode).post(set_mode))
        .layer(middleware::from_fn(log_requests))
        .with_state(gateway)
}

/// What the request log line says beyond method, path and status.
#[derive(Debug, Clone, Default)]
struct LogInfo {
    order_id: Option<String>,
    payment_key: Option<String>,
    outcome: &'static str,
}

async fn log_requests(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let info = response
        .extensions()
        .get::<LogInfo>()
        .cloned()
        .unwrap_or_default();
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        order_id = info.order_id.as_deref().unwrap_or("-"),
        payment_key = info.payment_key.as_deref().unwrap_or("-"),
        outcome = if info.outcome.is_empty() { "-" } else { info.outcome },
        elapsed_ms = started.elapsed().as_millis() as u64,
        "paygate request"
    );
    response
}

fn error_body(code: &str, message: impl Into<String>) -> Value {
    json!({ "code": code, "message": message.into() })
}

fn json_response(status: StatusCode, body: &Value, info: LogInfo) -> Response {
    let bytes = serde_json::to_vec(body).expect("a JSON value serialises");
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response();
    response.extensions_mut().insert(info);
    response
}

fn payment_json(payment: &Payment) -> Value {
    serde_json::to_value(payment).expect("a payment serialises")
}

/// A JSON value with every object's keys in sorted order, whatever `serde_json`'s map is.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn fingerprint(body: &Bytes, parsed: Option<&Value>) -> String {
    match parsed {
        Some(v) => format!("json:{}", canonical(v)),
        None => format!("raw:{}", String::from_utf8_lossy(body)),
    }
}

/// The outcome of an idempotent operation, decided under the lock.
struct OpResult {
    status: StatusCode,
    body: Value,
    /// State changes; the stored response is added to them.
    records: Vec<Record>,
    info: LogInfo,
}

impl OpResult {
    fn error(status: StatusCode, code: &str, message: impl Into<String>, info: LogInfo) -> Self {
        OpResult {
            status,
            body: error_body(code, message),
            records: Vec::new(),
            info,
        }
    }
}

/// The common path of every idempotent `POST`: key check, latency, simulated outage,
/// replay/reuse detection, the operation itself and storing its response — the last three
/// under the lock, so that concurrent requests see each other's effects.
async fn run_idempotent(
    gateway: &Gateway,
    headers: &HeaderMap,
    path: &str,
    body: &Bytes,
    mut info: LogInfo,
    op: impl FnOnce(&Store, &Mode, Option<&Value>, LogInfo) -> OpResult,
) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if info.order_id.is_none() {
        info.order_id = parsed
            .as_ref()
            .and_then(|v| v.get("orderId"))
            .and_then(Value::as_str)
            .map(str::to_owned);
    }

    let key = match headers.get(IDEMPOTENCY_HEADER).map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) => Some(k.trim()).filter(|k| !k.is_empty()),
        Some(Err(_)) => {
            info.outcome = "invalid_idempotency_key";
            return json_response(
                StatusCode::BAD_REQUEST,
                &error_body(
                    "INVALID_REQUEST",
                    "the Idempotency-Key header must be visible ASCII",
                ),
                info,
            );
        }
    };
    let Some(key) = key.map(str::to_owned) else {
        info.outcome = "missing_idempotency_key";
        return json_response(
            StatusCode::BAD_REQUEST,
            &error_body(
                "MISSING_IDEMPOTENCY_KEY",
                "the Idempotency-Key header is required",
            ),
            info,
        );
    };

    gateway.simulate_latency().await;
    if gateway.simulate_failure() {
        info.outcome = "simulated_failure";
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &error_body(
                "PROVIDER_ERROR",
                "simulated provider outage; nothing was done, retry with the same key",
            ),
            info,
        );
    }

    let fingerprint = fingerprint(body, parsed.as_ref());
    let mut store = gateway.store.lock().await;

    if let Some(stored) = store.idempotency.get(&key) {
        if stored.method == "POST" && stored.path == path && stored.fingerprint == fingerprint {
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            info.outcome = "replayed";
            if stored.order_id.is_some() {
                info.order_id = stored.order_id.clone();
            }
            let mut response = json_response(status, &stored.body, info);
            response
                .headers_mut()
                .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
            return response;
        }
        info.outcome = "idempotency_key_reused";
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &error_body(
                "IDEMPOTENCY_KEY_REUSED",
                format!(
                    "Idempotency-Key {key:?} was already used for another request ({} {} with a different body)",
                    stored.method, stored.path
                ),
            ),
            info,
        );
    }

    let mode = gateway.mode();
    let mut result = op(&store, &mode, parsed.as_ref(), info);
    result.records.push(Record::Idempotency {
        key,
        record: IdemRecord {
            method: "POST".to_owned(),
            path: path.to_owned(),
            fingerprint,
            status: result.status.as_u16(),
            body: result.body.clone(),
            order_id: result.info.order_id.clone(),
        },
    });
    if let Err(e) = store.commit(result.records) {
        tracing::error!(error = %e, "cannot write the ledger file");
        let mut info = result.info;
        info.outcome = "storage_error";
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &error_body(
                "PROVIDER_ERROR",
                "the gateway could not record the request; nothing was done, retry with the same key",
            ),
            info,
        );
    }
    json_response(result.status, &result.body, result.info)
}

struct ConfirmRequest {
    order_id: String,
    amount: i64,
}

fn parse_confirm(body: Option<&Value>) -> Result<ConfirmRequest, String> {
    let Some(Value::Object(obj)) = body else {
        return Err("the body must be a JSON object".to_owned());
    };
    let order_id = match obj.get("orderId") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err("orderId is required".to_owned());
        }
        Some(_) => return Err("orderId must be a string".to_owned()),
    };
    let amount = match obj.get("amount") {
        None | Some(Value::Null) => return Err("amount is required".to_owned()),
        Some(v) => match v.as_i64() {
            Some(a) if a > 0 => a,
            _ => return Err("amount must be a whole number of KRW greater than 0".to_owned()),
        },
    };
    for field in ["orderName", "customerKey"] {
        if let Some(v) = obj.get(field) {
            if !(v.is_string() || v.is_null()) {
                return Err(format!("{field} must be a string"));
            }
        }
    }
    Ok(ConfirmRequest { order_id, amount })
}

fn new_payment_key() -> String {
    format!("pay_{}", uuid::Uuid::new_v4().simple())
}

fn confirm_op(store: &Store, mode: &Mode, body: Option<&Value>, mut info: LogInfo) -> OpResult {
    let req = match parse_confirm(body) {
        Ok(r) => r,
        Err(message) => {
            info.outcome = "invalid_request";
            return OpResult::error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message, info);
        }
    };
    info.order_id = Some(req.order_id.clone());

    if let Some(existing) = store.settled_payment(&req.order_id) {
        info.payment_key = Some(existing.payment_key.clone());
        info.outcome = "already_paid";
        return OpResult {
            status: StatusCode::OK,
            body: payment_json(existing),
            records: Vec::new(),
            info,
        };
    }

    let payment_key = new_payment_key();
    info.payment_key = Some(payment_key.clone());
    if mode.declines(&req.order_id) {
        let payment = Payment {
            payment_key,
            order_id: req.order_id,
            status: PaymentStatus::Aborted,
            total_amount: req.amount,
            balance_amount: 0,
            approved_at: None,
            canceled_at: None,
        };
        info.outcome = "declined";
        let mut result = OpResult::error(
            StatusCode::BAD_REQUEST,
            "REJECT_CARD_PAYMENT",
            "the card issuer declined the payment (simulated)",
            info,
        );
        result.records.push(Record::Payment { payment });
        return result;
    }

    let now = Utc::now();
    let payment = Payment {
        payment_key: payment_key.clone(),
        order_id: req.order_id.clone(),
        status: PaymentStatus::Done,
        total_amount: req.amount,
        balance_amount: req.amount,
        approved_at: Some(now),
        canceled_at: None,
    };
    let entry = LedgerEntry {
        seq: store.next_seq(),
        kind: LedgerKind::Charge,
        order_id: req.order_id,
        payment_key,
        amount: req.amount,
        at: now,
    };
    info.outcome = "charged";
    OpResult {
        status: StatusCode::OK,
        body: payment_json(&payment),
        records: vec![Record::Payment { payment }, Record::Ledger { entry }],
        info,
    }
}

fn cancel_op(
    payment_key: &str,
    store: &Store,
    body: Option<&Value>,
    mut info: LogInfo,
) -> OpResult {
    let reason_ok = matches!(
        body.and_then(|b| b.get("cancelReason")),
        Some(Value::String(s)) if !s.trim().is_empty()
    );
    if !reason_ok {
        info.outcome = "invalid_request";
        return OpResult::error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "the body must be a JSON object with a non-empty string cancelReason",
            info,
        );
    }
    let Some(payment) = store.payments.get(payment_key) else {
        info.outcome = "not_found";
        return OpResult::error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND_PAYMENT",
            format!("no payment with paymentKey {payment_key:?}"),
            info,
        );
    };
    info.order_id = Some(payment.order_id.clone());
    match payment.status {
        PaymentStatus::Canceled => {
            info.outcome = "already_canceled";
            OpResult {
                status: StatusCode::OK,
                body: payment_json(payment),
                records: Vec::new(),
                info,
            }
        }
        PaymentStatus::Aborted => {
            info.outcome = "not_cancelable";
            OpResult::error(
                StatusCode::BAD_REQUEST,
                "NOT_CANCELABLE_PAYMENT",
                "the payment was declined, so there is nothing to cancel",
                info,
            )
        }
        PaymentStatus::Done => {
            let now = Utc::now();
            let entry = LedgerEntry {
                seq: store.next_seq(),
                kind: LedgerKind::Refund,
                order_id: payment.order_id.clone(),
                payment_key: payment.payment_key.clone(),
                amount: payment.balance_amount,
                at: now,
            };
            let canceled = Payment {
                status: PaymentStatus::Canceled,
                balance_amount: 0,
                canceled_at: Some(now),
                ..payment.clone()
            };
            info.outcome = "refunded";
            OpResult {
                status: StatusCode::OK,
                body: payment_json(&canceled),
                records: vec![
                    Record::Payment { payment: canceled },
                    Record::Ledger { entry },
                ],
                info,
            }
        }
    }
}

async fn confirm(State(gateway): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    run_idempotent(
        &gateway,
        &headers,
        "/v1/payments/confirm",
        &body,
        LogInfo::default(),
        |store, mode, parsed, info| confirm_op(store, mode, parsed, info),
    )
    .await
}

async fn cancel(
    State(gateway): State<Gateway>,
    UrlPath(payment_key): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v1/payments/{payment_key}/cancel");
    let info = LogInfo {
        payment_key: Some(payment_key.clone()),
        ..LogInfo::default()
    };
    run_idempotent(
        &gateway,
        &headers,
        &path,
        &body,
        info,
        |store, _mode, parsed, info| cancel_op(&payment_key, store, parsed, info),
    )
    .await
}

fn lookup_response(payment: Option<&Payment>, mut info: LogInfo, what: String) -> Response {
    match payment {
        Some(p) => {
            info.order_id = Some(p.order_id.clone());
            info.payment_key = Some(p.payment_key.clone());
            info.outcome = "found";
            json_response(StatusCode::OK, &payment_json(p), info)
        }
        None => {
            info.outcome = "not_found";
            json_response(
                StatusCode::NOT_FOUND,
                &error_body("NOT_FOUND_PAYMENT", format!("no payment for {what}")),
                info,
            )
        }
    }
}

async fn payment_by_order(
    State(gateway): State<Gateway>,
    UrlPath(order_id): UrlPath<String>,
) -> Response {
    gateway.simulate_latency().await;
    let store = gateway.store.lock().await;
    let info = LogInfo {
        order_id: Some(order_id.clone()),
        ..LogInfo::default()
    };
    lookup_response(
        store.latest_payment(&order_id),
        info,
        format!("orderId {order_id:?}"),
    )
}

async fn payment_by_key(
    State(gateway): State<Gateway>,
    UrlPath(payment_key): UrlPath<String>,
) -> Response {
    gateway.simulate_latency().await;
    let store = gateway.store.lock().await;
    let info = LogInfo {
        payment_key: Some(payment_key.clone()),
        ..LogInfo::default()
    };
    lookup_response(
        store.payments.get(&payment_key),
        info,
        format!("paymentKey {payment_key:?}"),
    )
}

async fn ledger(State(gateway): State<Gateway>) -> Response {
    let ledger = gateway.ledger().await;
    let info = LogInfo {
        outcome: "ok",
        ..LogInfo::default()
    };
    json_response(
        StatusCode::OK,
        &serde_json::to_value(&ledger).expect("the ledger serialises"),
        info,
    )
}

fn mode_response(mode: &Mode, outcome: &'static str) -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::to_value(mode).expect("the mode serialises"),
        LogInfo {
            outcome,
            ..LogInfo::default()
        },
    )
}

async fn get_mode(State(gateway): State<Gateway>) -> Response {
    mode_response(&gateway.mode(), "ok")
}

/// `POST /admin/mode`: only the fields present change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeUpdate {
    failure_rate: Option<f64>,
    latency_ms: Option<u64>,
    decline_all: Option<bool>,
    /// Absent: unchanged; `null` or `""`: cleared.
    #[serde(default, deserialize_with = "present")]
    decline_order_prefix: Option<Option<String>>,
}

/// Tells a present `null` (`Some(None)`) from an absent field (`None`, via `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

async fn set_mode(State(gateway): State<Gateway>, body: Bytes) -> Response {
    let invalid = |message: String| {
        json_response(
            StatusCode::BAD_REQUEST,
            &error_body("INVALID_REQUEST", message),
            LogInfo {
                outcome: "invalid_request",
                ..LogInfo::default()
            },
        )
    };
    let update: ModeUpdate = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => return invalid(format!("bad mode: {e}")),
    };
    if let Some(rate) = update.failure_rate {
        if !valid_rate(rate) {
            return invalid(format!("failure_rate must be from 0 to 1, got {rate}"));
        }
    }
    let mut guard = gateway.mode.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rate) = update.failure_rate {
        guard.failure_rate = rate;
    }
    if let Some(ms) = update.latency_ms {
        guard.latency_ms = ms;
    }
    if let Some(all) = update.decline_all {
        guard.decline_all = all;
    }
    if let Some(prefix) = update.decline_order_prefix {
        guard.decline_order_prefix = prefix.filter(|p| !p.is_empty());
    }
    let mode = guard.clone();
    drop(guard);
    tracing::info!(?mode, "paygate mode changed");
    mode_response(&mode, "mode_set")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn config_defaults() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.addr, "127.0.0.1:3002".parse().unwrap());
        assert_eq!(c.latency_ms, 0);
        assert_eq!(c.failure_rate, 0.0);
        assert_eq!(c.ledger_file, None);
        let c = Config::from_lookup(lookup(&[("PAYGATE_LEDGER_FILE", ""), ("PAYGATE_ADDR", "")]))
            .unwrap();
        assert_eq!(c.ledger_file, None);
        assert_eq!(c.addr, "127.0.0.1:3002".parse().unwrap());
    }

    #[test]
    fn config_values() {
        let c = Config::from_lookup(lookup(&[
            ("PAYGATE_ADDR", "0.0.0.0:4000"),
            ("PAYGATE_LATENCY_MS", "25"),
            ("PAYGATE_FAILURE_RATE", "0.5"),
            ("PAYGATE_LEDGER_FILE", "/tmp/x.jsonl"),
        ]))
        .unwrap();
        assert_eq!(c.addr, "0.0.0.0:4000".parse().unwrap());
        assert_eq!(c.latency_ms, 25);
        assert_eq!(c.failure_rate, 0.5);
        assert_eq!(c.ledger_file, Some(PathBuf::from("/tmp/x.jsonl")));
        assert_eq!(c.mode().failure_rate, 0.5);
        assert_eq!(c.mode().latency_ms, 25);
    }

    #[test]
    fn config_reports_every_bad_value() {
        let errors = Config::from_lookup(lookup(&[
            ("PAYGATE_ADDR", "localhost"),
            ("PAYGATE_LATENCY_MS", "-1"),
            ("PAYGATE_FAILURE_RATE", "1.5"),
        ]))
        .unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(text[0].contains("PAYGATE_ADDR"), "{text:?}");
        assert!(text[1].contains("PAYGATE_LATENCY_MS"), "{text:?}");
        assert!(text[2].contains("PAYGATE_FAILURE_RATE"), "{text:?}");
        for bad in ["NaN", "inf", "x", "-0.1"] {
            assert!(
                Config::from_lookup(lookup(&[("PAYGATE_FAILURE_RATE", bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_variable_read_is_listed() {
        // Each `PAYGATE_*` name in this file and in main.rs is in ENV_VARS (`from_env` reads
        // exactly the listed ones).
        let sources = [include_str!("lib.rs"), include_str!("main.rs")];
        let mut seen = std::collections::BTreeSet::new();
        for source in sources {
            for part in source.split('"').skip(1).step_by(2) {
                if part.starts_with("PAYGATE_")
                    && part.len() > 8
                    && part.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                {
                    assert!(
                        ENV_VARS.contains(&part),
                        "{part} is read but not in ENV_VARS"
                    );
                    seen.insert(part);
                }
            }
        }
        assert!(seen.len() >= 4, "{seen:?}");
    }

    #[test]
    fn canonical_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":[{"q":1,"p":2}]}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":[{"p":2,"q":1}],"y":2},"b":1}"#).unwrap();
        assert_eq!(canonical(&a).to_string(), canonical(&b).to_string());
    }

    #[test]
    fn declines() {
        let mut mode = Mode::default();
        assert!(!mode.declines("o-1"));
        mode.decline_order_prefix = Some("bad-".into());
        assert!(mode.declines("bad-1"));
        assert!(!mode.declines("good-1"));
        mode.decline_order_prefix = Some(String::new());
        assert!(!mode.declines("good-1"));
        mode.decline_all = true;
        assert!(mode.declines("good-1"));
    }

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "paygate-unit-{name}-{}.jsonl",
            uuid::Uuid::new_v4().simple()
        ))
    }

    #[test]
    fn torn_last_line_is_dropped_and_file_stays_appendable() {
        let path = temp_path("torn");
        let payment = Payment {
            payment_key: "pay_1".into(),
            order_id: "o-1".into(),
            status: PaymentStatus::Done,
            total_amount: 100,
            balance_amount: 100,
            approved_at: Some(Utc::now()),
            canceled_at: None,
        };
        let line = serde_json::to_string(&Record::Payment {
            payment: payment.clone(),
        })
        .unwrap();
        std::fs::write(&path, format!("{line}\n{{\"type\":\"ledg")).unwrap();
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.payments.get("pay_1"), Some(&payment));
        let canceled = Payment {
            status: PaymentStatus::Canceled,
            ..payment.clone()
        };
        store
            .commit(vec![Record::Payment {
                payment: canceled.clone(),
            }])
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.payments.get("pay_1"), Some(&canceled));
        assert_eq!(store.orders["o-1"], vec!["pay_1".to_string()]);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn corrupt_middle_line_is_an_error() {
        let path = temp_path("corrupt");
        std::fs::write(&path, "not json\n{}\n").unwrap();
        let err = Store::open(&path)
            .err()
            .expect("corrupt file must not load");
        assert!(matches!(err, StoreError::Corrupt { line: 1, .. }), "{err}");
        let _ = std::fs::remove_file(&path);
    }
}
