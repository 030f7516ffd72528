//! Drives the gateway over real HTTP on 127.0.0.1, as the app's payment worker will.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use paygate::{Access, Gateway, basic_authorization, router};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Harness {
    base: String,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Reply {
    status: StatusCode,
    text: String,
    json: Value,
    replayed: bool,
}

const SECRET_KEY: &str = "test_sk_paygate_api";

/// The gateway with its admin routes, and a client that sends the secret key.
async fn spawn(gateway: Gateway) -> Harness {
    spawn_with(gateway, Access::new(SECRET_KEY).with_admin_routes()).await
}

async fn spawn_with(gateway: Gateway, access: Access) -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, router(gateway, access))
            .await
            .unwrap();
    });
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        basic_authorization(SECRET_KEY).parse().unwrap(),
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    Harness {
        base: format!("http://{addr}"),
        client,
        server,
    }
}

impl Harness {
    async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status();
        let replayed = response.headers().get("idempotent-replayed").is_some();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            text,
            json,
            replayed,
        }
    }

    async fn post_raw(&self, path: &str, key: Option<&str>, body: String) -> Reply {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        Self::reply(req.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> Reply {
        self.post_raw(path, key, body.to_string()).await
    }

    async fn get(&self, path: &str) -> Reply {
        let req = self.client.get(format!("{}{path}", self.base));
        Self::reply(req.send().await.unwrap()).await
    }

    async fn confirm(&self, key: &str, order_id: &str, amount: i64) -> Reply {
        self.post(
            "/v1/payments/confirm",
            Some(key),
            json!({"orderId": order_id, "amount": amount, "orderName": "coupon", "customerKey": "c-1"}),
        )
        .await
    }

    async fn cancel(&self, key: &str, payment_key: &str) -> Reply {
        self.post(
            &format!("/v1/payments/{payment_key}/cancel"),
            Some(key),
            json!({"cancelReason": "customer asked"}),
        )
        .await
    }

    async fn ledger(&self) -> Value {
        let reply = self.get("/v1/ledger").await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.json
    }

    async fn set_mode(&self, mode: Value) -> Value {
        let reply = self
            .client
            .post(format!("{}/admin/mode", self.base))
            .json(&mode)
            .send()
            .await
            .unwrap();
        let reply = Self::reply(reply).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json
    }
}

fn charges(ledger: &Value) -> u64 {
    ledger["charges"].as_u64().unwrap()
}

fn refunds(ledger: &Value) -> u64 {
    ledger["refunds"].as_u64().unwrap()
}

fn temp_ledger(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "paygate-test-{name}-{}.jsonl",
        uuid::Uuid::new_v4().simple()
    ))
}

#[tokio::test]
async fn healthz() {
    let h = spawn(Gateway::in_memory()).await;
    let reply = h.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text, "ok");
}

#[tokio::test]
async fn confirm_success() {
    let h = spawn(Gateway::in_memory()).await;
    let reply = h.confirm("k-1", "order-1", 15_000).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let p = &reply.json;
    let key = p["paymentKey"].as_str().unwrap();
    assert!(key.starts_with("pay_") && key.len() == 4 + 32, "{key}");
    assert_eq!(p["orderId"], "order-1");
    assert_eq!(p["status"], "DONE");
    assert_eq!(p["totalAmount"], 15_000);
    assert_eq!(p["balanceAmount"], 15_000);
    chrono::DateTime::parse_from_rfc3339(p["approvedAt"].as_str().unwrap()).unwrap();
    assert!(p["canceledAt"].is_null());
    assert!(!reply.replayed);

    let ledger = h.ledger().await;
    assert_eq!(charges(&ledger), 1);
    assert_eq!(refunds(&ledger), 0);
    let entry = &ledger["entries"][0];
    assert_eq!(entry["seq"], 1);
    assert_eq!(entry["kind"], "charge");
    assert_eq!(entry["orderId"], "order-1");
    assert_eq!(entry["paymentKey"], key);
    assert_eq!(entry["amount"], 15_000);
    chrono::DateTime::parse_from_rfc3339(entry["at"].as_str().unwrap()).unwrap();

    // A second order gets a different payment key.
    let other = h.confirm("k-2", "order-2", 1).await;
    assert_eq!(other.status, StatusCode::OK);
    assert_ne!(other.json["paymentKey"], p["paymentKey"]);
    assert_eq!(charges(&h.ledger().await), 2);
}

#[tokio::test]
async fn idempotent_replay_returns_identical_body_and_charges_once() {
    let h = spawn(Gateway::in_memory()).await;
    let first = h
        .post_raw(
            "/v1/payments/confirm",
            Some("k-1"),
            r#"{"orderId":"order-1","amount":5000}"#.into(),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    // Same JSON, different key order and whitespace.
    let second = h
        .post_raw(
            "/v1/payments/confirm",
            Some("k-1"),
            r#"{ "amount": 5000, "orderId": "order-1" }"#.into(),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.text, first.text);
    assert!(second.replayed);
    assert_eq!(charges(&h.ledger().await), 1);

    // Declines and invalid requests are replayed too.
    let bad = h
        .post(
            "/v1/payments/confirm",
            Some("k-bad"),
            json!({"orderId": "o", "amount": 0}),
        )
        .await;
    let again = h
        .post(
            "/v1/payments/confirm",
            Some("k-bad"),
            json!({"orderId": "o", "amount": 0}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.text, again.text);
    assert!(again.replayed);
}

#[tokio::test]
async fn missing_idempotency_key_is_rejected() {
    let h = spawn(Gateway::in_memory()).await;
    let reply = h
        .post(
            "/v1/payments/confirm",
            None,
            json!({"orderId": "order-1", "amount": 100}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["code"], "MISSING_IDEMPOTENCY_KEY");
    assert!(reply.json["message"].is_string());
    let reply = h
        .post(
            "/v1/payments/pay_x/cancel",
            Some("  "),
            json!({"cancelReason": "x"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["code"], "MISSING_IDEMPOTENCY_KEY");
    assert_eq!(charges(&h.ledger().await), 0);
}

#[tokio::test]
async fn invalid_confirm_requests() {
    let h = spawn(Gateway::in_memory()).await;
    let bodies = [
        json!({"orderId": "o-1", "amount": 0}),
        json!({"orderId": "o-1", "amount": -5}),
        json!({"orderId": "o-1", "amount": 10.5}),
        json!({"orderId": "o-1", "amount": "1000"}),
        json!({"orderId": "o-1"}),
        json!({"amount": 1000}),
        json!({"orderId": "", "amount": 1000}),
        json!({"orderId": 7, "amount": 1000}),
        json!([1, 2]),
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        let reply = h
            .post(
                "/v1/payments/confirm",
                Some(&format!("k-{i}")),
                body.clone(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.json["code"], "INVALID_REQUEST", "{body}");
        assert!(reply.json["message"].is_string());
    }
    let reply = h
        .post_raw("/v1/payments/confirm", Some("k-raw"), "not json".into())
        .await;
    assert_eq!(reply.json["code"], "INVALID_REQUEST");
    assert_eq!(charges(&h.ledger().await), 0);
    assert_eq!(
        h.get("/v1/payments/orders/o-1").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn same_key_different_request_is_422() {
    let h = spawn(Gateway::in_memory()).await;
    let first = h.confirm("k-1", "order-1", 1000).await;
    assert_eq!(first.status, StatusCode::OK);

    let reply = h.confirm("k-1", "order-1", 2000).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.json["code"], "IDEMPOTENCY_KEY_REUSED");
    assert!(reply.json["message"].is_string());

    let reply = h.confirm("k-1", "order-2", 1000).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Same key on another path.
    let payment_key = first.json["paymentKey"].as_str().unwrap();
    let reply = h.cancel("k-1", payment_key).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.json["code"], "IDEMPOTENCY_KEY_REUSED");

    // The 422s did nothing and were not stored: the original still replays.
    let replay = h.confirm("k-1", "order-1", 1000).await;
    assert_eq!(replay.text, first.text);
    let ledger = h.ledger().await;
    assert_eq!(charges(&ledger), 1);
    assert_eq!(refunds(&ledger), 0);
    assert_eq!(
        h.get("/v1/payments/orders/order-1").await.json["status"],
        "DONE"
    );
}

#[tokio::test]
async fn second_confirm_of_same_order_returns_existing_payment() {
    let h = spawn(Gateway::in_memory()).await;
    let first = h.confirm("k-1", "order-1", 1000).await;
    let second = h.confirm("k-2", "order-1", 1000).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.json, first.json);
    assert!(!second.replayed);
    assert_eq!(charges(&h.ledger().await), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_confirms_of_one_order_charge_once() {
    let h = spawn(Gateway::in_memory()).await;
    h.set_mode(json!({"latency_ms": 20})).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let client = h.client.clone();
        let url = format!("{}/v1/payments/confirm", h.base);
        tasks.spawn(async move {
            let r = client
                .post(url)
                .header("Idempotency-Key", format!("k-{i}"))
                .json(&json!({"orderId": "order-1", "amount": 3000}))
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        });
    }
    let replies = tasks.join_all().await;
    assert_eq!(replies.len(), 20);
    let key = replies[0].1["paymentKey"].clone();
    for (status, body) in &replies {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["paymentKey"], key);
        assert_eq!(body["status"], "DONE");
    }
    let ledger = h.ledger().await;
    assert_eq!(charges(&ledger), 1);
    assert_eq!(ledger["entries"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_have_one_effect() {
    let h = spawn(Gateway::in_memory()).await;
    h.set_mode(json!({"latency_ms": 20})).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = h.client.clone();
        let url = format!("{}/v1/payments/confirm", h.base);
        tasks.spawn(async move {
            let r = client
                .post(url)
                .header("Idempotency-Key", "same-key")
                .json(&json!({"orderId": "order-1", "amount": 3000}))
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        });
    }
    let replies = tasks.join_all().await;
    for (status, text) in &replies {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(text, &replies[0].1);
    }
    assert_eq!(charges(&h.ledger().await), 1);
}

#[tokio::test]
async fn decline_mode_rejects_and_charges_nothing() {
    let h = spawn(Gateway::in_memory()).await;
    let mode = h.set_mode(json!({"decline_all": true})).await;
    assert_eq!(mode["decline_all"], true);
    let reply = h.confirm("k-1", "order-1", 1000).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["code"], "REJECT_CARD_PAYMENT");
    assert!(reply.json["message"].is_string());
    assert_eq!(charges(&h.ledger().await), 0);
    let lookup = h.get("/v1/payments/orders/order-1").await;
    assert_eq!(lookup.status, StatusCode::OK);
    assert_eq!(lookup.json["status"], "ABORTED");
    assert_eq!(lookup.json["balanceAmount"], 0);
    assert!(lookup.json["approvedAt"].is_null());
    // An aborted payment cannot be cancelled.
    let aborted_key = lookup.json["paymentKey"].as_str().unwrap().to_owned();
    let reply = h.cancel("c-1", &aborted_key).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["code"], "NOT_CANCELABLE_PAYMENT");

    // Prefix mode: only matching orders are declined.
    let mode = h
        .set_mode(json!({"decline_all": false, "decline_order_prefix": "bad-"}))
        .await;
    assert_eq!(mode["decline_order_prefix"], "bad-");
    let reply = h.confirm("k-2", "bad-7", 1000).await;
    assert_eq!(reply.json["code"], "REJECT_CARD_PAYMENT");
    let reply = h.confirm("k-3", "good-7", 1000).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(charges(&h.ledger().await), 1);

    // Once declines stop, the declined order can be paid under a new key; the old key
    // still replays its decline.
    let mode = h.set_mode(json!({"decline_order_prefix": null})).await;
    assert!(mode["decline_order_prefix"].is_null());
    let replay = h.confirm("k-1", "order-1", 1000).await;
    assert_eq!(replay.json["code"], "REJECT_CARD_PAYMENT");
    let paid = h.confirm("k-4", "order-1", 1000).await;
    assert_eq!(paid.status, StatusCode::OK);
    assert_eq!(paid.json["status"], "DONE");
    assert_eq!(
        h.get("/v1/payments/orders/order-1").await.json["paymentKey"],
        paid.json["paymentKey"]
    );
    assert_eq!(charges(&h.ledger().await), 2);
}

#[tokio::test]
async fn provider_failure_stores_nothing_and_retry_succeeds() {
    let h = spawn(Gateway::in_memory()).await;
    h.set_mode(json!({"failure_rate": 1.0})).await;
    for _ in 0..3 {
        let reply = h.confirm("k-1", "order-1", 1000).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.json["code"], "PROVIDER_ERROR");
    }
    assert_eq!(charges(&h.ledger().await), 0);
    assert_eq!(
        h.get("/v1/payments/orders/order-1").await.status,
        StatusCode::NOT_FOUND
    );

    h.set_mode(json!({"failure_rate": 0.0})).await;
    let ok = h.confirm("k-1", "order-1", 1000).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert!(!ok.replayed);
    assert_eq!(charges(&h.ledger().await), 1);

    // Cancels fail the same way, without refunding.
    let payment_key = ok.json["paymentKey"].as_str().unwrap().to_owned();
    h.set_mode(json!({"failure_rate": 1.0})).await;
    let reply = h.cancel("c-1", &payment_key).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refunds(&h.ledger().await), 0);
    h.set_mode(json!({"failure_rate": 0})).await;
    let reply = h.cancel("c-1", &payment_key).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(refunds(&h.ledger().await), 1);
}

#[tokio::test]
async fn cancel_refunds_once() {
    let h = spawn(Gateway::in_memory()).await;
    let paid = h.confirm("k-1", "order-1", 7000).await;
    let payment_key = paid.json["paymentKey"].as_str().unwrap().to_owned();

    let canceled = h.cancel("c-1", &payment_key).await;
    assert_eq!(canceled.status, StatusCode::OK, "{}", canceled.text);
    let p = &canceled.json;
    assert_eq!(p["paymentKey"], payment_key.as_str());
    assert_eq!(p["orderId"], "order-1");
    assert_eq!(p["status"], "CANCELED");
    assert_eq!(p["totalAmount"], 7000);
    assert_eq!(p["balanceAmount"], 0);
    assert_eq!(p["approvedAt"], paid.json["approvedAt"]);
    chrono::DateTime::parse_from_rfc3339(p["canceledAt"].as_str().unwrap()).unwrap();

    let ledger = h.ledger().await;
    assert_eq!(refunds(&ledger), 1);
    let refund = &ledger["entries"][1];
    assert_eq!(refund["seq"], 2);
    assert_eq!(refund["kind"], "refund");
    assert_eq!(refund["amount"], 7000);
    assert_eq!(refund["paymentKey"], payment_key.as_str());

    // Cancelling again under a new key: same payment, no second refund.
    let again = h.cancel("c-2", &payment_key).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json, canceled.json);
    // Replay of the first cancel.
    let replay = h.cancel("c-1", &payment_key).await;
    assert_eq!(replay.text, canceled.text);
    assert!(replay.replayed);
    // Confirming the order again returns the canceled payment, no new charge.
    let reconfirm = h.confirm("k-9", "order-1", 7000).await;
    assert_eq!(reconfirm.status, StatusCode::OK);
    assert_eq!(reconfirm.json, canceled.json);

    let ledger = h.ledger().await;
    assert_eq!(charges(&ledger), 1);
    assert_eq!(refunds(&ledger), 1);

    // Unknown payment, bad body.
    let reply = h.cancel("c-3", "pay_doesnotexist").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json["code"], "NOT_FOUND_PAYMENT");
    let reply = h
        .post(
            &format!("/v1/payments/{payment_key}/cancel"),
            Some("c-4"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["code"], "INVALID_REQUEST");
}

#[tokio::test]
async fn partial_cancels_refund_their_amount_once_and_never_more_than_paid() {
    let h = spawn(Gateway::in_memory()).await;
    let paid = h.confirm("k-1", "order-1", 9000).await;
    let payment_key = paid.json["paymentKey"].as_str().unwrap().to_owned();
    let path = format!("/v1/payments/{payment_key}/cancel");
    let part = |amount: Value| json!({"cancelReason": "units cancelled", "cancelAmount": amount});

    let first = h.post(&path, Some("r-1"), part(json!(3000))).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.json["status"], "PARTIAL_CANCELED");
    assert_eq!(first.json["balanceAmount"], 6000);
    assert_eq!(first.json["totalAmount"], 9000);
    // The same request again (its key): replayed, nothing refunded twice.
    let replay = h.post(&path, Some("r-1"), part(json!(3000))).await;
    assert!(replay.replayed);
    assert_eq!(replay.text, first.text);
    // The same key with another amount is another request: refused.
    let reused = h.post(&path, Some("r-1"), part(json!(2000))).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    // More than the balance: refused, nothing refunded.
    let over = h.post(&path, Some("r-2"), part(json!(6001))).await;
    assert_eq!(over.status, StatusCode::BAD_REQUEST);
    assert_eq!(over.json["code"], "NOT_CANCELABLE_AMOUNT");
    for (i, bad) in [json!(0), json!(-1), json!("3000"), json!(1.5)]
        .into_iter()
        .enumerate()
    {
        let reply = h.post(&path, Some(&format!("r-bad-{i}")), part(bad)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.json["code"], "INVALID_REQUEST");
    }
    // The rest, exactly: cancelled.
    let rest = h.post(&path, Some("r-3"), part(json!(6000))).await;
    assert_eq!(rest.status, StatusCode::OK, "{}", rest.text);
    assert_eq!(rest.json["status"], "CANCELED");
    assert_eq!(rest.json["balanceAmount"], 0);
    let after = h.post(&path, Some("r-4"), part(json!(1))).await;
    assert_eq!(after.json["code"], "NOT_CANCELABLE_AMOUNT");

    let ledger = h.ledger().await;
    assert_eq!((charges(&ledger), refunds(&ledger)), (1, 2));
    let refunded: i64 = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "refund")
        .map(|e| e["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(refunded, 9000);
    // The lookup shows the payment as cancelled.
    let found = h.get("/v1/payments/orders/order-1").await;
    assert_eq!(found.json["status"], "CANCELED");
}

#[tokio::test]
async fn lookup_by_order_and_key() {
    let h = spawn(Gateway::in_memory()).await;
    let missing = h.get("/v1/payments/orders/order-1").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json["code"], "NOT_FOUND_PAYMENT");

    let paid = h.confirm("k-1", "order-1", 1200).await;
    let found = h.get("/v1/payments/orders/order-1").await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.text, paid.text);

    let payment_key = paid.json["paymentKey"].as_str().unwrap();
    let by_key = h.get(&format!("/v1/payments/{payment_key}")).await;
    assert_eq!(by_key.text, paid.text);
    assert_eq!(
        h.get("/v1/payments/pay_nope").await.status,
        StatusCode::NOT_FOUND
    );

    // Order ids with characters that need escaping.
    let odd = "order/with space?";
    let paid = h.confirm("k-2", odd, 500).await;
    assert_eq!(paid.status, StatusCode::OK);
    let found = h.get("/v1/payments/orders/order%2Fwith%20space%3F").await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.json["orderId"], odd);
}

#[tokio::test]
async fn admin_mode_round_trip_and_validation() {
    let h = spawn(Gateway::in_memory()).await;
    let mode = h.get("/admin/mode").await.json;
    assert_eq!(
        mode,
        json!({"failure_rate": 0.0, "latency_ms": 0, "decline_all": false, "decline_order_prefix": null})
    );
    let set = h
        .set_mode(json!({"latency_ms": 5, "failure_rate": 0.25}))
        .await;
    assert_eq!(set["latency_ms"], 5);
    assert_eq!(set["failure_rate"], 0.25);
    assert_eq!(h.get("/admin/mode").await.json, set);
    // Partial update keeps the other fields.
    let set = h.set_mode(json!({"decline_all": true})).await;
    assert_eq!(set["latency_ms"], 5);
    assert_eq!(set["decline_all"], true);

    for bad in [
        json!({"failure_rate": 1.5}),
        json!({"failure_rate": -0.1}),
        json!({"latency_ms": -1}),
        json!({"decline_all": "yes"}),
        json!({"typo": 1}),
    ] {
        let r = h
            .client
            .post(format!("{}/admin/mode", h.base))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "INVALID_REQUEST");
    }
    assert_eq!(h.get("/admin/mode").await.json, set);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_payments_without_holding_the_lock() {
    let h = spawn(Gateway::in_memory()).await;
    h.set_mode(json!({"latency_ms": 1500})).await;
    let client = h.client.clone();
    let url = format!("{}/v1/payments/confirm", h.base);
    let started = Instant::now();
    let slow = tokio::spawn(async move {
        client
            .post(url)
            .header("Idempotency-Key", "k-1")
            .json(&json!({"orderId": "order-1", "amount": 1000}))
            .send()
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ledger_started = Instant::now();
    assert_eq!(charges(&h.ledger().await), 0);
    assert!(
        ledger_started.elapsed() < Duration::from_millis(1000),
        "the ledger waited for a sleeping confirm"
    );
    assert_eq!(slow.await.unwrap(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_eq!(charges(&h.ledger().await), 1);
}

#[tokio::test]
async fn persisted_state_survives_a_restart() {
    let path = temp_ledger("restart");
    let (paid, canceled, ledger_before) = {
        let h = spawn(Gateway::open(&path).unwrap()).await;
        let paid = h.confirm("k-1", "order-1", 9900).await;
        assert_eq!(paid.status, StatusCode::OK);
        let other = h.confirm("k-2", "order-2", 100).await;
        let other_key = other.json["paymentKey"].as_str().unwrap().to_owned();
        let canceled = h.cancel("c-1", &other_key).await;
        assert_eq!(canceled.status, StatusCode::OK);
        h.set_mode(json!({"decline_all": true})).await;
        let declined = h.confirm("k-3", "order-3", 100).await;
        assert_eq!(declined.json["code"], "REJECT_CARD_PAYMENT");
        (paid, canceled, h.ledger().await)
    };
    assert_eq!(charges(&ledger_before), 2);
    assert_eq!(refunds(&ledger_before), 1);

    // Rebuild everything from the file.
    let h = spawn(Gateway::open(&path).unwrap()).await;
    assert_eq!(h.ledger().await, ledger_before);
    // The mode is not persisted.
    assert_eq!(h.get("/admin/mode").await.json["decline_all"], false);

    // Same order, new key: the existing payment, no new charge.
    let again = h.confirm("k-new", "order-1", 9900).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json, paid.json);
    assert!(!again.replayed);
    // Old keys still replay, byte for byte.
    let replay = h.confirm("k-1", "order-1", 9900).await;
    assert!(replay.replayed);
    assert_eq!(replay.text, paid.text);
    assert_eq!(
        h.confirm("k-1", "order-1", 1).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // A canceled payment stays canceled; no second refund.
    let other_key = canceled.json["paymentKey"].as_str().unwrap();
    let recancel = h.cancel("c-2", other_key).await;
    assert_eq!(recancel.json, canceled.json);
    // The declined order still shows ABORTED, and its decline replays.
    assert_eq!(
        h.get("/v1/payments/orders/order-3").await.json["status"],
        "ABORTED"
    );
    let replay = h.confirm("k-3", "order-3", 100).await;
    assert_eq!(replay.json["code"], "REJECT_CARD_PAYMENT");
    // New work keeps numbering the ledger.
    let fresh = h.confirm("k-4", "order-4", 10).await;
    assert_eq!(fresh.status, StatusCode::OK);
    let ledger = h.ledger().await;
    assert_eq!(charges(&ledger), 3);
    assert_eq!(refunds(&ledger), 1);
    assert_eq!(ledger["entries"][3]["seq"], 4);
    drop(h);

    // And a third generation sees the new work too.
    let h = spawn(Gateway::open(&path).unwrap()).await;
    assert_eq!(charges(&h.ledger().await), 3);
    drop(h);
    let _ = std::fs::remove_file(&path);
}

/// Every route but `/healthz` refuses a caller without the secret key, before anything
/// happens: no charge, nothing stored under the idempotency key.
#[tokio::test]
async fn without_the_secret_key_every_route_but_healthz_is_401() {
    let h = spawn(Gateway::in_memory()).await;
    let paid = h.confirm("k-paid", "order-paid", 100).await;
    let key = paid.json["paymentKey"].as_str().unwrap().to_owned();
    let anonymous = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = |path: &str| format!("{}{path}", h.base);
    let other_key = basic_authorization("test_sk_someone_else");
    // base64 of the key without the colon.
    let no_colon = format!("Basic {}", "dGVzdF9za19wYXlnYXRlX2FwaQ==");
    let bearer = format!("Bearer {SECRET_KEY}");
    for authorization in [
        None,
        Some(other_key.as_str()),
        Some(&no_colon),
        Some(&bearer),
    ] {
        let with = |req: reqwest::RequestBuilder| match authorization {
            Some(a) => req.header("authorization", a),
            None => req,
        };
        let requests = [
            with(anonymous.post(url("/v1/payments/confirm")))
                .header("Idempotency-Key", "k-1")
                .json(&json!({"orderId": "order-1", "amount": 100})),
            with(anonymous.post(url(&format!("/v1/payments/{key}/cancel"))))
                .header("Idempotency-Key", "c-1")
                .json(&json!({"cancelReason": "x"})),
            with(anonymous.get(url("/v1/payments/orders/order-paid"))),
            with(anonymous.get(url(&format!("/v1/payments/{key}")))),
            with(anonymous.get(url("/v1/ledger"))),
            with(anonymous.get(url("/admin/mode"))),
            with(anonymous.post(url("/admin/mode"))).json(&json!({"decline_all": true})),
        ];
        for req in requests {
            let res = req.send().await.unwrap();
            let what = format!("{} {:?}", res.url().path(), authorization);
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
            assert_eq!(
                res.headers()["www-authenticate"],
                "Basic realm=\"paygate\"",
                "{what}"
            );
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["code"], "UNAUTHORIZED_KEY", "{what}");
        }
    }
    let health = anonymous.get(url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    // Nothing happened: one charge (the first), no refund, the mode unchanged, and the keys
    // of the refused requests were not stored (their first real use is not a replay).
    let ledger = h.ledger().await;
    assert_eq!((charges(&ledger), refunds(&ledger)), (1, 0));
    assert_eq!(h.get("/admin/mode").await.json["decline_all"], false);
    let first = h.confirm("k-1", "order-1", 100).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(!first.replayed);
    let cancel = h.cancel("c-1", &key).await;
    assert_eq!(cancel.status, StatusCode::OK);
    assert!(!cancel.replayed);
}

/// Without the admin flag the gateway serves payments only: `/admin/mode` and the ledger
/// do not exist, whoever asks.
#[tokio::test]
async fn admin_routes_exist_only_when_started_with_them() {
    let h = spawn_with(Gateway::in_memory(), Access::new(SECRET_KEY)).await;
    let paid = h.confirm("k-1", "order-1", 100).await;
    assert_eq!(paid.status, StatusCode::OK);
    assert_eq!(
        h.get("/v1/payments/orders/order-1").await.status,
        StatusCode::OK
    );
    for path in ["/v1/ledger", "/admin/mode"] {
        assert_eq!(
            h.get(path).await.status,
            StatusCode::NOT_FOUND,
            "GET {path}"
        );
    }
    let set = h
        .post("/admin/mode", None, json!({"decline_all": true}))
        .await;
    assert_eq!(set.status, StatusCode::NOT_FOUND);
    // With the flag, the same gateway state shows them.
    let gateway = Gateway::in_memory();
    let h = spawn_with(gateway, Access::new(SECRET_KEY).with_admin_routes()).await;
    assert_eq!(h.get("/v1/ledger").await.status, StatusCode::OK);
    assert_eq!(h.get("/admin/mode").await.status, StatusCode::OK);
}
