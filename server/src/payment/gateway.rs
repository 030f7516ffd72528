//! HTTP client of the payment gateway (Toss-Payments-like API; see the paygate crate).
//!
//! Every call carries an idempotency key derived from the order id, so a retried call,
//! from this process or another, never charges or refunds twice. The channel:
//! - the app identifies itself as Toss Payments asks: `Authorization: Basic
//!   base64(secret_key + ":")` on every call;
//! - TLS with rustls (Mozilla's roots, compiled in); a plain `http://` URL only when the
//!   configuration allows it (`COUPAN_PAYMENT_ALLOW_HTTP`, the local stand-in), and then the
//!   client still refuses to follow redirects;
//! - path segments (payment keys, order ids) are percent-encoded, so a key can never change
//!   the path or add a query;
//! - an answer is believed only when it names the order (and for a charge, the amount, for
//!   a refund, the payment) that was asked about: anything else is a failed call, retried,
//!   never a paid order.

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// How to reach the gateway (from the configuration).
#[derive(Clone)]
pub struct GatewaySettings {
    /// Base URL (`COUPAN_PAYMENT_URL`); a path prefix is kept.
    pub url: String,
    /// `COUPAN_PAYMENT_SECRET_KEY`.
    pub secret_key: String,
    pub timeout: Duration,
    /// Accept a plain `http://` URL (`COUPAN_PAYMENT_ALLOW_HTTP`).
    pub allow_http: bool,
}

impl std::fmt::Debug for GatewaySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewaySettings")
            .field("url", &self.url)
            .field("secret_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

#[derive(Clone)]
pub struct Gateway {
    http: reqwest::Client,
    base: Url,
    secret_key: String,
    timeout: Duration,
}

/// The payment object of an answer: the fields the worker checks or keeps.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub payment_key: String,
    pub order_id: String,
    pub status: String,
    pub total_amount: i64,
}

/// What a call came to.
#[derive(Debug)]
pub enum CallError {
    /// The gateway answered no, for good (a declined card).
    Declined(String),
    /// Unreachable, 5xx, timeout, refused credentials, unreadable answer or an answer about
    /// another order: try again later.
    Transient(String),
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<String>,
}

impl Gateway {
    /// The client for `settings`: an `https://` URL, or `http://` when allowed.
    pub fn new(settings: &GatewaySettings) -> Result<Gateway, String> {
        let base = Url::parse(&settings.url)
            .map_err(|e| format!("payment gateway URL {:?}: {e}", settings.url))?;
        match base.scheme() {
            "https" => {}
            "http" if settings.allow_http => {}
            "http" => {
                return Err(format!(
                    "payment gateway URL {:?} is plain http and http is not allowed",
                    settings.url
                ));
            }
            other => return Err(format!("payment gateway URL scheme {other:?}")),
        }
        if base.cannot_be_a_base() || !base.has_host() {
            return Err(format!(
                "payment gateway URL {:?} has no host",
                settings.url
            ));
        }
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(!settings.allow_http)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .build()
            .map_err(|e| format!("payment gateway client: {e}"))?;
        Ok(Gateway {
            http,
            base,
            secret_key: settings.secret_key.clone(),
            timeout: settings.timeout,
        })
    }

    /// The URL of `segments` under the base URL, each percent-encoded as one path segment
    /// (`/`, `?`, `#`, `%` included). An empty, `.` or `..` segment is refused: URL parsers
    /// drop or resolve those, so the request would go to another path.
    pub fn endpoint(&self, segments: &[&str]) -> Result<Url, CallError> {
        if let Some(bad) = segments
            .iter()
            .find(|s| s.is_empty() || **s == "." || **s == "..")
        {
            return Err(CallError::Transient(format!(
                "{bad:?} cannot be a path segment of a gateway call"
            )));
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| CallError::Transient("the gateway URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(&self.secret_key, None::<&str>)
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
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            // Our credentials, not the customer's card: nothing is decided, keep retrying
            // (and say so loudly) until the key is fixed.
            tracing::error!(
                %status,
                code,
                "the payment gateway refused the secret key (COUPAN_PAYMENT_SECRET_KEY)"
            );
            return Err(CallError::Transient(format!(
                "gateway refused the credentials: {status} {code}"
            )));
        }
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

    /// Charges `amount` for the order. `Ok(payment)` when charged (now or before) and the
    /// answer is about this order and this amount.
    pub async fn confirm(
        &self,
        order_id: Uuid,
        amount: i64,
        order_name: &str,
    ) -> Result<Payment, CallError> {
        let req = self
            .request(
                reqwest::Method::POST,
                self.endpoint(&["v1", "payments", "confirm"])?,
            )
            .header("Idempotency-Key", format!("confirm-{order_id}"))
            .json(&json!({ "orderId": order_id, "amount": amount, "orderName": order_name }));
        let payment = self
            .send(req)
            .await?
            .ok_or_else(|| CallError::Transient("confirm answered 404".into()))?;
        check_answer(&payment, order_id, Some(amount), None)?;
        Ok(payment)
    }

    /// Refunds the payment in full.
    pub async fn cancel(
        &self,
        order_id: Uuid,
        payment_key: &str,
        reason: &str,
    ) -> Result<Payment, CallError> {
        let req = self
            .request(
                reqwest::Method::POST,
                self.endpoint(&["v1", "payments", payment_key, "cancel"])?,
            )
            .header("Idempotency-Key", format!("cancel-{order_id}"))
            .json(&json!({ "cancelReason": reason }));
        let payment = self
            .send(req)
            .await?
            .ok_or_else(|| CallError::Declined("NOT_FOUND_PAYMENT".into()))?;
        check_answer(&payment, order_id, None, Some(payment_key))?;
        Ok(payment)
    }

    /// Gives back `amount` of the order's charge `payment_key`: one refund of its
    /// cancelled units (`refund_id`, the `refunds` row, is the idempotency key, so a
    /// repeated call refunds once).
    pub async fn cancel_part(
        &self,
        order_id: Uuid,
        refund_id: Uuid,
        payment_key: &str,
        amount: i64,
    ) -> Result<Payment, CallError> {
        let req = self
            .request(
                reqwest::Method::POST,
                self.endpoint(&["v1", "payments", payment_key, "cancel"])?,
            )
            .header("Idempotency-Key", format!("refund-{refund_id}"))
            .json(&json!({ "cancelReason": "units cancelled", "cancelAmount": amount }));
        let payment = self
            .send(req)
            .await?
            .ok_or_else(|| CallError::Declined("NOT_FOUND_PAYMENT".into()))?;
        check_answer(&payment, order_id, None, Some(payment_key))?;
        Ok(payment)
    }

    /// The gateway's payment for the order, if it has one.
    pub async fn lookup(&self, order_id: Uuid) -> Result<Option<Payment>, CallError> {
        let order = order_id.to_string();
        let url = self.endpoint(&["v1", "payments", "orders", &order])?;
        let found = self.send(self.request(reqwest::Method::GET, url)).await?;
        if let Some(payment) = &found {
            check_answer(payment, order_id, None, None)?;
        }
        Ok(found)
    }
}

/// An answer names the order asked about and, where given, the amount and the payment key;
/// anything else is a failed call (logged, retried), never a payment of this order.
fn check_answer(
    payment: &Payment,
    order_id: Uuid,
    amount: Option<i64>,
    payment_key: Option<&str>,
) -> Result<(), CallError> {
    let order_ok = payment.order_id == order_id.to_string();
    let amount_ok = amount.is_none_or(|a| payment.total_amount == a);
    let key_ok = payment_key.is_none_or(|k| payment.payment_key == k);
    if order_ok && amount_ok && key_ok {
        return Ok(());
    }
    tracing::error!(
        answered_order = payment.order_id,
        answered_amount = payment.total_amount,
        answered_payment_key = payment.payment_key,
        expected_amount = amount,
        expected_payment_key = payment_key,
        "the payment gateway answered about another order, amount or payment: not believed"
    );
    Err(CallError::Transient(format!(
        "the gateway's answer does not match the request (order {}, amount {}, payment {})",
        payment.order_id, payment.total_amount, payment.payment_key
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(url: &str) -> Gateway {
        Gateway::new(&GatewaySettings {
            url: url.into(),
            secret_key: "test_sk_gateway_unit".into(),
            timeout: Duration::from_secs(1),
            allow_http: true,
        })
        .unwrap()
    }

    #[test]
    fn path_segments_are_percent_encoded_and_cannot_leave_their_place() {
        let g = gateway("http://127.0.0.1:9");
        let url = g
            .endpoint(&["v1", "payments", "a/b?c%d#e f", "cancel"])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/v1/payments/a%2Fb%3Fc%25d%23e%20f/cancel"
        );
        assert_eq!(url.query(), None);
        assert_eq!(url.path_segments().unwrap().count(), 4);
        // A base with a path prefix (and a trailing slash) keeps it.
        let g = gateway("https://pay.example/toss/");
        assert_eq!(
            g.endpoint(&["v1", "payments", "confirm"]).unwrap().as_str(),
            "https://pay.example/toss/v1/payments/confirm"
        );
        for bad in ["", ".", ".."] {
            assert!(
                matches!(
                    g.endpoint(&["v1", "payments", bad, "cancel"]),
                    Err(CallError::Transient(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn http_needs_the_allowance_and_other_schemes_are_refused() {
        let settings = |url: &str, allow_http| GatewaySettings {
            url: url.into(),
            secret_key: "test_sk_gateway_unit".into(),
            timeout: Duration::from_secs(1),
            allow_http,
        };
        assert!(Gateway::new(&settings("https://pay.example", false)).is_ok());
        assert!(Gateway::new(&settings("http://127.0.0.1:3002", true)).is_ok());
        for (url, allow) in [
            ("http://127.0.0.1:3002", false),
            ("ftp://pay.example", true),
            ("not a url", true),
        ] {
            assert!(Gateway::new(&settings(url, allow)).is_err(), "{url}");
        }
        let shown = format!("{:?}", settings("https://pay.example", false));
        assert!(!shown.contains("test_sk_gateway_unit"), "{shown}");
    }

    #[test]
    fn answers_about_another_order_amount_or_payment_are_not_believed() {
        let order = Uuid::parse_str("6f1c8c1e-0000-4000-8000-0000000000ab").unwrap();
        let payment = |order_id: String, total_amount, key: &str| Payment {
            payment_key: key.into(),
            order_id,
            status: "DONE".into(),
            total_amount,
        };
        let right = payment(order.to_string(), 5000, "pay_1");
        assert!(check_answer(&right, order, Some(5000), Some("pay_1")).is_ok());
        assert!(check_answer(&right, order, None, None).is_ok());
        for (wrong, amount, key) in [
            (payment(order.to_string(), 5001, "pay_1"), Some(5000), None),
            (
                payment(Uuid::new_v4().to_string(), 5000, "pay_1"),
                Some(5000),
                None,
            ),
            (
                payment(order.to_string(), 5000, "pay_2"),
                None,
                Some("pay_1"),
            ),
            (
                payment(order.to_string().to_uppercase(), 5000, "pay_1"),
                None,
                None,
            ),
        ] {
            assert!(
                matches!(
                    check_answer(&wrong, order, amount, key),
                    Err(CallError::Transient(_))
                ),
                "{wrong:?}"
            );
        }
    }
}
