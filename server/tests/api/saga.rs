//! The payment saga end to end: worker, gateway, cancel, refunds, vouchers, my page.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::payment::Step;
use sqlx::PgPool;

use crate::helpers::{
    NewCoupon, TestApp, TestGateway, expect_error, quick_customers, settle, test_worker,
};

async fn buy_ok(app: &TestApp, token: &str, coupon: &str, qty: i64) -> String {
    let res = app.buy(token, coupon, qty, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn mypage(app: &TestApp, token: &str) -> Vec<Value> {
    let body: Value = app
        .get("/api/v1/mypage", Some(token))
        .await
        .json()
        .await
        .unwrap();
    body["items"].as_array().unwrap().clone()
}

#[sqlx::test(migrations = "../migrations")]
async fn paid_orders_get_vouchers_and_show_on_my_page(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let coupon = NewCoupon::named("Saga Coupon")
        .stock(10)
        .create_in_shop(&app, "o@example.com", "Saga Shop")
        .await
        .id;
    let token = app.customer("c@example.com").await;
    let order = buy_ok(&app, &token, &coupon, 2).await;

    let rows = mypage(&app, &token).await;
    assert_eq!(rows[0]["status"], "ordered");
    assert_eq!(rows[0]["payment_status"], "pending");

    settle(&worker, &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("paid".into(), "completed".into())
    );
    let rows = mypage(&app, &token).await;
    let row = &rows[0];
    for f in [
        "order_id",
        "coupon_name",
        "shop_name",
        "quantity",
        "unit_price",
        "amount",
        "status",
        "payment_status",
        "ordered_at",
        "cancelled_at",
        "paid_at",
        "refunded_at",
        "vouchers",
    ] {
        assert!(row.get(f).is_some(), "{f} missing: {row}");
    }
    assert_eq!(row["order_id"], order);
    assert_eq!(row["status"], "paid");
    assert_eq!(row["payment_status"], "completed");
    assert_eq!(row["amount"], 30000);
    assert!(row["paid_at"].is_string());
    let vouchers = row["vouchers"].as_array().unwrap();
    assert_eq!(vouchers.len(), 2);
    let codes: Vec<&str> = vouchers
        .iter()
        .map(|v| v["code"].as_str().unwrap())
        .collect();
    assert_ne!(codes[0], codes[1]);
    assert!(codes.iter().all(|c| c.len() == 19), "{codes:?}");
    assert_eq!(gw.counts().await[&order], (1, 0));
}

#[sqlx::test(migrations = "../migrations")]
async fn purchases_go_on_while_the_gateway_is_down_and_are_paid_once_when_it_returns(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let coupon = NewCoupon::named("Saga Coupon")
        .stock(100)
        .create_in_shop(&app, "o@example.com", "Saga Shop")
        .await
        .id;
    gw.stop();
    let tokens = quick_customers(&pool, 20).await;
    let orders: Vec<String> = join_all(tokens.iter().map(|t| buy_ok(&app, t, &coupon, 1))).await;
    // The worker tries, fails, backs off; nothing is lost, nothing moves.
    for _ in 0..10 {
        worker.run_once().await.unwrap();
    }
    assert_eq!(
        worker.breaker().state(),
        server::payment::breaker::BreakerState::Open,
        "the breaker opened"
    );
    for o in &orders {
        assert_eq!(
            app.order_status(o).await,
            ("ordered".into(), "pending".into())
        );
    }
    let attempts: i64 =
        sqlx::query_scalar("select coalesce(sum(attempts), 0)::bigint from payment_jobs")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(attempts >= 3, "failed calls were counted: {attempts}");

    gw.restart().await;
    settle(&worker, &pool, 20).await;
    assert_eq!(
        worker.breaker().state(),
        server::payment::breaker::BreakerState::Closed,
        "the breaker closed again"
    );
    for o in &orders {
        assert_eq!(
            app.order_status(o).await,
            ("paid".into(), "completed".into())
        );
    }
    // Charged exactly once each, and the rest of the saga's invariants.
    let answered: Vec<uuid::Uuid> = orders.iter().map(|o| o.parse().unwrap()).collect();
    let report = invariants::verify(
        &pool,
        invariants::Scope::Coupon(coupon.parse().unwrap()),
        &gw.gateway.ledger().await,
        &invariants::Expect {
            initial_stock: Some(100),
            answered: Some(&answered),
            settled: true,
            no_cancellations: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    report.assert_holds();
    assert_eq!((report.paid, report.charges), (20, 20));

    // Over every order, as the benchmark's last check reads them: the same. An order left
    // out (as seeded rows are) makes its charge one that belongs to no order checked.
    async fn everything(pool: &PgPool, gw: &TestGateway) -> invariants::Report {
        let expect = invariants::Expect {
            settled: true,
            no_cancellations: true,
            ..Default::default()
        };
        let scope = invariants::Scope::AllExcept(Some("seed"));
        invariants::verify(pool, scope, &gw.gateway.ledger().await, &expect)
            .await
            .unwrap()
    }
    let report = everything(&pool, &gw).await;
    report.assert_holds();
    assert_eq!((report.orders, report.charges), (20, 20));
    sqlx::query("update orders set request_id = 'seed' where id = $1")
        .bind(answered[0])
        .execute(&pool)
        .await
        .unwrap();
    let report = everything(&pool, &gw).await;
    assert_eq!(report.orders, 19);
    assert!(
        report.broke(invariants::Invariant::Charges) && report.violations.len() == 1,
        "{:?}",
        report.violations
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_declined_payment_gives_the_stock_back(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let coupon = NewCoupon::named("Saga Coupon")
        .stock(10)
        .create_in_shop(&app, "o@example.com", "Saga Shop")
        .await
        .id;
    let token = app.customer("c@example.com").await;
    gw.set_mode(|m| m.decline_all = true);
    let order = buy_ok(&app, &token, &coupon, 3).await;
    assert_eq!(app.stock(&coupon).await, 7);
    settle(&worker, &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("payment_failed".into(), "failed".into())
    );
    assert_eq!(app.stock(&coupon).await, 10);
    let rows = mypage(&app, &token).await;
    assert_eq!(rows[0]["status"], "payment_failed");
    assert!(!gw.counts().await.contains_key(&order), "nothing charged");
    expect_error(
        app.cancel(&order, &token).await,
        StatusCode::CONFLICT,
        "not_cancellable",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_worker_killed_mid_call_is_resumed_without_a_double_charge(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let coupon = NewCoupon::named("Saga Coupon")
        .stock(10)
        .create_in_shop(&app, "o@example.com", "Saga Shop")
        .await
        .id;
    let token = app.customer("c@example.com").await;
    let order = buy_ok(&app, &token, &coupon, 1).await;
    gw.set_mode(|m| m.latency_ms = 400);
    let doomed = test_worker(&app.app_pool, &gw.url());
    let task = tokio::spawn(async move { doomed.run_once().await });
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    task.abort(); // the worker dies holding the job; its transaction is rolled back
    let _ = task.await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await; // the gateway may still charge
    assert_eq!(
        app.order_status(&order).await,
        ("ordered".into(), "pending".into())
    );
    gw.set_mode(|m| m.latency_ms = 0);
    settle(&test_worker(&app.app_pool, &gw.url()), &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("paid".into(), "completed".into())
    );
    assert_eq!(gw.counts().await[&order], (1, 0), "one charge");
    let codes: i64 = sqlx::query_scalar("select count(*) from vouchers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(codes, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn cancelling_refunds_once_and_returns_the_stock(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let coupon = NewCoupon::named("Saga Coupon")
        .stock(10)
        .create_in_shop(&app, "o@example.com", "Saga Shop")
        .await
        .id;
    let token = app.customer("c@example.com").await;
    let other = app.customer("other@example.com").await;
    let order = buy_ok(&app, &token, &coupon, 4).await;
    settle(&worker, &pool, 10).await;
    assert_eq!(app.stock(&coupon).await, 6);

    let path = format!("/api/v1/orders/{order}/cancel");
    expect_error(
        app.post(&path, json!({}), Some(&other)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = app.post(&path, json!({}), Some(&token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["payment_status"], "refund_pending");
    assert_eq!(app.stock(&coupon).await, 10);
    expect_error(
        app.post(&path, json!({}), Some(&token)).await,
        StatusCode::CONFLICT,
        "already_cancelled",
    )
    .await;

    settle(&worker, &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("cancelled".into(), "refunded".into())
    );
    assert_eq!(gw.counts().await[&order], (1, 1));
    let row = &mypage(&app, &token).await[0];
    assert_eq!(row["payment_status"], "refunded");
    assert!(row["cancelled_at"].is_string() && row["refunded_at"].is_string());
    assert_eq!(app.stock(&coupon).await, 10, "stock came back exactly once");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_payment_completing_after_the_cancel_is_refunded(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let coupon = NewCoupon::named("Saga Coupon")
        .stock(10)
        .create_in_shop(&app, "o@example.com", "Saga Shop")
        .await
        .id;
    let token = app.customer("c@example.com").await;
    let order = buy_ok(&app, &token, &coupon, 1).await;
    gw.set_mode(|m| m.latency_ms = 300);
    let worker = test_worker(&app.app_pool, &gw.url());
    let charging = {
        let w = worker.clone();
        tokio::spawn(async move { w.run_once().await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // The customer cancels while the charge is on its way.
    let res = app.cancel(&order, &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let step = charging.await.unwrap();
    assert!(matches!(step, Step::Continue(_)), "{step:?}");
    gw.set_mode(|m| m.latency_ms = 0);
    settle(&worker, &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("cancelled".into(), "refunded".into())
    );
    assert_eq!(
        gw.counts().await[&order],
        (1, 1),
        "charged once, refunded once"
    );
    let refunds: i64 =
        sqlx::query_scalar("select count(*) from events where event_type = 'PaymentRefunded'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(refunds, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn cancelling_before_any_charge_voids_the_payment(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let coupon = NewCoupon::named("Saga Coupon")
        .stock(10)
        .create_in_shop(&app, "o@example.com", "Saga Shop")
        .await
        .id;
    let token = app.customer("c@example.com").await;
    let order = buy_ok(&app, &token, &coupon, 1).await;
    app.cancel(&order, &token).await;
    settle(&worker, &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("cancelled".into(), "voided".into())
    );
    assert!(!gw.counts().await.contains_key(&order), "never charged");
}

/// Many cancels racing many charges: every order ends final, each charge refunded once.
#[sqlx::test(migrations = "../migrations")]
async fn cancel_and_payment_races_end_with_one_refund_per_charge(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    gw.set_mode(|m| m.latency_ms = 20);
    let coupon = NewCoupon::named("Saga Coupon")
        .stock(100)
        .create_in_shop(&app, "o@example.com", "Saga Shop")
        .await
        .id;
    let tokens = quick_customers(&pool, 30).await;
    let orders: Vec<String> = join_all(tokens.iter().map(|t| buy_ok(&app, t, &coupon, 1))).await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let w = worker.clone();
            let p = pool.clone();
            tokio::spawn(async move { settle(&w, &p, 20).await })
        })
        .collect();
    let paths: Vec<String> = orders
        .iter()
        .map(|o| format!("/api/v1/orders/{o}/cancel"))
        .collect();
    let cancels = join_all(
        paths
            .iter()
            .zip(&tokens)
            .map(|(p, t)| app.post(p, json!({}), Some(t))),
    )
    .await;
    assert!(cancels.iter().all(|r| r.status() == StatusCode::OK));
    for w in workers {
        w.await.unwrap();
    }
    settle(&worker, &pool, 20).await;
    for o in &orders {
        let (status, _) = app.order_status(o).await;
        assert_eq!(status, "cancelled");
    }
    // Every order final (refunded after one charge and one refund, or voided with
    // neither), all the stock back, and the rest of the saga's invariants.
    let answered: Vec<uuid::Uuid> = orders.iter().map(|o| o.parse().unwrap()).collect();
    let report = invariants::verify(
        &pool,
        invariants::Scope::Coupon(coupon.parse().unwrap()),
        &gw.gateway.ledger().await,
        &invariants::Expect {
            initial_stock: Some(100),
            answered: Some(&answered),
            settled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    report.assert_holds();
    assert_eq!((report.cancelled, report.live_units), (30, 0));
    assert_eq!(report.refunds, report.charges);
    assert_eq!(app.stock(&coupon).await, 100);
}

#[sqlx::test(migrations = "../migrations")]
async fn owners_redeem_vouchers_once_and_refund_their_orders(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let shop = NewCoupon::named("Saga Coupon")
        .stock(10)
        .create_in_shop(&app, "o@example.com", "Saga Shop")
        .await;
    let (owner, coupon) = (shop.owner, shop.id);
    let other_owner = NewCoupon::named("Saga Coupon")
        .stock(10)
        .create_in_shop(&app, "o2@example.com", "Saga Shop")
        .await
        .owner;
    let token = app.customer("c@example.com").await;
    let order = buy_ok(&app, &token, &coupon, 2).await;
    let second = buy_ok(&app, &token, &coupon, 1).await;
    settle(&worker, &pool, 10).await;
    let rows = mypage(&app, &token).await;
    let row = rows
        .iter()
        .find(|r| r["order_id"] == order.as_str())
        .unwrap();
    let code = row["vouchers"][0]["code"].as_str().unwrap().to_string();

    let redeem = |t: &str, c: &str| {
        let (t, body) = (t.to_string(), json!({ "code": c }));
        let app = &app;
        async move { app.post("/api/v1/vouchers/redeem", body, Some(&t)).await }
    };
    expect_error(
        redeem(&other_owner, &code).await,
        StatusCode::CONFLICT,
        "voucher_other_shop",
    )
    .await;
    expect_error(
        redeem(&owner, "AAAA-BBBB-CCCC-DDDD").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        redeem(&token, &code).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = redeem(&owner, &code.to_lowercase().replace('-', " ")).await;
    assert_eq!(res.status(), StatusCode::OK, "typed codes are normalised");
    expect_error(
        redeem(&owner, &code).await,
        StatusCode::CONFLICT,
        "voucher_already_redeemed",
    )
    .await;
    let row = mypage(&app, &token)
        .await
        .into_iter()
        .find(|r| r["order_id"] == order.as_str())
        .unwrap();
    assert!(row["vouchers"][0]["redeemed_at"].is_string());
    // An order with a used voucher cannot be cancelled.
    expect_error(
        app.cancel(&order, &token).await,
        StatusCode::CONFLICT,
        "voucher_redeemed",
    )
    .await;

    // Expired codes are refused.
    let code2 = row["vouchers"][1]["code"].as_str().unwrap().to_string();
    sqlx::query("update vouchers set valid_until = now() - interval '1 day' where code = $1")
        .bind(&code2)
        .execute(&pool)
        .await
        .unwrap();
    expect_error(
        redeem(&owner, &code2).await,
        StatusCode::CONFLICT,
        "voucher_expired",
    )
    .await;

    // The owner refunds (rejects) the second order; its code is then refused.
    let second_code = mypage(&app, &token)
        .await
        .into_iter()
        .find(|r| r["order_id"] == second.as_str())
        .unwrap()["vouchers"][0]["code"]
        .as_str()
        .unwrap()
        .to_string();
    expect_error(
        app.post(
            &format!("/api/v1/owner/orders/{second}/refund"),
            json!({"reason": "x"}),
            Some(&other_owner),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = app
        .post(
            &format!("/api/v1/owner/orders/{second}/refund"),
            json!({"reason": "out of milk"}),
            Some(&owner),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let reason: Option<String> =
        sqlx::query_scalar("select cancel_reason from orders where id = $1")
            .bind(uuid::Uuid::parse_str(&second).unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(reason.as_deref(), Some("out of milk"));
    expect_error(
        redeem(&owner, &second_code).await,
        StatusCode::CONFLICT,
        "voucher_cancelled",
    )
    .await;
    settle(&worker, &pool, 10).await;
    assert_eq!(
        app.order_status(&second).await,
        ("cancelled".into(), "refunded".into())
    );

    let dash: Value = app
        .get("/api/v1/owner/dashboard", Some(&owner))
        .await
        .json()
        .await
        .unwrap();
    let stats = &dash["coupons"][0];
    assert_eq!(stats["sold"], 2);
    assert_eq!(stats["revenue"], 30000);
    assert_eq!(stats["cancelled"], 1);
    assert_eq!(stats["refunded"], 1);
    assert_eq!(stats["redeemed"], 1);
    assert_eq!(stats["stock_left"], 8);
    assert_eq!(dash["recent_orders"].as_array().unwrap().len(), 2);
    assert_eq!(dash["sales"][0]["units"], 2);
    expect_error(
        app.get("/api/v1/owner/dashboard", Some(&token)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}
