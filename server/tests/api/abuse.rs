//! Abuse (issue #14 §3): the failed-log-in throttle per e-mail and client address, bounded
//! and indexed search, the idempotency key the same in the buy form and the API, and dates
//! within the years the database can hold.

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{
    NewCoupon, PASSWORD, TestApp, expect_error, plain_client, session_pair, test_config,
};

/// The app behind a trusted proxy on loopback: each test request names its client.
async fn behind_proxy(pool: PgPool) -> TestApp {
    let mut config = test_config();
    config.limits.trusted_proxies = app::limits::TrustedProxies::parse("127.0.0.1").unwrap();
    TestApp::spawn_with(pool, config).await
}

async fn token_from(app: &TestApp, email: &str, password: &str, client_ip: &str) -> Response {
    app.token_request(email, password)
        .header("x-forwarded-for", client_ip)
        .send()
        .await
        .unwrap()
}

/// Five wrong passwords from one address lock that address out for that account, not
/// the account: its owner logs in from elsewhere, only more slowly while it is attacked.
#[sqlx::test(migrations = "../migrations")]
async fn failed_log_ins_lock_out_the_address_not_the_account(pool: PgPool) {
    let app = behind_proxy(pool).await;
    app.signup("owner@example.com", "owner", Some("Shop")).await;
    const ATTACKER: &str = "203.0.113.7";
    for _ in 0..5 {
        let res = token_from(&app, "owner@example.com", "wrong password", ATTACKER).await;
        expect_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    // The attacker's address is refused, even with the right password.
    let res = token_from(&app, "owner@example.com", PASSWORD, ATTACKER).await;
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // The owner, from another address: let in, after a delay.
    let started = Instant::now();
    let res = token_from(&app, "owner@example.com", PASSWORD, "198.51.100.20").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "not slowed down: {:?}",
        started.elapsed()
    );
    // ... and the same through the log-in form.
    let res = app
        .log_in(&plain_client(), "owner@example.com")
        .header("origin", &app.base)
        .header("x-forwarded-for", "198.51.100.21")
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(session_pair(&res).is_some());
    // The attacker's lock-out stays.
    let res = token_from(&app, "owner@example.com", PASSWORD, ATTACKER).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another account is not affected at all (no delay).
    app.signup("other@example.com", "customer", None).await;
    let started = Instant::now();
    let res = token_from(&app, "other@example.com", PASSWORD, ATTACKER).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// Guesses sent all at once are counted before any is checked: no more than the limit
/// get a verdict on their password.
#[sqlx::test(migrations = "../migrations")]
async fn concurrent_guesses_cannot_exceed_the_limit(pool: PgPool) {
    let app = behind_proxy(pool).await;
    app.signup("c@example.com", "customer", None).await;
    let guesses = (0..20).map(|i| {
        let req = app
            .token_request("c@example.com", &format!("guess number {i}"))
            .header("x-forwarded-for", "203.0.113.9");
        async move { req.send().await.unwrap().status() }
    });
    let statuses = futures::future::join_all(guesses).await;
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((wrong, refused), (5, 15), "{statuses:?}");
}

/// `q` and `shop` are at most 100 characters (not bytes); longer is a 422 naming the field,
/// from the API and from the catalogue's server function alike.
#[sqlx::test(migrations = "../migrations")]
async fn search_terms_are_bounded(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let hundred = "가".repeat(100);
    let long = "가".repeat(101);
    for field in ["q", "shop"] {
        let res = plain_client()
            .get(app.url("/api/v1/coupons"))
            .query(&[(field, &hundred)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{field}");
        let res = plain_client()
            .get(app.url("/api/v1/coupons"))
            .query(&[(field, &long)])
            .send()
            .await
            .unwrap();
        let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(
            body["error"]["fields"][field], "must be at most 100 characters",
            "{body}"
        );
    }
    let res = plain_client()
        .post(app.url("/sfn/coupons/list"))
        .form(&[("q", long.as_str()), ("shop", ""), ("page", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["Validation"]["q"]["kind"], "too_long", "{body}");
}

/// The catalogue's `%text%` searches can use trigram indexes (pg_trgm) on every column
/// they scan, instead of reading every row.
#[sqlx::test(migrations = "../migrations")]
async fn search_columns_have_trigram_indexes(pool: PgPool) {
    let indexed: Vec<(String, String)> = sqlx::query_as(
        "select tablename::text, indexdef from pg_indexes
         where schemaname = 'public' and indexdef like '%gin_trgm_ops%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (table, column) in [
        ("coupons", "name"),
        ("coupons", "description"),
        ("shops", "name"),
    ] {
        let index = indexed
            .iter()
            .find(|(t, def)| t == table && def.contains(&format!("({column} gin_trgm_ops)")))
            .unwrap_or_else(|| panic!("no trigram index on {table}.{column}: {indexed:?}"));
        // The planner uses it for an ILIKE scan (sequential scans off: the test tables
        // are too small for the plan to prefer an index by cost).
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("set local enable_seqscan = off")
            .execute(&mut *tx)
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query_scalar(&format!(
            "explain select 1 from {table} where {column} ilike '%latte%'"
        ))
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        let name = index.1.split_whitespace().nth(2).unwrap();
        assert!(
            plan.iter().any(|l| l.contains(name)),
            "{table}.{column}: {plan:?}"
        );
    }
}

/// A buy form's idempotency key is checked like the API's header: 1 to 100 characters,
/// else 400 and no order (it used to be dropped silently, and the purchase made without).
#[sqlx::test(migrations = "../migrations")]
async fn idempotency_keys_are_checked_alike_in_the_form_and_the_api(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let coupon = NewCoupon::named("Latte").create(&app, &owner).await;
    let id = coupon["id"].as_str().unwrap();
    let token = app.customer("c@example.com").await;
    let res = app
        .log_in(&plain_client(), "c@example.com")
        .header("origin", &app.base)
        .send()
        .await;
    let cookie = session_pair(&res).unwrap();
    let too_long = "k".repeat(101);

    for key in ["", "   ", too_long.as_str()] {
        let res = plain_client()
            .post(app.url("/sfn/orders/buy"))
            .header("cookie", &cookie)
            .header("origin", &app.base)
            .form(&[
                ("coupon_id", id),
                ("quantity", "1"),
                ("idempotency_key", key),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "form, key {key:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["BadRequest"], "Idempotency-Key must be 1 to 100 characters",
            "{body}"
        );

        let res = plain_client()
            .post(app.url("/api/v1/orders"))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(&json!({ "coupon_id": id, "quantity": 1 }))
            .send()
            .await
            .unwrap();
        let body = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
        assert_eq!(
            body["error"]["message"], "Idempotency-Key must be 1 to 100 characters",
            "API, key {key:?}"
        );
    }
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 0);
    // A hundred characters are fine in both.
    let key = "k".repeat(100);
    let res = plain_client()
        .post(app.url("/sfn/orders/buy"))
        .header("cookie", &cookie)
        .header("origin", &app.base)
        .form(&[
            ("coupon_id", id),
            ("quantity", "1"),
            ("idempotency_key", &key),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.buy(&token, id, 1, Some(&key)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// Years the database cannot hold (or nobody means) are a 422 naming the field, from the
/// owner's form and from the API, never a 500.
#[sqlx::test(migrations = "../migrations")]
async fn dates_far_outside_our_years_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let res = app
        .log_in(&plain_client(), "o@example.com")
        .header("origin", &app.base)
        .send()
        .await;
    let cookie = session_pair(&res).unwrap();
    for (field, typed) in [
        ("sale_starts_at", "-5000-01-01T10:00"),
        ("sale_ends_at", "99999-01-01T10:00"),
        ("valid_until", "0001-01-01T00:00"),
    ] {
        let mut form = vec![
            ("name", "Latte".to_string()),
            ("description", String::new()),
            ("price", "1000".into()),
            ("stock", "5".into()),
            ("sale_starts_at", String::new()),
            ("sale_ends_at", String::new()),
            ("valid_until", String::new()),
            ("per_customer_limit", String::new()),
        ];
        form.iter_mut().find(|(k, _)| *k == field).unwrap().1 = typed.into();
        let res = plain_client()
            .post(app.url("/sfn/owner/coupons/create"))
            .header("cookie", &cookie)
            .header("origin", &app.base)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "form {field}={typed}"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["Validation"][field]["kind"], "invalid", "{body}");
    }
    for (field, value) in [
        ("sale_starts_at", "-5000-01-01T00:00:00Z"),
        ("valid_until", "+10000-01-01T00:00:00Z"),
        ("sale_ends_at", "1000-01-01T00:00:00Z"),
    ] {
        let body = NewCoupon::named("Latte").set(field, json!(value)).body();
        let res = app.post("/api/v1/coupons", body, Some(&owner)).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "API {field}={value}: {text}"
        );
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"]["fields"][field], "is not valid", "{body}");
    }
    let made: i64 = sqlx::query_scalar("select count(*) from coupons")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(made, 0);
}

/// No request holds a database connection for long: a statement that waits (here for a
/// row lock another transaction keeps) is cut after `COUPAN_DB_STATEMENT_TIMEOUT_MS`, and
/// the client gets a 503 it may retry, not an answer 30 s later.
#[sqlx::test(migrations = "../migrations")]
async fn a_slow_statement_is_cut_by_the_statement_timeout(
    _: sqlx::postgres::PgPoolOptions,
    database: sqlx::postgres::PgConnectOptions,
) {
    let config = crate::helpers::test_config_with(&[("COUPAN_DB_STATEMENT_TIMEOUT_MS", "500")]);
    // The pool as `main` makes it, over the test's database.
    let pool = server::db::connect_with(&config, database).await.unwrap();
    let app = TestApp::spawn_with(pool.clone(), config).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let coupon = NewCoupon::named("Latte").create(&app, &owner).await;
    let id: uuid::Uuid = coupon["id"].as_str().unwrap().parse().unwrap();

    let setting: String = sqlx::query_scalar("show statement_timeout")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(setting, "500ms");
    let slow = sqlx::query("select pg_sleep(3)")
        .execute(&pool)
        .await
        .unwrap_err();
    let code = slow.as_database_error().and_then(|e| e.code()).unwrap();
    assert_eq!(code, "57014", "query_canceled");

    // Another transaction holds the coupon's row; an edit waits for it.
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("select 1 from coupons where id = $1 for update")
        .bind(id)
        .execute(&mut *holder)
        .await
        .unwrap();
    let started = Instant::now();
    let res = plain_client()
        .patch(app.url(&format!("/api/v1/coupons/{id}")))
        .bearer_auth(&owner)
        .json(&json!({ "price": 2000 }))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("an answer well before the request timeout");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    holder.rollback().await.unwrap();

    // Once the row is free the same edit goes through.
    let res = app
        .patch(
            &format!("/api/v1/coupons/{id}"),
            json!({ "price": 2000 }),
            Some(&owner),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}
