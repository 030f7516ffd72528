//! # paygate — a fake, Toss-Payments-like payment provider
//!
//! A test double that Coupan's payment worker calls over HTTP. It never moves money; it
//! keeps a *ledger* of the charges and refunds it would have made, so tests can prove
//! that an order was never charged twice and a payment never refunded twice.
//!
//! ## Errors
//! Every error body is `{"code": "...", "message": "..."}`.
//!
//! ## Authentication
//! Every route but `GET /healthz` needs the secret key as Toss Payments takes it:
//! `Authorization: Basic base64(secretKey + ":")`. Without it, or with another key:
//! `401 UNAUTHORIZED_KEY` (with `WWW-Authenticate: Basic`), before anything else is looked
//! at (an unauthenticated request is never stored under its idempotency key). The admin
//! routes (`/admin/mode`, `/v1/ledger`) are served only when the gateway is started with
//! them (`PAYGATE_ADMIN_ROUTES=true`, [`Access::with_admin_routes`]); otherwise they are
//! `404` like any unknown path.
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
//! `{"paymentKey": "pay_<uuid simple>", "orderId", "status": "DONE"|"PARTIAL_CANCELED"|"CANCELED"|"ABORTED",
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
//! * `POST /v1/payments/{paymentKey}/cancel` body `{"cancelReason": string (non-empty),
//!   "cancelAmount"?: integer > 0}` (as Toss's: without `cancelAmount`, the whole balance)
//!   * `200` the payment with `balanceAmount` less the amount refunded, `canceledAt` set,
//!     `status` `CANCELED` once the balance is 0 (`PARTIAL_CANCELED` before); exactly one
//!     ledger `refund` of that amount per cancel request (its idempotency key).
//!   * Already `CANCELED`: `200` with the same payment; nothing is refunded again.
//!   * `cancelAmount` above the balance (or any amount on a `CANCELED` payment):
//!     `400 NOT_CANCELABLE_AMOUNT`, nothing refunded.
//!   * Unknown key: `404 NOT_FOUND_PAYMENT`. An `ABORTED` payment: `400 NOT_CANCELABLE_PAYMENT`.
//!     Bad body: `400 INVALID_REQUEST`.
//! * `GET /v1/payments/orders/{orderId}` → `200` the latest payment of the order, or
//!   `404 NOT_FOUND_PAYMENT`. (Extra: `GET /v1/payments/{paymentKey}` likewise by key.)
//! * `GET /v1/ledger` (admin route) → `200 {"entries": [{"seq": 1, "kind": "charge"|"refund", "orderId",
//!   "paymentKey", "amount", "at"}], "charges": n, "refunds": n}`.
//! * `GET /healthz` → `200 ok`.
//! * `GET /admin/mode` (admin route) → the mode; `POST /admin/mode` (no idempotency key) with any of
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
//! `PAYGATE_SECRET_KEY` (required: the key callers must send), `PAYGATE_ADMIN_ROUTES`
//! (default `false`), `PAYGATE_ADDR` (default `127.0.0.1:3002`), `PAYGATE_LATENCY_MS`
//! (default 0), `PAYGATE_FAILURE_RATE` (default 0), `PAYGATE_LEDGER_FILE` (optional). An
//! empty variable counts as unset. A bad or missing value is reported by name and the
//! process exits with status 2.
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
//!
//! ## Modules
//! [`domain`] (payments, the ledger, the mode, the confirm and cancel decisions),
//! [`ledger`] (the state and its JSON-lines file), [`http`] (routes, the secret key,
//! bodies, idempotency), [`config`] (the binary's environment). [`Ledger`] is also the type the
//! server tests, the benchmark and the operations tests read the ledger into.

pub mod config;
pub mod domain;
pub mod http;
pub mod ledger;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Mutex;

pub use config::{Config, ConfigError, DEFAULT_ADDR, ENV_VARS};
pub use domain::{Ledger, LedgerEntry, LedgerKind, Mode, Payment, PaymentStatus};
pub use http::{
    Access, IDEMPOTENCY_HEADER, LEDGER_PATH, REPLAYED_HEADER, basic_authorization, router,
};
pub use ledger::StoreError;

use ledger::Store;

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
        self.update_mode(|m| *m = mode);
    }

    /// Changes the mode in place (one lock, so concurrent partial updates do not undo each
    /// other); returns the new mode.
    pub fn update_mode(&self, change: impl FnOnce(&mut Mode)) -> Mode {
        let mut mode = self.mode.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut mode);
        mode.clone()
    }

    /// A snapshot of the ledger.
    pub async fn ledger(&self) -> Ledger {
        self.store.lock().await.ledger()
    }

    /// The state; decisions are made holding this lock, so they see each other's effects.
    pub(crate) fn store(&self) -> &Mutex<Store> {
        &self.store
    }

    /// Sleeps for the mode's latency (holding no lock).
    pub(crate) async fn simulate_latency(&self) {
        let ms = self.mode().latency_ms;
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    /// Whether this request is one of the mode's simulated outages.
    pub(crate) fn simulate_failure(&self) -> bool {
        let rate = self.mode().failure_rate;
        rate > 0.0 && rand::thread_rng().r#gen::<f64>() < rate
    }
}
