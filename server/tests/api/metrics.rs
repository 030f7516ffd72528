//! `GET /metrics` on the metrics listener (`COUPAN_METRICS_ADDR`, its own port): the
//! Prometheus text, parsed. The recorder is global to the test binary and other tests run
//! at the same time, so counters are compared before and after, never as absolute values.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{NewCoupon, TestApp, TestGateway, quick_customers, settle, test_worker};

/// One sample line: name, labels, value.
#[derive(Debug)]
pub(crate) struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the exposition format (the label values used here contain no escaped quotes).
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("series and value");
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let rest = rest.strip_suffix('}').expect("closing brace");
                    let labels = rest
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").expect("label pair");
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            Sample {
                name,
                labels,
                value,
            }
        })
        .collect()
}

/// The value of the series `name` with exactly these labels.
pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map(|s| s.value)
}

pub(crate) async fn scrape(app: &TestApp) -> (String, Vec<Sample>) {
    let res = app
        .client
        .get(format!("{}/metrics", app.metrics_base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = res.text().await.unwrap();
    let samples = parse(&text);
    (text, samples)
}

fn http(method: &str, route: &str, status: &str) -> Vec<(&'static str, String)> {
    vec![
        ("method", method.to_string()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ]
}

fn count(samples: &[Sample], labels: &[(&'static str, String)]) -> f64 {
    let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    value(samples, "coupan_http_requests_total", &l).unwrap_or(0.0)
}

#[sqlx::test(migrations = "../migrations")]
async fn requests_are_counted_by_route_pattern_and_status(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (_, before) = scrape(&app).await;

    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/coupons", None).await.status(), 200);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let res = app
        .post(&format!("/api/v1/orders/{id}/cancel"), json!({}), None)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let missing = app.get(&format!("/no/such/page/{id}"), None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let file = app.get("/pkg/no-such-file.wasm", None).await;
    assert_eq!(file.status(), StatusCode::NOT_FOUND);

    let (text, after) = scrape(&app).await;
    let coupons = http("GET", "/api/v1/coupons", "200");
    assert!(
        count(&after, &coupons) - count(&before, &coupons) >= 3.0,
        "three catalogue requests counted:\n{text}"
    );
    let cancel = http("POST", "/api/v1/orders/{id}/cancel", "401");
    assert!(
        count(&after, &cancel) - count(&before, &cancel) >= 1.0,
        "{text}"
    );
    let other = http("GET", "other", "404");
    assert!(
        count(&after, &other) - count(&before, &other) >= 1.0,
        "{text}"
    );
    let stat = http("GET", "static", "404");
    assert!(
        count(&after, &stat) - count(&before, &stat) >= 1.0,
        "{text}"
    );
    assert!(
        !text.contains(&id),
        "raw paths with ids never become labels:\n{text}"
    );

    // The latency histogram: buckets, +Inf, sum and count for the route.
    let bucket = |s: &[Sample], le: &str| {
        value(
            s,
            "coupan_http_request_duration_seconds_bucket",
            &[
                ("method", "GET"),
                ("route", "/api/v1/coupons"),
                ("status", "200"),
                ("le", le),
            ],
        )
    };
    for le in ["0.001", "0.005", "0.1", "1", "10"] {
        assert!(bucket(&after, le).is_some(), "bucket le={le}:\n{text}");
    }
    let inf_delta = bucket(&after, "+Inf").unwrap() - bucket(&before, "+Inf").unwrap_or(0.0);
    assert!(inf_delta >= 3.0, "{text}");
    assert!(
        bucket(&after, "0.001").unwrap() <= bucket(&after, "10").unwrap(),
        "buckets are cumulative"
    );
    let labels = [
        ("method", "GET"),
        ("route", "/api/v1/coupons"),
        ("status", "200"),
    ];
    let n = value(
        &after,
        "coupan_http_request_duration_seconds_count",
        &labels,
    )
    .unwrap();
    let sum = value(&after, "coupan_http_request_duration_seconds_sum", &labels).unwrap();
    assert_eq!(n, bucket(&after, "+Inf").unwrap());
    assert!(
        sum > 0.0 && sum < n * 30.0,
        "plausible total seconds: {sum}"
    );
    assert!(text.contains("# TYPE coupan_http_request_duration_seconds histogram"));
}

#[sqlx::test(migrations = "../migrations")]
async fn queue_saga_lag_pool_purchases_and_breaker(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (text, empty) = scrape(&app).await;
    for name in [
        "coupan_purchases_total",
        "coupan_payment_breaker_state",
        "coupan_payment_queue_depth",
        "coupan_payment_saga_lag_seconds",
        "coupan_db_pool_max_connections",
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} is described:\n{text}"
        );
    }
    assert!(
        value(&empty, "coupan_purchases_total", &[("outcome", "created")]).is_some(),
        "shows before the first sale:\n{text}"
    );
    let breaker = value(&empty, "coupan_payment_breaker_state", &[]).unwrap();
    assert!([0.0, 1.0, 2.0].contains(&breaker), "{breaker}");
    assert_eq!(value(&empty, "coupan_payment_queue_depth", &[]), Some(0.0));
    assert_eq!(
        value(&empty, "coupan_payment_saga_lag_seconds", &[]),
        Some(0.0)
    );
    let max = value(&empty, "coupan_db_pool_max_connections", &[]).unwrap();
    let open = value(&empty, "coupan_db_pool_connections", &[("state", "open")]).unwrap();
    let idle = value(&empty, "coupan_db_pool_connections", &[("state", "idle")]).unwrap();
    let in_use = value(&empty, "coupan_db_pool_connections", &[("state", "in_use")]).unwrap();
    assert!(max >= 1.0 && open >= 1.0 && open <= max, "{text}");
    assert_eq!(in_use, open - idle);

    // Two purchases, no worker running: two jobs wait.
    let owner = app.owner("o@example.com", "Metrics Shop").await;
    let coupon = NewCoupon::named("Metered").create(&app, &owner).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for token in quick_customers(&pool, 2).await {
        let res = app.buy(&token, &coupon, 1, None).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    sqlx::query("update payment_jobs set created_at = now() - interval '42 seconds'")
        .execute(&pool)
        .await
        .unwrap();
    let (text, queued) = scrape(&app).await;
    assert_eq!(
        value(&queued, "coupan_payment_queue_depth", &[]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(value(&queued, "coupan_payment_queue_due", &[]), Some(2.0));
    let lag = value(&queued, "coupan_payment_saga_lag_seconds", &[]).unwrap();
    assert!((42.0..60.0).contains(&lag), "lag {lag}");

    // The worker pays them: its turns are counted and the queue is empty again.
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let paid =
        |s: &[Sample]| value(s, "coupan_payment_jobs_total", &[("outcome", "paid")]).unwrap_or(0.0);
    settle(&worker, &pool, 10).await;
    let (text, drained) = scrape(&app).await;
    assert!(paid(&drained) - paid(&queued) >= 2.0, "{text}");
    assert_eq!(
        value(&drained, "coupan_payment_queue_depth", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(&drained, "coupan_payment_saga_lag_seconds", &[]),
        Some(0.0)
    );
}

/// The app's own port does not serve the metrics (only the Ingress hid them before):
/// `/metrics` there is an unknown page, and the metrics listener serves nothing else.
#[sqlx::test(migrations = "../migrations")]
async fn metrics_are_not_served_on_the_app_port(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for path in ["/metrics", "/metrics/"] {
        let res = app.get(path, None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let body = res.text().await.unwrap();
        assert!(!body.contains("coupan_http_requests_total"), "{body}");
    }
    assert_ne!(app.base, app.metrics_base);
    let (text, _) = scrape(&app).await;
    assert!(
        text.contains("# TYPE coupan_http_requests_total counter"),
        "{text}"
    );
    for path in ["/", "/healthz", "/api/v1/coupons"] {
        let res = app
            .client
            .get(format!("{}{path}", app.metrics_base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "metrics port {path}");
    }
}
