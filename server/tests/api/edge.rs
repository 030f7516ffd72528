//! The edge: rate limits per client IP and per customer, the client address behind
//! trusted proxies, and the content security policy.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp, expect_error, test_config};

/// The app with `auth_per_min` requests per client IP per minute, trusting `proxies`.
async fn limited_app(pool: PgPool, auth_per_min: u32, proxies: &str) -> TestApp {
    let mut config = test_config();
    config.limits.auth_per_min = auth_per_min;
    config.limits.trusted_proxies = app::limits::TrustedProxies::parse(proxies).unwrap();
    TestApp::spawn_with(pool, config).await
}

async fn token_from(app: &TestApp, email: &str, forwarded_for: Option<&str>) -> Response {
    let mut req = app.token_request(email, PASSWORD);
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    req.send().await.unwrap()
}

async fn expect_limited(res: Response) {
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .expect("a 429 carries Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // 3 per minute: one comes back every 20 s.
    assert!(
        (1..=20).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    let body = expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&retry_after.to_string()),
        "{body}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn logins_are_limited_per_client_ip_behind_a_trusted_proxy(pool: PgPool) {
    let app = limited_app(pool, 3, "127.0.0.1").await;
    // The sign-up comes from its own address (it counts too).
    let res = app
        .client
        .post(app.url("/api/v1/auth/signup"))
        .header("x-forwarded-for", "198.51.100.50")
        .json(&json!({ "email": "ip@example.com", "password": PASSWORD, "name": "Ip", "role": "customer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    for _ in 0..3 {
        let res = token_from(&app, "ip@example.com", Some("203.0.113.7")).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    expect_limited(token_from(&app, "ip@example.com", Some("203.0.113.7")).await).await;
    // A forged entry on the left does not give the same client a fresh budget: the proxy
    // appended the real address on the right.
    expect_limited(token_from(&app, "ip@example.com", Some("10.9.9.9, 203.0.113.7")).await).await;

    // Other clients behind the same proxy are not affected, nor is the proxy itself.
    let res = token_from(&app, "ip@example.com", Some("203.0.113.8")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = token_from(&app, "ip@example.com", None).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Sign-up from the limited client is refused before any work is done.
    let res = app
        .client
        .post(app.url("/api/v1/auth/signup"))
        .header("x-forwarded-for", "203.0.113.7")
        .json(&json!({ "email": "new@example.com", "password": PASSWORD, "name": "New", "role": "customer" }))
        .send()
        .await
        .unwrap();
    expect_limited(res).await;
    let made: i64 =
        sqlx::query_scalar("select count(*) from users where email = 'new@example.com'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(made, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn forwarded_for_from_an_untrusted_peer_is_ignored(pool: PgPool) {
    let app = limited_app(pool, 3, "").await;
    assert_eq!(
        app.signup("u@example.com", "customer", None).await.status(),
        StatusCode::CREATED
    );
    // Each request claims another address; the peer (127.0.0.1) is what counts.
    for ip in ["203.0.113.1", "203.0.113.2"] {
        let res = token_from(&app, "u@example.com", Some(ip)).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    expect_limited(token_from(&app, "u@example.com", Some("203.0.113.3")).await).await;
    // Wrong passwords are limited the same way (before the per-e-mail throttle, which
    // needs five failures).
    let res = app
        .token_request("other@example.com", "wrong password!")
        .send()
        .await
        .unwrap();
    expect_limited(res).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn login_and_signup_server_functions_are_limited(pool: PgPool) {
    let app = limited_app(pool, 3, "").await;
    assert_eq!(
        app.signup("f@example.com", "customer", None).await.status(),
        StatusCode::CREATED
    );
    // A plain form post (no JavaScript) keeps its redirect back to the form.
    let res = app
        .log_in(&app.browser(), "f@example.com")
        .without_javascript()
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/");
    // The hydrated form (fetch): third request of the minute still passes.
    let res = app.log_in(&app.browser(), "f@example.com").send().await;
    assert!(res.status().is_success() || res.status().is_redirection());

    // Then both server functions answer the limit with 429 + Retry-After, and the body is
    // the error the form shows.
    for (path, request) in [
        (
            "/sfn/auth/login",
            app.log_in(&app.browser(), "f@example.com").request(),
        ),
        (
            "/sfn/auth/signup",
            app.browser().post(app.url("/sfn/auth/signup")).form(&[
                ("email", "g@example.com"),
                ("password", PASSWORD),
                ("name", "G"),
                ("role", "customer"),
            ]),
        ),
    ] {
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        let retry_after: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=20).contains(&retry_after));
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["TooManyRequests"]["retry_after_secs"], retry_after,
            "{path}: {body}"
        );
    }
}

/// The limit the purchase path calls (`Limits::purchase`), per customer.
#[test]
fn purchases_are_limited_per_customer() {
    let mut settings = test_config().limits;
    settings.purchase_per_min = 2;
    let limits = app::limits::Limits::new(&settings);
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    limits.purchase(a).unwrap();
    limits.purchase(a).unwrap();
    let refused = limits.purchase(a).unwrap_err();
    assert_eq!(refused.status(), 429);
    assert!(matches!(
        refused,
        app::error::AppError::TooManyRequests { retry_after_secs } if (1..=30).contains(&retry_after_secs)
    ));
    limits.purchase(b).unwrap();
}

/// The nonce named by a page's `script-src`.
fn policy_nonce(policy: &str) -> String {
    let script_src = policy
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src "))
        .unwrap_or_else(|| panic!("no script-src in {policy}"));
    assert!(!script_src.contains("unsafe-inline"), "{policy}");
    assert!(script_src.contains("'wasm-unsafe-eval'"), "{policy}");
    script_src
        .split_whitespace()
        .find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no nonce in {policy}"))
        .to_string()
}

#[sqlx::test(migrations = "../migrations")]
async fn pages_send_a_nonce_policy_and_every_script_carries_the_nonce(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("csp@example.com", "CSP Cafe").await;
    let coupon = crate::helpers::NewCoupon::named("Latte")
        .create(&app, &owner)
        .await;
    let detail = format!("/coupons/{}", coupon["id"].as_str().unwrap());
    let mut nonces = std::collections::HashSet::new();
    for path in ["/", "/login", "/signup", detail.as_str(), "/no-such-page"] {
        let res = app.get(path, None).await;
        let policy = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        for directive in [
            "default-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(
                policy.contains(directive),
                "{path}: {directive} missing in {policy}"
            );
        }
        let nonce = policy_nonce(&policy);
        assert!(nonce.len() >= 16, "{nonce}");
        let html = res.text().await.unwrap();
        // (attributes, body) of each <script>.
        let scripts: Vec<(&str, &str)> = html
            .split("<script")
            .skip(1)
            .map(|rest| {
                let (attrs, after) = rest.split_once('>').unwrap();
                (attrs, &after[..after.find("</script>").unwrap()])
            })
            .collect();
        // The hydration script at least, plus the serialized resources.
        assert!(
            scripts.iter().any(|(a, _)| a.contains("type=\"module\"")),
            "{path}: no hydration script"
        );
        for (attrs, body) in &scripts {
            // leptos_i18n leaves an empty <script></script> as a placeholder: with no
            // source text a browser neither runs it nor checks it against the policy.
            if body.is_empty() && !attrs.contains("src=") {
                continue;
            }
            assert!(
                attrs.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: <script{attrs}> lacks the nonce {nonce}"
            );
        }
        // Inline styles would be blocked by style-src 'self'.
        assert!(!html.contains("<style"), "{path}: inline <style>");
        assert!(
            !html.contains(" style=\""),
            "{path}: inline style attribute"
        );
        assert!(nonces.insert(nonce), "{path}: a nonce was used twice");
    }

    // JSON: nothing to load, never framed.
    let res = app.get("/api/v1/coupons", None).await;
    assert_eq!(
        res.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
}
