//! Forms as a browser without JavaScript uses them: what was typed comes back after an
//! error (never a password), success says so once, `next` survives log-in and sign-up,
//! money moves only after a confirmation page, my page refreshes itself while a payment is
//! pending, and every page has its own title.

use reqwest::{Client, Response, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{NewCoupon, PASSWORD, TestApp};

/// A plain form post (what a browser without JavaScript sends) from page `from`.
async fn post_form(
    app: &TestApp,
    browser: &Client,
    path: &str,
    from: &str,
    form: &[(&str, &str)],
) -> Response {
    browser
        .post(app.url(path))
        .header("accept", "text/html,application/xhtml+xml")
        .header("referer", app.url(from))
        .form(form)
        .send()
        .await
        .unwrap()
}

fn location(res: &Response) -> String {
    res.headers()["location"].to_str().unwrap().to_string()
}

fn set_cookies(res: &Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// GETs a page (a full URL or a path) in English and returns its status, cookies set, HTML
/// (without leptos' `<!>` markers, which split interpolated texts).
async fn page(app: &TestApp, browser: &Client, url: &str) -> (StatusCode, Vec<String>, String) {
    let url = if url.starts_with("http") {
        url.to_string()
    } else {
        app.url(url)
    };
    let res = browser
        .get(url)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    let (status, cookies) = (res.status(), set_cookies(&res));
    (
        status,
        cookies,
        res.text().await.unwrap().replace("<!>", ""),
    )
}

async fn logged_in(app: &TestApp, email: &str) -> Client {
    let browser = app.browser();
    let res = post_form(
        app,
        &browser,
        "/sfn/auth/login",
        "/login",
        &[("email", email), ("password", PASSWORD), ("next", "")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    browser
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failed_signup_without_javascript_keeps_every_field_but_the_password(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let res = post_form(
        &app,
        &browser,
        "/sfn/auth/signup",
        "/signup",
        &[
            ("role", "owner"),
            ("email", "kim@example.com"),
            ("password", "secret-typed-pw"),
            ("name", "김민수 <b>&\""),
            ("shop_name", ""),
            ("next", ""),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = location(&res);
    assert!(back.contains("__err="), "{back}");
    let kept = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("coupan_form="))
        .expect("the typed fields are kept in a cookie");
    assert!(
        kept.contains("HttpOnly") && kept.contains("Max-Age=60"),
        "{kept}"
    );
    assert!(
        !kept.contains("secret") && !kept.contains("password"),
        "never the password: {kept}"
    );

    let (_, cookies, html) = page(&app, &browser, &back).await;
    assert!(
        html.contains(r#"data-testid="error-shop_name""#),
        "the shop name is required"
    );
    assert!(html.contains(r#"value="kim@example.com""#), "{html}");
    assert!(html.contains("김민수"), "{html}");
    assert!(!html.contains("김민수 <b>"), "the name comes back escaped");
    assert!(
        html.contains(r#"value="owner" data-testid="role-owner" checked"#)
            || html.contains(r#"data-testid="role-owner" checked"#),
        "the role stays as chosen: {html}"
    );
    assert!(!html.contains("secret-typed-pw"));
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("coupan_form=;") && c.contains("Max-Age=0")),
        "shown once: {cookies:?}"
    );
    // A second look (the cookie is gone) shows the error but no longer the values.
    let (_, _, html) = page(&app, &browser, &back).await;
    assert!(!html.contains("kim@example.com"));
}

#[sqlx::test(migrations = "../migrations")]
async fn kept_fields_go_only_to_the_form_that_failed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let res = post_form(
        &app,
        &browser,
        "/sfn/auth/login",
        "/login",
        &[
            ("email", "who@example.com"),
            ("password", "wrong password"),
            ("next", ""),
        ],
    )
    .await;
    let back = location(&res);
    // Not on the sign-up page, not without the error in the URL.
    let (_, _, html) = page(&app, &browser, "/signup").await;
    assert!(!html.contains("who@example.com"));
    let (_, _, html) = page(&app, &browser, "/login").await;
    assert!(!html.contains("who@example.com"));
    let (_, _, html) = page(&app, &browser, &back).await;
    assert!(html.contains(r#"value="who@example.com""#), "{html}");
    assert!(!html.contains("wrong password"));
    // With JavaScript (a fetch, not HTML) nothing is kept: the page never left.
    let res = browser
        .post(app.url("/sfn/auth/login"))
        .form(&[("email", "who@example.com"), ("password", "wrong password")])
        .send()
        .await
        .unwrap();
    assert!(
        set_cookies(&res)
            .iter()
            .all(|c| !c.starts_with("coupan_form="))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_coupon_form_keeps_its_fields_and_takes_prices_as_people_type_them(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.owner("o@example.com", "Shop").await;
    let browser = logged_in(&app, "o@example.com").await;
    let form = |price: &'static str| {
        vec![
            ("name", "빙수 세트"),
            ("description", "Shaved ice, 2 people"),
            ("price", price),
            ("stock", "1,000"),
            ("sale_starts_at", "2026-12-01T10:00"),
            ("sale_ends_at", ""),
            ("valid_until", ""),
            ("per_customer_limit", "2"),
        ]
    };
    let res = post_form(
        &app,
        &browser,
        "/sfn/owner/coupons/create",
        "/owner/coupons/new",
        &form("six thousand"),
    )
    .await;
    let back = location(&res);
    let (_, _, html) = page(&app, &browser, &back).await;
    assert!(html.contains("Digits only"), "says what is allowed: {html}");
    for kept in [
        r#"value="빙수 세트""#,
        r#"value="six thousand""#,
        r#"value="1,000""#,
        r#"value="2026-12-01T10:00""#,
        r#"value="2""#,
        ">Shaved ice, 2 people</textarea>",
    ] {
        assert!(html.contains(kept), "{kept} in {html}");
    }

    let res = post_form(
        &app,
        &browser,
        "/sfn/owner/coupons/create",
        "/owner/coupons/new",
        &form("6,000원"),
    )
    .await;
    assert_eq!(location(&res), "/owner/coupons");
    let flash = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("coupan_flash="))
        .expect("a one-time message");
    assert!(!flash.contains("HttpOnly") && flash.contains("Max-Age=60"));
    let (_, cookies, html) = page(&app, &browser, "/owner/coupons").await;
    assert!(html.contains("6,000원"));
    assert!(
        html.contains(r#"data-testid="flash""#) && html.contains("Coupon “빙수 세트” registered."),
        "{html}"
    );
    assert!(cookies.iter().any(|c| c.starts_with("coupan_flash=;")));
    let (_, _, html) = page(&app, &browser, "/owner/coupons").await;
    assert!(!html.contains(r#"data-testid="flash""#), "shown once");
    let price: i64 = sqlx::query_scalar("select price from coupons")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(price, 6000);
}

#[sqlx::test(migrations = "../migrations")]
async fn next_survives_log_in_and_sign_up_and_stays_on_the_site(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.owner("o@example.com", "Shop").await;
    app.customer("c@example.com").await;
    let login = |email: &'static str, next: &'static str| {
        let app = &app;
        async move {
            let res = post_form(
                app,
                &app.browser(),
                "/sfn/auth/login",
                "/login",
                &[("email", email), ("password", PASSWORD), ("next", next)],
            )
            .await;
            assert_eq!(res.status(), StatusCode::FOUND, "{next:?}");
            location(&res)
        }
    };
    assert_eq!(
        login("c@example.com", "/coupons/abc?x=1").await,
        "/coupons/abc?x=1"
    );
    assert_eq!(login("c@example.com", "").await, "/");
    assert_eq!(
        login("o@example.com", "").await,
        "/owner/dashboard",
        "owners land on their dashboard"
    );
    for evil in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\nSet-Cookie: x=1",
        "/\u{0}",
        "/\u{7f}x",
    ] {
        assert_eq!(login("c@example.com", evil).await, "/", "{evil:?}");
    }

    let browser = app.browser();
    let res = post_form(
        &app,
        &browser,
        "/sfn/auth/signup",
        "/signup?next=/coupons/abc",
        &[
            ("role", "customer"),
            ("email", "new@example.com"),
            ("password", PASSWORD),
            ("name", "New"),
            ("shop_name", ""),
            ("next", "/coupons/abc"),
        ],
    )
    .await;
    assert_eq!(location(&res), "/coupons/abc");

    // The pages carry `next` from one to the other, and the coupon page asks to log in with it.
    let (_, _, html) = page(&app, &app.browser(), "/login?next=%2Fcoupons%2Fabc").await;
    assert!(
        html.contains(r#"name="next" value="/coupons/abc""#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="/signup?next=%2Fcoupons%2Fabc""#),
        "{html}"
    );
    let (_, _, html) = page(&app, &app.browser(), "/login?next=%2F%2Fevil.example").await;
    assert!(!html.contains("evil.example"));
    let owner = app.token("o@example.com").await;
    let coupon = NewCoupon::named("Latte").create(&app, &owner).await;
    let id = coupon["id"].as_str().unwrap();
    let (_, _, html) = page(&app, &app.browser(), &format!("/coupons/{id}")).await;
    assert!(
        html.contains(&format!(r#"href="/login?next=%2Fcoupons%2F{id}""#)),
        "{html}"
    );
}

/// An order bought through the API; its payment stays pending (no payment worker here).
async fn pending_order(app: &TestApp, customer: &str, coupon_id: &str, qty: i64) -> String {
    let res = app.buy(customer, coupon_id, qty, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let order: serde_json::Value = res.json().await.unwrap();
    order["id"].as_str().unwrap().to_string()
}

#[sqlx::test(migrations = "../migrations")]
async fn my_page_refreshes_itself_only_while_a_payment_is_pending(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let coupon = NewCoupon::named("Latte").create(&app, &owner).await;
    let customer = app.customer("c@example.com").await;
    let order = pending_order(&app, &customer, coupon["id"].as_str().unwrap(), 2).await;
    let browser = logged_in(&app, "c@example.com").await;

    let (_, _, html) = page(&app, &browser, "/mypage").await;
    assert!(
        html.contains(r#"data-testid="pending-note""#) && html.contains("This page updates itself")
    );
    assert!(
        html.contains(
            r#"<noscript><meta http-equiv="refresh" content="3;url=/mypage"></noscript>"#
        ),
        "{html}"
    );
    // The confirmation step: no reload that would close it; the amount is shown.
    let (status, _, html) = page(&app, &browser, &format!("/mypage?cancel={order}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("http-equiv"));
    assert!(html.contains(r#"data-testid="confirm-cancel""#));
    assert!(
        html.contains("The 30,000원 payment is still pending"),
        "{html}"
    );

    // Settled: no refresh any more.
    let id = uuid::Uuid::parse_str(&order).unwrap();
    sqlx::query("delete from payment_jobs")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("update orders set status = 'paid', payment_status = 'completed', paid_at = now() where id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("insert into events (aggregate_type, aggregate_id, event_type, payload) values ('order', $1, 'PaymentCompleted', $2)")
        .bind(id)
        .bind(json!({ "status": "paid", "payment_status": "completed", "vouchers": ["AAAA-BBBB-CCCC-DDDD", "EEEE-FFFF-GGGG-HHHH"] }))
        .execute(&app.pool)
        .await
        .unwrap();
    let (_, _, html) = page(&app, &browser, "/mypage").await;
    assert!(
        !html.contains("http-equiv") && !html.contains("pending-note"),
        "{html}"
    );
    let (_, _, html) = page(&app, &browser, &format!("/mypage?cancel={order}")).await;
    assert!(
        html.contains("Cancel this purchase? 30,000원 will be refunded."),
        "{html}"
    );

    // The real cancel comes back to my page, with its message once.
    let res = post_form(
        &app,
        &browser,
        "/sfn/orders/cancel",
        &format!("/mypage?cancel={order}"),
        &[("order_id", order.as_str())],
    )
    .await;
    assert_eq!(location(&res), "/mypage");
    let (_, _, html) = page(&app, &browser, "/mypage").await;
    assert!(
        html.contains("Purchase cancelled: 30,000원 will be refunded."),
        "{html}"
    );
    assert!(
        html.contains(r#"data-testid="cancelled-by" data-by="customer""#),
        "{html}"
    );
    assert_eq!(
        html.matches(r#"data-testid="voucher-void""#).count(),
        2,
        "the codes of a cancelled order are void"
    );
    assert!(
        html.contains(r#"class="void""#) || html.contains("void"),
        "{html}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_owner_refunds_after_a_confirmation_and_the_customer_sees_why(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let coupon = NewCoupon::named("Latte").create(&app, &owner).await;
    let customer = app.customer("c@example.com").await;
    let order = pending_order(&app, &customer, coupon["id"].as_str().unwrap(), 1).await;
    let browser = logged_in(&app, "o@example.com").await;

    let (_, _, html) = page(&app, &browser, "/owner/dashboard").await;
    assert!(html.contains(&format!(r#"href="/owner/dashboard?refund={order}""#)));
    assert!(
        !html.contains("refund-confirm"),
        "nothing moves from the list"
    );
    let (_, _, html) = page(&app, &browser, &format!("/owner/dashboard?refund={order}")).await;
    assert!(
        html.contains(r#"data-testid="refund-confirm""#) && html.contains("Refund 15,000원"),
        "{html}"
    );
    assert!(html.contains(r#"<label for="f-refund-reason">"#));

    let res = post_form(
        &app,
        &browser,
        "/sfn/owner/orders/refund",
        &format!("/owner/dashboard?refund={order}"),
        &[
            ("order_id", order.as_str()),
            ("reason", "Sold out of beans"),
        ],
    )
    .await;
    assert_eq!(location(&res), "/owner/dashboard");
    let (_, _, html) = page(&app, &browser, "/owner/dashboard").await;
    assert!(
        html.contains("Order refunded: 15,000원 goes back to the customer."),
        "{html}"
    );

    let customer_browser = logged_in(&app, "c@example.com").await;
    let (_, _, html) = page(&app, &customer_browser, "/mypage").await;
    assert!(
        html.contains(r#"data-by="owner""#) && html.contains("Refunded by the shop."),
        "{html}"
    );
    assert!(html.contains("Reason: Sold out of beans"));
    let body: serde_json::Value = app
        .get("/api/v1/mypage", Some(&customer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["items"][0]["cancelled_by"], "owner");
    assert_eq!(body["items"][0]["cancel_reason"], "Sold out of beans");
}

#[sqlx::test(migrations = "../migrations")]
async fn redeeming_says_what_happened(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.owner("o@example.com", "Shop").await;
    let browser = logged_in(&app, "o@example.com").await;
    let res = post_form(
        &app,
        &browser,
        "/sfn/owner/vouchers/redeem",
        "/owner/dashboard",
        &[("code", "zzzz-zzzz-zzzz-zzzz")],
    )
    .await;
    let back = location(&res);
    let (_, _, html) = page(&app, &browser, &back).await;
    assert!(html.contains("No voucher has this code."), "{html}");
    assert!(!html.contains(">Not found.<"));
    assert!(
        html.contains(r#"value="zzzz-zzzz-zzzz-zzzz""#),
        "the code is kept"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn every_page_has_its_own_title_and_errors_offer_a_way_on(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let anon = app.browser();
    for (path, title) in [
        (
            "/",
            "<title>Coupons from the shops around you · Coupan</title>",
        ),
        ("/login", "<title>Log in · Coupan</title>"),
        ("/signup", "<title>Create an account · Coupan</title>"),
        ("/mypage", "<title>My page · Coupan</title>"),
        ("/owner/dashboard", "<title>Dashboard · Coupan</title>"),
        (
            "/owner/coupons/new",
            "<title>Register a coupon · Coupan</title>",
        ),
        ("/nowhere", "<title>Page not found · Coupan</title>"),
    ] {
        let (status, _, html) = page(&app, &anon, path).await;
        assert!(html.contains(title), "{path}: {status} {html}");
        assert!(html.contains(r#"<link rel="icon" type="image/svg+xml" href="/favicon.svg""#));
    }
    let html = anon
        .get(app.url("/mypage"))
        .header("accept-language", "ko")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<title>마이페이지 · 쿠판</title>"), "{html}");

    let (status, _, html) = page(&app, &anon, "/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains(r#"data-testid="go-home""#));
    let (_, _, html) = page(&app, &anon, "/mypage").await;
    assert!(
        html.contains(r#"href="/login?next=%2Fmypage" data-testid="go-login""#),
        "signed out: log in and come back: {html}"
    );
    app.customer("c@example.com").await;
    let customer = logged_in(&app, "c@example.com").await;
    let (_, _, html) = page(&app, &customer, "/owner/dashboard").await;
    assert!(
        html.contains(r#"data-testid="forbidden""#) && html.contains(r#"data-testid="go-home""#)
    );
    let (_, _, html) = page(&app, &anon, &format!("/coupons/{}", uuid::Uuid::new_v4())).await;
    assert!(
        html.contains(r#"data-testid="not-found""#) && html.contains(r#"data-testid="go-home""#)
    );
}
