//! Server-rendered pages and server functions (what a browser without JavaScript gets).

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{NewCoupon, TestApp};

#[sqlx::test(migrations = "../migrations")]
async fn catalogue_is_rendered_on_the_server_with_won_prices_and_sold_out_badges(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Morning Coffee").await;
    NewCoupon::named("Cafe Latte").create(&app, &owner).await;
    NewCoupon::named("Cake Set")
        .stock(0)
        .create(&app, &owner)
        .await;

    let html = app
        .client
        .get(app.url("/"))
        .header("accept-language", "en-US")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Cafe Latte") && html.contains("15,000원"),
        "{html}"
    );
    assert!(html.contains("data-testid=\"badge-sold-out\""));
    assert!(html.contains("Sold out"));

    let html = app
        .client
        .get(app.url("/?q=latte"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Cafe Latte") && !html.contains("Cake Set"));
}

#[sqlx::test(migrations = "../migrations")]
async fn language_follows_accept_language_then_the_switch(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let html = app
        .client
        .get(app.url("/login"))
        .header("accept-language", "ko-KR,ko;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("로그인"), "Korean from Accept-Language");
    let html = app
        .client
        .get(app.url("/login"))
        .header("accept-language", "en-US")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Log in") && !html.contains("로그인"));

    let res = app
        .browser()
        .get(app.url("/lang/ko"))
        .header("referer", app.url("/signup"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/signup");
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("i18n_pref_locale=ko"));
    let html = app
        .client
        .get(app.url("/login"))
        .header("accept-language", "en-US")
        .header("cookie", "i18n_pref_locale=ko")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("로그인"),
        "the stored choice wins over Accept-Language"
    );

    let res = app
        .browser()
        .get(app.url("/lang/ko"))
        .header("referer", "https://evil.example/x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "/");
    assert_eq!(
        app.client
            .get(app.url("/lang/fr"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

/// The guard runs inside server functions too: a signed-in customer calling the owner's
/// functions directly is refused, and gets no data.
#[sqlx::test(migrations = "../migrations")]
async fn server_functions_check_the_role(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    NewCoupon::named("Secret stock").create(&app, &owner).await;
    app.customer("c@example.com").await;

    let browser = app.browser();
    app.log_in(&browser, "c@example.com").send().await;
    let res = browser
        .post(app.url("/sfn/owner/coupons"))
        .send()
        .await
        .unwrap();
    assert!(!res.status().is_success());
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Forbidden") && !body.contains("Secret stock"),
        "{body}"
    );

    let form = [
        ("name", "x"),
        ("description", ""),
        ("price", "1000"),
        ("stock", "1"),
        ("sale_starts_at", ""),
        ("sale_ends_at", ""),
        ("valid_until", ""),
        ("per_customer_limit", ""),
    ];
    let res = browser
        .post(app.url("/sfn/owner/coupons/create"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("Forbidden"));
    let res = app
        .client
        .post(app.url("/sfn/owner/coupons/create"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("Unauthorized"));
    let n: i64 = sqlx::query_scalar("select count(*) from coupons")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

/// A form posted without JavaScript: validation errors come back to the form page
/// (in the URL, which the page renders), success redirects to the list.
#[sqlx::test(migrations = "../migrations")]
async fn coupon_form_works_without_javascript(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.owner("o@example.com", "Shop").await;
    let browser = app.browser();
    app.log_in(&browser, "o@example.com").send().await;

    let post = |price: &'static str| {
        let form = vec![
            ("name", "Bingsu"),
            ("description", "Shaved ice"),
            ("price", price),
            ("stock", "5"),
            ("sale_starts_at", ""),
            ("sale_ends_at", ""),
            ("valid_until", ""),
            ("per_customer_limit", ""),
        ];
        browser
            .post(app.url("/sfn/owner/coupons/create"))
            .header("accept", "text/html")
            .header("referer", app.url("/owner/coupons/new"))
            .form(&form)
            .send()
    };
    let res = post("zero").await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        back.contains("/owner/coupons/new") && back.contains("__err="),
        "{back}"
    );
    let html = browser
        .get(&back)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("data-testid=\"error-price\""),
        "the field error is rendered server-side"
    );

    let res = post("12,000").await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/owner/coupons");
    let html = browser
        .get(app.url("/owner/coupons"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Bingsu") && html.contains("12,000원"));
}

/// A failed log-in without JavaScript comes back to the log-in page with its message.
#[sqlx::test(migrations = "../migrations")]
async fn failed_login_without_javascript_shows_the_error(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .log_in(&app.browser(), "x@example.com")
        .password("wrong password")
        .without_javascript()
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = res.headers()["location"].to_str().unwrap().to_string();
    let html = app
        .client
        .get(&back)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("data-testid=\"form-error\"") && html.contains("Wrong e-mail or password."),
        "{html}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn health_readiness_and_protective_headers(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let page = app.get("/", None).await;
    assert!(page.headers().contains_key("referrer-policy"));

    // Draining (shutdown) and an unapplied migration both make the app unready.
    let readiness = server::health::Readiness::new(pool.clone(), None);
    assert!(readiness.check().await.is_ok());
    readiness.start_draining();
    assert_eq!(readiness.check().await, Err("shutting down"));
    // A payment worker that stopped looping.
    let hb = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let stale = server::health::Readiness::new(pool.clone(), Some(hb.clone()));
    assert_eq!(stale.check().await, Err("payment worker not running"));
    hb.store(
        chrono::Utc::now().timestamp(),
        std::sync::atomic::Ordering::Relaxed,
    );
    assert!(stale.check().await.is_ok());
    sqlx::query(
        "delete from _sqlx_migrations where version = (select max(version) from _sqlx_migrations)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["reason"], "migrations not applied");

    // Bodies over 1 MiB are refused before they are read.
    let big = "x".repeat(2 << 20);
    let res = app
        .client
        .post(app.url("/api/v1/auth/signup"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// Pages rendered at the same time, on one thread (this test's runtime), each complete with
/// its title. leptos_meta reads a page's title after rendering, when another page's
/// reactive arena may be the current one; a title read from a signal then panicked the
/// worker and dropped the connection (a few pages in a thousand under `wrk -c64`).
#[sqlx::test(migrations = "../migrations")]
async fn pages_rendered_concurrently_each_get_their_title(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Morning Coffee").await;
    NewCoupon::named("Cafe Latte").create(&app, &owner).await;
    for round in 0..4 {
        let pages = (0..16).map(|i| {
            let (client, url) = (app.client.clone(), app.url("/"));
            let language = if i % 2 == 0 { "en-US" } else { "ko-KR" };
            async move {
                let res = client
                    .get(url)
                    .header("accept-language", language)
                    .send()
                    .await
                    .map_err(|e| format!("round {round}, page {i}: {e}"))?;
                let status = res.status();
                let html = res
                    .text()
                    .await
                    .map_err(|e| format!("round {round}, page {i}: {e}"))?;
                let title = if language == "en-US" {
                    "Coupan</title>"
                } else {
                    "쿠판</title>"
                };
                if status == StatusCode::OK && html.contains(title) {
                    Ok(())
                } else {
                    Err(format!("round {round}, page {i}: {status}, no {title:?}"))
                }
            }
        });
        let failed: Vec<String> = futures::future::join_all(pages)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
        assert!(failed.is_empty(), "{failed:?}");
    }
}
