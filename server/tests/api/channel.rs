//! The payment channel (issue 14 §1): the worker identifies itself with the secret key,
//! speaks TLS, percent-encodes what it puts in a path, and believes an answer only when it
//! is about the order, the amount and the payment it asked for. A small fake gateway
//! (below) records what it is sent and can lie; the real stand-in (paygate) checks the key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::payment::GatewaySettings;
use sqlx::PgPool;

use crate::helpers::{
    NewCoupon, PAYMENT_KEY, TestApp, TestGateway, settle, test_worker, test_worker_with,
};

/// What the fake gateway answers to a confirm.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    Honest,
    /// The order, one won more than asked.
    WrongAmount,
    /// Another order's payment.
    WrongOrder,
}

/// One request the fake gateway got.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    /// As sent, percent-encoding included.
    raw_path: String,
    authorization: Option<String>,
    /// The payment key of a cancel, decoded from its path segment.
    payment_key: Option<String>,
}

struct FakeState {
    answer: Mutex<Answer>,
    /// The key of every payment it makes.
    payment_key: String,
    seen: Mutex<Vec<Seen>>,
    /// payment key -> (order id, amount) of what it charged.
    charged: Mutex<HashMap<String, (String, i64)>>,
}

/// A gateway of the tests' own making on a real port.
struct FakeGateway {
    state: Arc<FakeState>,
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeGateway {
    async fn start(payment_key: &str) -> FakeGateway {
        let state = Arc::new(FakeState {
            answer: Mutex::new(Answer::Honest),
            payment_key: payment_key.to_string(),
            seen: Mutex::new(Vec::new()),
            charged: Mutex::new(HashMap::new()),
        });
        let router = axum::Router::new()
            .route("/v1/payments/confirm", post(fake_confirm))
            .route("/v1/payments/{payment_key}/cancel", post(fake_cancel))
            .route("/v1/payments/orders/{order_id}", get(fake_lookup))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        FakeGateway { state, url, task }
    }

    fn answer(&self, answer: Answer) {
        *self.state.answer.lock().unwrap() = answer;
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

fn record(state: &FakeState, method: &str, uri: &Uri, headers: &HeaderMap, key: Option<String>) {
    state.seen.lock().unwrap().push(Seen {
        method: method.into(),
        raw_path: uri.path().to_string(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        payment_key: key,
    });
}

fn payment(key: &str, order: &str, amount: i64, status: &str) -> Value {
    json!({"paymentKey": key, "orderId": order, "status": status, "totalAmount": amount,
           "balanceAmount": if status == "DONE" { amount } else { 0 },
           "approvedAt": "2026-12-01T00:00:00Z", "canceledAt": null})
}

async fn fake_confirm(
    State(state): State<Arc<FakeState>>,
    uri: Uri,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> impl IntoResponse {
    record(&state, "POST", &uri, &headers, None);
    let order = body["orderId"].as_str().unwrap_or_default().to_string();
    let amount = body["amount"].as_i64().unwrap_or_default();
    let answer = *state.answer.lock().unwrap();
    let body = match answer {
        Answer::Honest => {
            state
                .charged
                .lock()
                .unwrap()
                .insert(state.payment_key.clone(), (order.clone(), amount));
            payment(&state.payment_key, &order, amount, "DONE")
        }
        Answer::WrongAmount => payment(&state.payment_key, &order, amount + 1, "DONE"),
        Answer::WrongOrder => payment(
            &state.payment_key,
            &uuid::Uuid::new_v4().to_string(),
            amount,
            "DONE",
        ),
    };
    axum::Json(body)
}

async fn fake_cancel(
    State(state): State<Arc<FakeState>>,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> axum::response::Response {
    record(&state, "POST", &uri, &headers, Some(key.clone()));
    match state.charged.lock().unwrap().get(&key) {
        Some((order, amount)) => {
            axum::Json(payment(&key, order, *amount, "CANCELED")).into_response()
        }
        None => (
            AxumStatus::NOT_FOUND,
            axum::Json(json!({"code": "NOT_FOUND_PAYMENT", "message": "no such payment"})),
        )
            .into_response(),
    }
}

async fn fake_lookup(
    State(state): State<Arc<FakeState>>,
    uri: Uri,
    headers: HeaderMap,
) -> impl IntoResponse {
    record(&state, "GET", &uri, &headers, None);
    (
        AxumStatus::NOT_FOUND,
        axum::Json(json!({"code": "NOT_FOUND_PAYMENT", "message": "no such payment"})),
    )
}

/// A customer's order of one coupon (15,000 won) through the API.
async fn one_order(app: &TestApp) -> (String, String) {
    let coupon = NewCoupon::named("Channel")
        .create_in_new_shop(app, "Channel Shop")
        .await
        .id;
    let token = app.customer("c@example.com").await;
    let res = app.buy(&token, &coupon, 1, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let order = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    (order, token)
}

/// The order's payment job: (attempts, last error), or `None` once it is done.
async fn job(app: &TestApp, order: &str) -> Option<(i32, Option<String>)> {
    let id = uuid::Uuid::parse_str(order).unwrap();
    sqlx::query_as("select attempts, last_error from payment_jobs where order_id = $1")
        .bind(id)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

/// Runs the worker's turns for about `ms` milliseconds (waiting out backoffs and the
/// breaker), for orders that are not meant to settle.
async fn turns(worker: &server::payment::Worker, ms: u64) {
    let deadline = std::time::Instant::now() + Duration::from_millis(ms);
    while std::time::Instant::now() < deadline {
        worker.drain().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every call carries `Authorization: Basic base64(secret_key + ":")`; a payment key with
/// `/`, `?`, `%`, `#` and a space reaches the gateway as one path segment and comes back
/// decoded, so the refund is of that payment.
#[sqlx::test(migrations = "../migrations")]
async fn the_worker_sends_the_key_and_refunds_by_a_percent_encoded_payment_key(pool: PgPool) {
    let odd_key = "pay/a?b%c#d e";
    let fake = FakeGateway::start(odd_key).await;
    let app = TestApp::spawn(pool.clone()).await;
    let worker = test_worker(&app.app_pool, &fake.url);
    let (order, token) = one_order(&app).await;
    settle(&worker, &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("paid".into(), "completed".into())
    );
    let stored: Option<String> = sqlx::query_scalar("select payment_key from orders where id = $1")
        .bind(uuid::Uuid::parse_str(&order).unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(odd_key));

    let res = app.cancel(&order, &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    settle(&worker, &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("cancelled".into(), "refunded".into())
    );

    let seen = fake.seen();
    let expected_auth = paygate::basic_authorization(PAYMENT_KEY);
    assert!(seen.len() >= 2, "{seen:?}");
    for s in &seen {
        assert_eq!(
            s.authorization.as_deref(),
            Some(expected_auth.as_str()),
            "{s:?}"
        );
    }
    let cancel = seen
        .iter()
        .find(|s| s.raw_path.ends_with("/cancel"))
        .unwrap_or_else(|| panic!("no cancel among {seen:?}"));
    assert_eq!(cancel.method, "POST");
    assert_eq!(
        cancel.raw_path,
        "/v1/payments/pay%2Fa%3Fb%25c%23d%20e/cancel"
    );
    assert_eq!(cancel.payment_key.as_deref(), Some(odd_key));
}

/// An answer about another amount or another order is a failed call: logged, retried with
/// backoff, never a paid order; once the gateway answers about the order it is paid.
#[sqlx::test(migrations = "../migrations")]
async fn an_answer_about_another_amount_or_order_is_not_a_payment(pool: PgPool) {
    let fake = FakeGateway::start("pay_fake_1").await;
    let app = TestApp::spawn(pool.clone()).await;
    let worker = test_worker(&app.app_pool, &fake.url);
    let (order, _) = one_order(&app).await;

    for lie in [Answer::WrongAmount, Answer::WrongOrder] {
        fake.answer(lie);
        let before = job(&app, &order).await.expect("queued").0;
        turns(&worker, 400).await;
        assert_eq!(
            app.order_status(&order).await,
            ("ordered".into(), "pending".into()),
            "{lie:?}"
        );
        let (attempts, error) = job(&app, &order).await.expect("still queued");
        assert!(
            attempts > before,
            "{lie:?}: retried ({before} -> {attempts})"
        );
        let error = error.unwrap_or_default();
        assert!(error.contains("does not match"), "{lie:?}: {error}");
        let vouchers: i64 = sqlx::query_scalar("select count(*) from vouchers")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(vouchers, 0, "{lie:?}");
    }
    assert!(
        fake.seen().len() >= 3,
        "the worker kept asking: {:?}",
        fake.seen()
    );

    fake.answer(Answer::Honest);
    settle(&worker, &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("paid".into(), "completed".into())
    );
}

/// The stand-in gateway refuses a wrong secret key (401); that is our configuration, not
/// the customer's card: the order stays pending (retried), never `payment_failed`, and
/// nothing is charged. With the right key it is paid.
#[sqlx::test(migrations = "../migrations")]
async fn a_refused_secret_key_leaves_the_order_pending(pool: PgPool) {
    let gw = TestGateway::start().await;
    let app = TestApp::spawn(pool.clone()).await;
    let (order, _) = one_order(&app).await;
    let wrong = test_worker_with(
        &app.app_pool,
        GatewaySettings {
            url: gw.url(),
            secret_key: "test_sk_not_the_gateways_key".into(),
            timeout: Duration::from_secs(3),
            allow_http: true,
        },
    );
    turns(&wrong, 300).await;
    assert_eq!(
        app.order_status(&order).await,
        ("ordered".into(), "pending".into())
    );
    let (attempts, error) = job(&app, &order).await.expect("still queued");
    assert!(attempts >= 1);
    assert!(
        error.as_deref().unwrap_or_default().contains("credentials"),
        "{error:?}"
    );
    assert!(gw.counts().await.is_empty(), "nothing charged");

    settle(&test_worker(&app.app_pool, &gw.url()), &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("paid".into(), "completed".into())
    );
    assert_eq!(gw.counts().await[&order], (1, 0));
}

/// An `https://` gateway is called over TLS (rustls): the first bytes on the wire are a
/// TLS handshake record. (Before, the client had no TLS at all and every call failed
/// without connecting.) The handshake fails here (no TLS server), so the order waits.
#[sqlx::test(migrations = "../migrations")]
async fn an_https_gateway_is_called_over_tls(pool: PgPool) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (first_bytes, got) = tokio::sync::oneshot::channel::<Vec<u8>>();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = [0u8; 5];
        socket.read_exact(&mut head).await.unwrap();
        let _ = first_bytes.send(head.to_vec());
    });
    let app = TestApp::spawn(pool.clone()).await;
    let (order, _) = one_order(&app).await;
    let worker = test_worker_with(
        &app.app_pool,
        GatewaySettings {
            url: format!("https://127.0.0.1:{port}"),
            secret_key: PAYMENT_KEY.into(),
            timeout: Duration::from_secs(2),
            allow_http: false,
        },
    );
    worker.run_once().await.unwrap();
    let head = tokio::time::timeout(Duration::from_secs(5), got)
        .await
        .expect("the worker connected")
        .expect("the first bytes");
    // A TLS record: content type 22 (handshake), version 3.x.
    assert_eq!((head[0], head[1]), (0x16, 0x03), "{head:?}");
    assert_eq!(
        app.order_status(&order).await,
        ("ordered".into(), "pending".into())
    );
}

/// The build links rustls, never OpenSSL or native-tls (the image has no libssl to load,
/// and one TLS stack is enough to keep patched).
#[test]
fn tls_is_rustls_only() {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
    let names: Vec<&str> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|n| n.trim_end_matches('"'))
        .collect();
    for banned in [
        "openssl",
        "openssl-sys",
        "native-tls",
        "hyper-tls",
        "tokio-native-tls",
    ] {
        assert!(!names.contains(&banned), "{banned} is in Cargo.lock");
    }
    for needed in ["rustls", "hyper-rustls", "webpki-roots"] {
        assert!(names.contains(&needed), "{needed} is not in Cargo.lock");
    }
}
