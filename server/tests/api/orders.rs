//! Buying: stock never oversells, idempotency, and every refusal.

use std::collections::HashSet;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{NewCoupon, TestApp, expect_error, quick_customers};

#[sqlx::test(migrations = "../migrations")]
async fn five_hundred_buyers_never_oversell_a_stock_of_one_hundred(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let coupon_id = NewCoupon::named("Flash Deal")
        .stock(100)
        .create_in_new_shop(&app, "Flash Shop")
        .await
        .id;
    let tokens = quick_customers(&pool, 520).await;
    let results = join_all(tokens.iter().map(|t| app.buy(t, &coupon_id, 1, None))).await;
    let mut created = Vec::new();
    let mut sold_out = 0;
    for res in results {
        match res.status() {
            StatusCode::CREATED => {
                let body: Value = res.json().await.unwrap();
                created.push(body["id"].as_str().unwrap().parse().unwrap());
            }
            StatusCode::CONFLICT => {
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["error"]["code"], "out_of_stock");
                sold_out += 1;
            }
            other => panic!("unexpected {other}: {}", res.text().await.unwrap()),
        }
    }
    assert_eq!((created.len(), sold_out), (100, 420));
    assert_eq!(app.stock(&coupon_id).await, 0);
    // The saga's invariants before any payment: stock, orders = 201 answers, one
    // OrderPlaced per order, my-page rows, a payment job per order, nothing charged.
    let report = invariants::verify(
        &pool,
        invariants::Scope::Coupon(coupon_id.parse().unwrap()),
        &paygate::Ledger::default(),
        &invariants::Expect {
            initial_stock: Some(100),
            answered: Some(&created),
            no_cancellations: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    report.assert_holds();
    assert_eq!((report.orders, report.live_units), (100, 100));
}

#[sqlx::test(migrations = "../migrations")]
async fn one_idempotency_key_makes_one_order_even_concurrently(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let coupon_id = NewCoupon::named("Flash Deal")
        .stock(50)
        .create_in_new_shop(&app, "Flash Shop")
        .await
        .id;
    let token = app.customer("c@example.com").await;
    let results = join_all((0..20).map(|_| app.buy(&token, &coupon_id, 2, Some("key-1")))).await;
    let mut ids = HashSet::new();
    for res in results {
        assert_eq!(res.status(), StatusCode::CREATED);
        ids.insert(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(ids.len(), 1, "every retry answers with the same order");
    assert_eq!(app.stock(&coupon_id).await, 48, "stock taken once");
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(orders, 1);
    // The same key with other parameters is refused.
    let res = app.buy(&token, &coupon_id, 3, Some("key-1")).await;
    expect_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    // Another key is another order.
    assert_eq!(
        app.buy(&token, &coupon_id, 1, Some("key-2")).await.status(),
        StatusCode::CREATED
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_order_json_and_the_request_id(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let coupon_id = NewCoupon::named("Flash Deal")
        .stock(5)
        .create_in_new_shop(&app, "Flash Shop")
        .await
        .id;
    let token = app.customer("c@example.com").await;
    let res = app
        .client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&token)
        .header("x-request-id", "req-abc-123")
        .json(&json!({"coupon_id": coupon_id, "quantity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["x-request-id"], "req-abc-123");
    let order: Value = res.json().await.unwrap();
    for f in [
        "id",
        "coupon_id",
        "quantity",
        "amount",
        "status",
        "payment_status",
        "ordered_at",
    ] {
        assert!(order.get(f).is_some(), "{f} missing: {order}");
    }
    assert_eq!(order["amount"], 30000);
    assert_eq!(order["status"], "ordered");
    assert_eq!(order["payment_status"], "pending");
    let rid: Option<String> =
        sqlx::query_scalar("select request_id from events where event_type = 'OrderPlaced'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(rid.as_deref(), Some("req-abc-123"));
    // A generated id when none (or a bad one) is sent.
    let res = app
        .client
        .get(app.url("/api/v1/coupons"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id with spaces");

    let id = order["id"].as_str().unwrap();
    let fetched: Value = app
        .get(&format!("/api/v1/orders/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["id"], id);
    let other = app.customer("other@example.com").await;
    expect_error(
        app.get(&format!("/api/v1/orders/{id}"), Some(&other)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn every_refusal_has_its_own_answer(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let token = app.customer("c@example.com").await;
    let owner = app.owner("o@example.com", "Shop").await;
    let open = NewCoupon::named("Flash Deal")
        .stock(5)
        .create_in_new_shop(&app, "Flash Shop")
        .await
        .id;

    expect_error(
        app.buy(&token, &open, 0, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    expect_error(
        app.buy(&token, &open, 101, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    expect_error(
        app.buy(&owner, &open, 1, None).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.post(
            "/api/v1/orders",
            json!({"coupon_id": open, "quantity": 1}),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        app.buy(&token, &uuid::Uuid::new_v4().to_string(), 1, None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.buy(&token, &open, 6, None).await,
        StatusCode::CONFLICT,
        "out_of_stock",
    )
    .await;

    let later = NewCoupon::named("Flash Deal")
        .stock(5)
        .set("sale_starts_at", json!("2099-01-01T00:00:00Z"))
        .create_in_new_shop(&app, "Flash Shop")
        .await
        .id;
    expect_error(
        app.buy(&token, &later, 1, None).await,
        StatusCode::CONFLICT,
        "sale_not_started",
    )
    .await;
    let over = NewCoupon::named("Flash Deal")
        .stock(5)
        .set("sale_starts_at", json!("2020-01-01T00:00:00Z"))
        .set("sale_ends_at", json!("2020-02-01T00:00:00Z"))
        .create_in_new_shop(&app, "Flash Shop")
        .await
        .id;
    expect_error(
        app.buy(&token, &over, 1, None).await,
        StatusCode::CONFLICT,
        "sale_ended",
    )
    .await;

    let stopped_owner = app.owner("stop@example.com", "Stop Shop").await;
    let stopped = NewCoupon::named("Stopped")
        .create(&app, &stopped_owner)
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.patch(
        &format!("/api/v1/coupons/{stopped}"),
        json!({"on_sale": false}),
        Some(&stopped_owner),
    )
    .await;
    expect_error(
        app.buy(&token, &stopped, 1, None).await,
        StatusCode::CONFLICT,
        "not_on_sale",
    )
    .await;

    assert_eq!(app.stock(&open).await, 5, "refusals take no stock");
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(orders, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_per_customer_limit_holds_under_concurrency(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let coupon_id = NewCoupon::named("Flash Deal")
        .stock(100)
        .set("per_customer_limit", json!(3))
        .create_in_new_shop(&app, "Flash Shop")
        .await
        .id;
    let token = app.customer("c@example.com").await;
    let results = join_all((0..10).map(|_| app.buy(&token, &coupon_id, 1, None))).await;
    let ok = results
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    assert_eq!(ok, 3);
    for r in results
        .into_iter()
        .filter(|r| r.status() != StatusCode::CREATED)
    {
        expect_error(r, StatusCode::CONFLICT, "limit_exceeded").await;
    }
    assert_eq!(app.stock(&coupon_id).await, 97);
    // A cancelled order no longer counts.
    let id: uuid::Uuid = sqlx::query_scalar("select id from orders limit 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    let res = app.cancel(&id, &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.buy(&token, &coupon_id, 1, None).await.status(),
        StatusCode::CREATED
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_database_enforces_status_transitions_and_an_append_only_log(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let coupon_id = NewCoupon::named("Flash Deal")
        .stock(5)
        .create_in_new_shop(&app, "Flash Shop")
        .await
        .id;
    let token = app.customer("c@example.com").await;
    let order: Value = app
        .buy(&token, &coupon_id, 1, None)
        .await
        .json()
        .await
        .unwrap();
    let id = uuid::Uuid::parse_str(order["id"].as_str().unwrap()).unwrap();
    sqlx::query(
        "update orders set status = 'cancelled', payment_status = 'refund_pending' where id = $1",
    )
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();
    for bad in [
        "update orders set status = 'paid' where id = $1",
        "update orders set status = 'ordered' where id = $1",
        "update orders set payment_status = 'completed' where id = $1",
    ] {
        let err = sqlx::query(bad).bind(id).execute(&pool).await.unwrap_err();
        assert!(err.to_string().contains("cannot go from"), "{bad}: {err}");
    }
    let err = sqlx::query("update events set event_type = 'x'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"));
    assert!(
        sqlx::query("delete from events")
            .execute(&pool)
            .await
            .is_err()
    );
}
