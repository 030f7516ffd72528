//! The HTTP API (see the crate documentation for the contract): routes, and how the
//! domain's outcomes become status codes and bodies. Every JSON body is rendered from a
//! `serde_json::Value`, the form in which idempotent responses are stored, so that a replay
//! is byte for byte the first answer.

mod access;
mod bodies;
mod idempotency;

use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::Value;

use crate::Gateway;
use crate::domain::{self, Cancelled, Confirmed, Mode, Payment};
use crate::ledger::{Record, Store};
pub use access::{Access, basic_authorization};
use bodies::{CancelBody, ConfirmBody, ModeUpdate, error_body, to_json};
use idempotency::{OpResult, run_idempotent};

/// Request header carrying the idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Response header set (to `true`) on a replayed idempotent response.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";
/// Path of the ledger (`GET`, body [`crate::Ledger`]).
pub const LEDGER_PATH: &str = "/v1/ledger";

/// The gateway's HTTP API (see the crate documentation): `/healthz` for anyone, every
/// other route for callers with the secret key of `access`, the admin routes only when
/// `access` serves them.
pub fn router(gateway: Gateway, access: Access) -> Router {
    let mut keyed = Router::new()
        .route("/v1/payments/confirm", post(confirm))
        .route("/v1/payments/{payment_key}/cancel", post(cancel))
        .route("/v1/payments/orders/{order_id}", get(payment_by_order))
        .route("/v1/payments/{payment_key}", get(payment_by_key));
    if access.admin_routes() {
        keyed = keyed
            .route(LEDGER_PATH, get(ledger))
            .route("/admin/mode", get(get_mode).post(set_mode));
    }
    // A route layer: a path no route matches stays 404 (also without the key).
    let keyed = keyed.route_layer(middleware::from_fn_with_state(access, access::require_key));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(keyed)
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

fn new_payment_key() -> String {
    format!("pay_{}", uuid::Uuid::new_v4().simple())
}

fn confirm_op(store: &Store, mode: &Mode, body: Option<&Value>, mut info: LogInfo) -> OpResult {
    let req = match ConfirmBody::parse(body) {
        Ok(r) => r,
        Err(message) => {
            info.outcome = "invalid_request";
            return OpResult::error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message, info);
        }
    };
    info.order_id = Some(req.order_id.clone());
    let charged = store.charged_payment(&req.order_id);
    let outcome = domain::confirm(
        charged,
        mode,
        req,
        store.next_seq(),
        new_payment_key(),
        Utc::now(),
    );
    match outcome {
        Confirmed::AlreadyPaid(existing) => {
            info.payment_key = Some(existing.payment_key.clone());
            info.outcome = "already_paid";
            OpResult::ok(&existing, Vec::new(), info)
        }
        Confirmed::Declined(payment) => {
            info.payment_key = Some(payment.payment_key.clone());
            info.outcome = "declined";
            let mut result = OpResult::error(
                StatusCode::BAD_REQUEST,
                "REJECT_CARD_PAYMENT",
                "the card issuer declined the payment (simulated)",
                info,
            );
            result.records.push(Record::Payment { payment });
            result
        }
        Confirmed::Charged { payment, entry } => {
            info.payment_key = Some(payment.payment_key.clone());
            info.outcome = "charged";
            let body = to_json(&payment);
            let records = vec![Record::Payment { payment }, Record::Ledger { entry }];
            OpResult {
                status: StatusCode::OK,
                body,
                records,
                info,
            }
        }
    }
}

fn cancel_op(
    payment_key: &str,
    store: &Store,
    body: Option<&Value>,
    mut info: LogInfo,
) -> OpResult {
    let amount = match CancelBody::parse(body) {
        Ok(amount) => amount,
        Err(message) => {
            info.outcome = "invalid_request";
            return OpResult::error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message, info);
        }
    };
    let Some(payment) = store.payment(payment_key) else {
        info.outcome = "not_found";
        return OpResult::error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND_PAYMENT",
            format!("no payment with paymentKey {payment_key:?}"),
            info,
        );
    };
    info.order_id = Some(payment.order_id.clone());
    match domain::cancel(payment, amount, store.next_seq(), Utc::now()) {
        Cancelled::AlreadyCanceled(payment) => {
            info.outcome = "already_canceled";
            OpResult::ok(&payment, Vec::new(), info)
        }
        Cancelled::NotCancelable => {
            info.outcome = "not_cancelable";
            OpResult::error(
                StatusCode::BAD_REQUEST,
                "NOT_CANCELABLE_PAYMENT",
                "the payment was declined, so there is nothing to cancel",
                info,
            )
        }
        Cancelled::NotCancelableAmount => {
            info.outcome = "not_cancelable_amount";
            OpResult::error(
                StatusCode::BAD_REQUEST,
                "NOT_CANCELABLE_AMOUNT",
                "the amount asked for is more than what remains of the payment",
                info,
            )
        }
        Cancelled::Refunded { payment, entry } => {
            info.outcome = "refunded";
            let body = to_json(&payment);
            let records = vec![Record::Payment { payment }, Record::Ledger { entry }];
            OpResult {
                status: StatusCode::OK,
                body,
                records,
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
        confirm_op,
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
            json_response(StatusCode::OK, &to_json(p), info)
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
    let store = gateway.store().lock().await;
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
    let store = gateway.store().lock().await;
    let info = LogInfo {
        payment_key: Some(payment_key.clone()),
        ..LogInfo::default()
    };
    lookup_response(
        store.payment(&payment_key),
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
    json_response(StatusCode::OK, &to_json(&ledger), info)
}

fn mode_response(mode: &Mode, outcome: &'static str) -> Response {
    json_response(
        StatusCode::OK,
        &to_json(mode),
        LogInfo {
            outcome,
            ..LogInfo::default()
        },
    )
}

async fn get_mode(State(gateway): State<Gateway>) -> Response {
    mode_response(&gateway.mode(), "ok")
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
    if let Err(message) = update.check() {
        return invalid(message);
    }
    let mode = gateway.update_mode(|mode| update.apply(mode));
    tracing::info!(?mode, "paygate mode changed");
    mode_response(&mode, "mode_set")
}
