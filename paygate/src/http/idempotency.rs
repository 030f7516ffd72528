//! The common path of every idempotent `POST`: the key check, latency, simulated outage,
//! replay or reuse detection, the operation itself and storing its response. The last
//! three happen under the state lock, so concurrent requests see each other's effects.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{IDEMPOTENCY_HEADER, LogInfo, REPLAYED_HEADER, error_body, json_response, to_json};
use crate::Gateway;
use crate::domain::Mode;
use crate::ledger::{IdemRecord, Record, Store};

/// The outcome of an idempotent operation, decided under the lock.
pub(super) struct OpResult {
    pub status: StatusCode,
    pub body: Value,
    /// State changes; the stored response is added to them.
    pub records: Vec<Record>,
    pub info: LogInfo,
}

impl OpResult {
    pub fn ok(body: &impl Serialize, records: Vec<Record>, info: LogInfo) -> Self {
        OpResult {
            status: StatusCode::OK,
            body: to_json(body),
            records,
            info,
        }
    }

    pub fn error(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        info: LogInfo,
    ) -> Self {
        OpResult {
            status,
            body: error_body(code, message),
            records: Vec::new(),
            info,
        }
    }
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

/// What makes two bodies "the same request": equal as JSON, or byte for byte if not JSON.
fn fingerprint(body: &Bytes, parsed: Option<&Value>) -> String {
    match parsed {
        Some(v) => format!("json:{}", canonical(v)),
        None => format!("raw:{}", String::from_utf8_lossy(body)),
    }
}

/// The order a request body names, for the log line.
fn order_id_of(parsed: Option<&Value>) -> Option<String> {
    #[derive(Deserialize)]
    struct Named {
        #[serde(rename = "orderId")]
        order_id: String,
    }
    parsed
        .filter(|v| v.is_object())
        .and_then(|v| Named::deserialize(v).ok())
        .map(|n| n.order_id)
}

pub(super) async fn run_idempotent(
    gateway: &Gateway,
    headers: &HeaderMap,
    path: &str,
    body: &Bytes,
    mut info: LogInfo,
    op: impl FnOnce(&Store, &Mode, Option<&Value>, LogInfo) -> OpResult,
) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if info.order_id.is_none() {
        info.order_id = order_id_of(parsed.as_ref());
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
    let mut store = gateway.store().lock().await;

    if let Some(stored) = store.idempotent(&key) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":[{"q":1,"p":2}]}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":[{"p":2,"q":1}],"y":2},"b":1}"#).unwrap();
        assert_eq!(canonical(&a).to_string(), canonical(&b).to_string());
        assert_ne!(
            fingerprint(&Bytes::new(), Some(&a)),
            fingerprint(&Bytes::from_static(b"{}"), None)
        );
    }

    #[test]
    fn the_order_of_a_body_for_the_log() {
        let v = serde_json::json!({"orderId": "o-1", "amount": 1});
        assert_eq!(order_id_of(Some(&v)).as_deref(), Some("o-1"));
        let v = serde_json::json!({"orderId": 7});
        assert_eq!(order_id_of(Some(&v)), None);
        assert_eq!(order_id_of(None), None);
    }
}
