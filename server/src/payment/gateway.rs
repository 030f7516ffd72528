//! HTTP client of the payment gateway (Toss-Payments-like API; see the paygate crate).
//! Every call carries an idempotency key derived from the order id, so a retried call,
//! from this process or another, never charges or refunds twice.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

#[derive(Clone)]
pub struct Gateway {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub payment_key: String,
    pub status: String,
}

/// What a call came to.
#[derive(Debug)]
pub enum CallError {
    /// The gateway answered no, for good (a declined card).
    Declined(String),
    /// Unreachable, 5xx, timeout, unreadable answer: try again later.
    Transient(String),
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<String>,
}

impl Gateway {
    pub fn new(base_url: &str, timeout: Duration) -> Gateway {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("http client");
        Gateway {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            timeout,
        }
    }

    /// How long a call may take before it counts as failed (the gateway may still be
    /// working on it then).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Option<Payment>, CallError> {
        let res = req
            .send()
            .await
            .map_err(|e| CallError::Transient(format!("request failed: {e}")))?;
        let status = res.status();
        if status.is_success() {
            return res
                .json::<Payment>()
                .await
                .map(Some)
                .map_err(|e| CallError::Transient(format!("bad answer: {e}")));
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let code = res
            .json::<ErrorBody>()
            .await
            .ok()
            .and_then(|b| b.code)
            .unwrap_or_default();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(CallError::Transient(format!(
                "gateway answered {status} {code}"
            )))
        } else {
            Err(CallError::Declined(if code.is_empty() {
                status.to_string()
            } else {
                code
            }))
        }
    }

    /// Charges `amount` for the order. `Ok(payment)` when charged (now or before).
    pub async fn confirm(
        &self,
        order_id: Uuid,
        amount: i64,
        order_name: &str,
    ) -> Result<Payment, CallError> {
        let req = self
            .http
            .post(format!("{}/v1/payments/confirm", self.base))
            .header("Idempotency-Key", format!("confirm-{order_id}"))
            .json(&json!({ "orderId": order_id, "amount": amount, "orderName": order_name }));
        self.send(req)
            .await?
            .ok_or_else(|| CallError::Transient("confirm answered 404".into()))
    }

    /// Refunds the payment in full.
    pub async fn cancel(
        &self,
        order_id: Uuid,
        payment_key: &str,
        reason: &str,
    ) -> Result<Payment, CallError> {
        let req = self
            .http
            .post(format!("{}/v1/payments/{payment_key}/cancel", self.base))
            .header("Idempotency-Key", format!("cancel-{order_id}"))
            .json(&json!({ "cancelReason": reason }));
        self.send(req)
            .await?
            .ok_or_else(|| CallError::Declined("NOT_FOUND_PAYMENT".into()))
    }

    /// The gateway's payment for the order, if it has one.
    pub async fn lookup(&self, order_id: Uuid) -> Result<Option<Payment>, CallError> {
        self.send(
            self.http
                .get(format!("{}/v1/payments/orders/{order_id}", self.base)),
        )
        .await
    }
}
