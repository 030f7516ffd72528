//! Structured logs: the JSON lines of real requests carry the request id and, once known,
//! the caller's user id; no password, token, cookie or secret ever shows.
//!
//! The subscriber is the server's own JSON one (`telemetry::json_builder`), set as the
//! default of this test's thread; `#[sqlx::test]` runs on a current-thread runtime, so the
//! spawned server logs into it too (other tests run on other threads).

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use tracing_subscriber::EnvFilter;

use crate::helpers::{JWT_SECRET, NewCoupon, PASSWORD, TestApp};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect()
    }
}

/// The server's JSON subscriber writing into `buffer`, as this thread's default while the
/// returned guard lives.
///
/// tracing caches per call site whether anyone listens. While only one dispatcher exists
/// (this test's), tracing-core works that out with the default of whichever thread reaches
/// the call site first (`Dispatchers::has_just_one`): reached first on another test's
/// thread, where no one listens, a call site would be cached as "never" for this test too,
/// and its lines lost (CI saw that once). A second, silent dispatcher alive as long as the
/// capture makes tracing ask every live dispatcher instead. A call site registering on
/// another thread just as the subscriber is set can still store an answer computed without
/// it; asking again once the subscriber is in place (after a first await) fixes that.
async fn capture(buffer: &Buffer, filter: &str) -> Capture {
    let capture = capture_now(buffer, filter);
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    tracing::callsite::rebuild_interest_cache();
    capture
}

fn capture_now(buffer: &Buffer, filter: &str) -> Capture {
    let silent = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let writer = buffer.clone();
    let subscriber =
        server::telemetry::json_builder(EnvFilter::new(filter), move || writer.clone()).finish();
    Capture {
        _default: tracing::subscriber::set_default(subscriber),
        _silent: silent,
    }
}

struct Capture {
    _default: tracing::subscriber::DefaultGuard,
    _silent: tracing::Dispatch,
}

fn probe(n: u32) {
    tracing::info!(n, "probe");
}

/// The failure mode `capture` guards against, made deterministic: a call site reached
/// first on another thread (with no subscriber) must still log on the capturing thread.
/// Without the silent dispatcher this fails whenever no other test holds a dispatcher.
#[test]
fn capture_sees_call_sites_first_reached_on_other_threads() {
    let buffer = Buffer::default();
    let _capture = capture_now(&buffer, "info");
    std::thread::spawn(|| probe(1)).join().unwrap();
    probe(2);
    let lines = buffer.lines();
    assert_eq!(lines.len(), 1, "{}", buffer.text());
    assert_eq!(lines[0]["n"], 2, "{}", buffer.text());
}

/// The trace layer's closing line of the request with this id.
fn finished<'a>(lines: &'a [Value], request_id: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["request_id"] == request_id && l["message"] == "finished processing request")
        .unwrap_or_else(|| panic!("no closing line for {request_id}"))
}

#[sqlx::test(migrations = "../migrations")]
async fn request_lines_carry_request_and_user_ids_and_no_secrets(pool: PgPool) {
    let buffer = Buffer::default();
    // Debug for the trace layer: its per-request lines show what it would print.
    let _capture = capture(&buffer, "info,tower_http=debug").await;

    let app = TestApp::spawn(pool).await;
    let signup = app
        .client
        .post(app.url("/api/v1/auth/signup"))
        .header("x-request-id", "logs-signup")
        .json(&json!({ "email": "c@example.com", "password": PASSWORD, "name": "Kim", "role": "customer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), StatusCode::CREATED);
    let user_id = signup.json::<Value>().await.unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();

    let res = app
        .token_request("c@example.com", PASSWORD)
        .header("x-request-id", "logs-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .header("x-request-id", "logs-me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    // Anonymous: no user id.
    let anon = app
        .client
        .get(app.url("/api/v1/coupons"))
        .header("x-request-id", "logs-anon")
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::OK);

    // A browser: log in with the form, then the server-rendered my page (the session user
    // is read inside leptos' rendering, not in an axum extractor).
    let browser = app.browser();
    let login = app
        .log_in(&browser, "c@example.com")
        .header("x-request-id", "logs-login")
        .send()
        .await;
    assert!(login.status().is_redirection() || login.status().is_success());
    let page = browser
        .get(app.url("/mypage"))
        .header("x-request-id", "logs-mypage")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let _ = page.text().await.unwrap();

    let lines = buffer.lines();
    let text = buffer.text();
    assert!(lines.len() >= 10, "{text}");

    for (id, who) in [
        ("logs-signup", Some(&user_id)),
        ("logs-token", Some(&user_id)),
        ("logs-me", Some(&user_id)),
        ("logs-anon", None),
        ("logs-login", Some(&user_id)),
        ("logs-mypage", Some(&user_id)),
    ] {
        let line = finished(&lines, id);
        assert_eq!(line["span"], "request", "{line}");
        assert!(line["status"].is_number(), "{line}");
        match who {
            Some(u) => assert_eq!(line["user_id"], u.as_str(), "{id}: {line}"),
            None => assert!(line.get("user_id").is_none(), "{id}: {line}"),
        }
    }
    // Every line logged inside a request has its id.
    for line in lines.iter().filter(|l| l["span"] == "request") {
        let id = line["request_id"].as_str().unwrap_or("");
        assert!(!id.is_empty(), "{line}");
    }
    // The account creation line itself (an info event of the handler) is tied to both.
    let created = lines
        .iter()
        .find(|l| l["message"] == "account created")
        .expect("the sign-up logs the new account");
    assert_eq!(created["request_id"], "logs-signup");
    assert_eq!(created["user_id"], user_id.as_str());

    for secret in [
        PASSWORD,
        token.as_str(),
        JWT_SECRET,
        "coupan_session=",
        "Bearer ",
    ] {
        assert!(!text.contains(secret), "{secret:?} was logged:\n{text}");
    }
    let lower = text.to_lowercase();
    assert!(!lower.contains("authorization"), "{text}");
    assert!(!lower.contains("cookie"), "{text}");
}

#[sqlx::test(migrations = "../migrations")]
async fn payment_job_lines_carry_the_order_id(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let owner = app.owner("o@example.com", "Log Shop").await;
    let coupon = NewCoupon::named("Logged").create(&app, &owner).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = crate::helpers::quick_customers(&pool, 1).await.remove(0);
    let res = app.buy(&token, &coupon, 1, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let order_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Debug lines too: the HTTP client's among them never show the gateway's secret key.
    let buffer = Buffer::default();
    let _capture = capture(&buffer, "debug").await;
    let gw = crate::helpers::TestGateway::start().await;
    let worker = crate::helpers::test_worker(&app.app_pool, &gw.url());
    crate::helpers::settle(&worker, &pool, 10).await;
    let text = buffer.text();
    let authorization = paygate::basic_authorization(crate::helpers::PAYMENT_KEY);
    for secret in [crate::helpers::PAYMENT_KEY, authorization.as_str()] {
        assert!(!text.contains(secret), "{secret:?} was logged:\n{text}");
    }

    let lines = buffer.lines();
    let done = lines
        .iter()
        .find(|l| l["message"] == "payment completed")
        .unwrap_or_else(|| panic!("no completion line:\n{}", buffer.text()));
    assert_eq!(done["order_id"], order_id.as_str(), "{done}");
    assert_eq!(done["span"], "payment_job");
    for line in lines.iter().filter(|l| l["span"] == "payment_job") {
        assert_eq!(line["order_id"], order_id.as_str(), "{line}");
    }
}

/// A client that leaves while its page is rendering: the page's server functions resume
/// after leptos disposed the page (all context gone). That is logged as a debug line, not
/// as the error "missing from the server function context" (which the benchmark's page
/// runs showed by the dozen when wrk closed its connections).
#[sqlx::test(migrations = "../migrations")]
async fn a_client_leaving_mid_render_is_not_an_error(pool: PgPool) {
    use tokio::io::AsyncWriteExt;

    let buffer = Buffer::default();
    let _capture = capture(&buffer, "info,app::state=debug").await;
    let app = TestApp::spawn(pool).await;
    app.customer("leaver@example.com").await;
    let login = app.log_in(&app.client, "leaver@example.com").send().await;
    let cookie = crate::helpers::session_cookie(&login)
        .expect("the form login sets the session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();

    let addr = app.base.trim_start_matches("http://").to_string();
    let left = || {
        buffer.lines().iter().any(|l| {
            l["message"] == "request ended before its server function finished"
                || l["level"] == "ERROR"
        })
    };
    // Leave after 0-4 ms, before the page's resources are done, until a render was cut
    // short (usually the first attempt).
    let mut attempts = 0;
    while !left() && attempts < 200 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!(
            "GET /mypage HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_micros(attempts % 5 * 1000)).await;
        drop(stream);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        attempts += 1;
    }
    assert!(
        left(),
        "no render was cut short in {attempts} attempts:\n{}",
        buffer.text()
    );
    let lines = buffer.lines();
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert!(errors.is_empty(), "after {attempts} attempts: {errors:?}");
}
