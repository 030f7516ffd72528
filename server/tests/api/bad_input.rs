//! Bad input found by probing the running app (issue #14 §4): text that would reach a
//! header, NUL characters (PostgreSQL refuses them in text), text-direction controls in
//! names, and server functions answering errors with the API's status codes.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{NewCoupon, PASSWORD, TestApp, expect_error, plain_client, session_pair};

/// The session cookie of `email`, logged in through the form from the site itself.
async fn cookie_of(app: &TestApp, email: &str) -> String {
    let res = app
        .log_in(&plain_client(), email)
        .header("origin", &app.base)
        .send()
        .await;
    session_pair(&res).expect("logged in")
}

/// A server function called as a hydrated page does (fetch, form-encoded), signed in
/// with `cookie` if any.
async fn call(app: &TestApp, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Response {
    let mut req = plain_client()
        .post(app.url(path))
        .header("origin", &app.base)
        .form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// The same as a browser without JavaScript posts a form from page `from`.
async fn post_form(
    app: &TestApp,
    path: &str,
    from: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> Response {
    let mut req = plain_client()
        .post(app.url(path))
        .header("origin", &app.base)
        .header("accept", "text/html,application/xhtml+xml")
        .header("referer", app.url(from))
        .form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// A control character in `next` (`%09 %0A %0D %00 %01 %7F`) or a backslash never reaches
/// the `Location` header: the log-in answers (no panic) and stays on the site, with and
/// without JavaScript; the log-in page drops such a `next` from its form.
#[sqlx::test(migrations = "../migrations")]
async fn next_with_control_characters_stays_on_the_site(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await;
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r/evil.example",
        "/\u{0}/evil.example",
        "/\u{1}",
        "/\u{7f}",
        "/\\evil.example",
        "/%0A%0D",
    ] {
        let expected = if next == "/%0A%0D" { next } else { "/" };
        // Without JavaScript: 302 to the landing page.
        let form = [
            ("email", "c@example.com"),
            ("password", PASSWORD),
            ("next", next),
        ];
        let res = post_form(&app, "/sfn/auth/login", "/login", None, &form).await;
        assert_eq!(res.status(), StatusCode::FOUND, "{next:?}");
        assert_eq!(res.headers()["location"], expected, "{next:?}");
        // The hydrated form (fetch): the client follows the Location it is given.
        let res = call(&app, "/sfn/auth/login", None, &form).await;
        assert_eq!(res.status(), StatusCode::OK, "{next:?}");
        assert_eq!(res.headers()["location"], expected, "{next:?}");
        // The log-in page itself.
        let res = plain_client()
            .get(app.url("/login"))
            .query(&[("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{next:?}");
        let html = res.text().await.unwrap();
        if expected == "/" {
            assert!(html.contains(r#"name="next" value="""#), "{next:?}");
        }
    }
    // The language switch goes back to the referring page only when it is one of ours.
    for referer in [
        format!("{}/\t/evil.example", app.base),
        format!("{}/\\evil.example", app.base),
        format!("{}//evil.example", app.base),
    ] {
        let res = plain_client()
            .get(app.url("/lang/ko"))
            .header("referer", &referer)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection(), "{referer:?}");
        assert_eq!(res.headers()["location"], "/", "{referer:?}");
    }
}

/// A NUL character anywhere text comes in is refused with a 422 naming the field (it used
/// to reach PostgreSQL, which refuses it: a 500), through the API and the server functions.
#[sqlx::test(migrations = "../migrations")]
async fn nul_characters_are_refused_where_text_comes_in(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let coupon = NewCoupon::named("Latte").create(&app, &owner).await;
    let coupon_id = coupon["id"].as_str().unwrap().to_string();
    let customer = app.customer("c@example.com").await;

    // Search.
    for query in ["q=%00", "shop=%00", "q=ab%00cd"] {
        let res = app.get(&format!("/api/v1/coupons?{query}"), None).await;
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let res = call(
        &app,
        "/sfn/coupons/list",
        None,
        &[("q", "\u{0}"), ("shop", ""), ("page", "1")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Sign-up.
    for (field, value) in [("name", "Kim\u{0}"), ("shop_name", "\u{0}Shop")] {
        let mut body = json!({ "email": "n@example.com", "password": PASSWORD, "name": "Kim",
                               "role": "owner", "shop_name": "Shop" });
        body[field] = json!(value);
        let res = app.post("/api/v1/auth/signup", body, None).await;
        let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(body["error"]["fields"][field], "is not valid", "{body}");

        let mut form = vec![
            ("email", "n@example.com"),
            ("password", PASSWORD),
            ("name", "Kim"),
            ("role", "owner"),
            ("shop_name", "Shop"),
        ];
        form.iter_mut().find(|(k, _)| *k == field).unwrap().1 = value;
        let res = call(&app, "/sfn/auth/signup", None, &form).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["Validation"][field]["kind"], "invalid", "{body}");
    }

    // Coupons: create and edit, API and form.
    let owner_cookie = cookie_of(&app, "o@example.com").await;
    for (field, value) in [("name", "La\u{0}tte"), ("description", "hot\u{0}")] {
        let body = NewCoupon::named("Latte").set(field, json!(value)).body();
        let res = app.post("/api/v1/coupons", body, Some(&owner)).await;
        let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(body["error"]["fields"][field], "is not valid");
        let res = app
            .patch(
                &format!("/api/v1/coupons/{coupon_id}"),
                json!({ field: value }),
                Some(&owner),
            )
            .await;
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

        let mut form = vec![
            ("name", "Latte"),
            ("description", ""),
            ("price", "1000"),
            ("stock", "5"),
            ("sale_starts_at", ""),
            ("sale_ends_at", ""),
            ("valid_until", ""),
            ("per_customer_limit", ""),
        ];
        form.iter_mut().find(|(k, _)| *k == field).unwrap().1 = value;
        let res = call(
            &app,
            "/sfn/owner/coupons/create",
            Some(&owner_cookie),
            &form,
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        form.push(("id", &coupon_id));
        let res = call(
            &app,
            "/sfn/owner/coupons/update",
            Some(&owner_cookie),
            &form,
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
    }

    // A refund's reason, API and form.
    let order: Value = app
        .buy(&customer, &coupon_id, 1, None)
        .await
        .json()
        .await
        .unwrap();
    let order_id = order["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/api/v1/owner/orders/{order_id}/refund"),
            json!({ "reason": "beans\u{0}" }),
            Some(&owner),
        )
        .await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(body["error"]["fields"]["reason"], "is not valid");
    let res = call(
        &app,
        "/sfn/owner/orders/refund",
        Some(&owner_cookie),
        &[("order_id", order_id), ("reason", "\u{0}")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.order_status(order_id).await;
    assert_eq!(status, "ordered", "nothing was refunded");

    // Codes and e-mail addresses never reach the database with a NUL either.
    let res = app
        .post(
            "/api/v1/vouchers/redeem",
            json!({ "code": "\u{0}" }),
            Some(&owner),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .token_request("c\u{0}@example.com", PASSWORD)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

/// Names cannot carry text-direction controls (U+202A-U+202E, U+2066-U+2069), with
/// which one name could be made to look like another on an owner's screen.
#[sqlx::test(migrations = "../migrations")]
async fn names_refuse_text_direction_controls(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    for c in ['\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}'] {
        let spoof = format!("Kim{c}nimda");
        for field in ["name", "shop_name"] {
            let mut body = json!({ "email": "n@example.com", "password": PASSWORD, "name": "Kim",
                                   "role": "owner", "shop_name": "Shop" });
            body[field] = json!(spoof);
            let res = app.post("/api/v1/auth/signup", body, None).await;
            let body =
                expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
            assert_eq!(body["error"]["fields"][field], "is not valid", "{c:?}");
        }
        let body = NewCoupon::named(&spoof).body();
        let res = app.post("/api/v1/coupons", body, Some(&owner)).await;
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    // Descriptions keep their line breaks; names their letters in any script.
    let body = NewCoupon::named("카페 라떼 مقهى")
        .set("description", json!("Line one\nLine two\r\n\tindented"))
        .body();
    let res = app.post("/api/v1/coupons", body, Some(&owner)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// Server functions answer errors with the status codes of the JSON API (so monitoring
/// counts only real failures as 5xx), and a form posted without JavaScript is still sent
/// back to its page with the error.
#[sqlx::test(migrations = "../migrations")]
async fn server_functions_answer_errors_with_the_api_status_codes(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let coupon = NewCoupon::named("Latte").create(&app, &owner).await;
    let coupon_id = coupon["id"].as_str().unwrap().to_string();
    let customer = app.customer("c@example.com").await;
    app.customer("d@example.com").await;

    let wrong = [("email", "c@example.com"), ("password", "wrong password")];
    let res = call(&app, "/sfn/auth/login", None, &wrong).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!("InvalidCredentials")
    );
    let res = post_form(&app, "/sfn/auth/login", "/login", None, &wrong).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = res.headers()["location"].to_str().unwrap();
    assert!(
        back.starts_with(&app.url("/login?")) && back.contains("__err="),
        "{back}"
    );

    let bad_signup = [
        ("email", "not an address"),
        ("password", PASSWORD),
        ("name", "Kim"),
        ("role", "customer"),
    ];
    let res = call(&app, "/sfn/auth/signup", None, &bad_signup).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["Validation"]["email"]["kind"], "invalid", "{body}");
    let res = post_form(&app, "/sfn/auth/signup", "/signup", None, &bad_signup).await;
    assert_eq!(res.status(), StatusCode::FOUND);

    let taken = [
        ("email", "c@example.com"),
        ("password", PASSWORD),
        ("name", "Kim"),
        ("role", "customer"),
    ];
    let res = call(&app, "/sfn/auth/signup", None, &taken).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // Not signed in, the wrong role, someone else's order.
    let buy = [
        ("coupon_id", coupon_id.as_str()),
        ("quantity", "1"),
        ("idempotency_key", "k1"),
    ];
    let res = call(&app, "/sfn/orders/buy", None, &buy).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let owner_cookie = cookie_of(&app, "o@example.com").await;
    let res = call(&app, "/sfn/orders/buy", Some(&owner_cookie), &buy).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let order: Value = app
        .buy(&customer, &coupon_id, 1, None)
        .await
        .json()
        .await
        .unwrap();
    let other = cookie_of(&app, "d@example.com").await;
    let res = call(
        &app,
        "/sfn/orders/cancel",
        Some(&other),
        &[("order_id", order["id"].as_str().unwrap())],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // The lock-out (two wrong passwords above): 429 with Retry-After to a script, the
    // form's page to a browser.
    for _ in 0..3 {
        let res = call(&app, "/sfn/auth/login", None, &wrong).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = call(&app, "/sfn/auth/login", None, &wrong).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let res = post_form(&app, "/sfn/auth/login", "/login", None, &wrong).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(res.headers().get("retry-after").is_none());
}

/// Found by fuzzing from the OpenAPI document (`scripts/fuzz.sh`): the refund's optional
/// body, when it is there and is not the JSON of `{reason?}`, was refused with axum's
/// plain-text 422 instead of the API's error shape. It is a 400 `bad_request` like every
/// other unreadable body; no body, or `{}`, still refunds.
#[sqlx::test(migrations = "../migrations")]
async fn a_refund_body_that_does_not_fit_is_a_400_in_the_error_shape(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let shop = NewCoupon::named("Refund Body")
        .create_in_new_shop(&app, "Refund Shop")
        .await;
    let customer = app.customer("c@example.com").await;
    let mut orders = Vec::new();
    for _ in 0..2 {
        let res = app.buy(&customer, &shop.id, 1, None).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        orders.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let refund = |order: &str| {
        app.client
            .post(app.url(&format!("/api/v1/owner/orders/{order}/refund")))
            .bearer_auth(&shop.owner)
    };
    for body in ["null", r#"{"reason": 5}"#, r#""words""#, "{"] {
        let res = refund(&orders[0])
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let res = refund(&orders[0]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "no body");
    let res = refund(&orders[1]).json(&json!({})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "an empty object");
}
