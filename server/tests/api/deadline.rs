//! The payment deadline: an order still unpaid `payment_deadline` after it was placed
//! expires (the worker's sweep, or the worker that claims it), its units come back, no
//! charge is tried any more, and a charge that landed anyway is refunded exactly once.
//! Orders are made overdue by moving their `ordered_at` back past the default deadline.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::payment::worker::WorkerSettings;
use server::payment::{Breaker, Step, Worker};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{NewCoupon, TestApp, TestGateway, expect_error, quick_customers, settle};

/// The default deadline, and a little more.
const OVERDUE_SECS: i64 = 900 + 5;

/// A worker whose gateway calls time out after 200 ms (so an expired order's last turn,
/// one timeout after its expiry, comes soon).
fn worker(pool: &PgPool, gateway_url: &str) -> Worker {
    let settings = WorkerSettings {
        tasks: 1,
        batch_max: 16,
        poll_interval: Duration::from_millis(20),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(40),
        ..WorkerSettings::default()
    };
    Worker::new(
        pool.clone(),
        crate::helpers::test_gateway_client(gateway_url, Duration::from_millis(200)),
        std::sync::Arc::new(Breaker::new(1000, Duration::from_millis(100))),
        settings,
    )
}

async fn shop_coupon(app: &TestApp, stock: i64) -> String {
    NewCoupon::named("Deadline Coupon")
        .stock(stock)
        .create_in_shop(app, "o@example.com", "Deadline Shop")
        .await
        .id
}

async fn buy_ok(app: &TestApp, token: &str, coupon: &str, qty: i64) -> String {
    let res = app.buy(token, coupon, qty, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Moves the order's placement `secs` into the past.
async fn age(pool: &PgPool, order: &str, secs: i64) {
    sqlx::query(
        "update orders set ordered_at = ordered_at - make_interval(secs => $2) where id = $1",
    )
    .bind(Uuid::parse_str(order).unwrap())
    .bind(secs as f64)
    .execute(pool)
    .await
    .unwrap();
}

async fn events(pool: &PgPool, order: &str, event_type: &str) -> i64 {
    sqlx::query_scalar("select count(*) from events where aggregate_id = $1 and event_type = $2")
        .bind(Uuid::parse_str(order).unwrap())
        .bind(event_type)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The notifications about the order, sorted by kind: `(kind, to its customer)`.
async fn told(pool: &PgPool, order: &str) -> Vec<(String, bool)> {
    sqlx::query_as(
        "select n.kind, n.user_id = o.customer_id from notifications n
         join orders o on o.id = n.order_id where n.order_id = $1 order by n.kind",
    )
    .bind(Uuid::parse_str(order).unwrap())
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The charge goes through at the gateway, but its answer never reaches a worker (a call
/// that timed out, a worker that died after it): the same call the worker makes.
async fn charge_lost(gw: &TestGateway, order: &str, amount: i64) {
    crate::helpers::test_gateway_client(&gw.url(), Duration::from_secs(3))
        .confirm(Uuid::parse_str(order).unwrap(), amount, "Coupan coupon")
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unpaid_order_expires_at_its_deadline_and_its_units_come_back(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut gw = TestGateway::start().await;
    let worker = worker(&pool, &gw.url());
    let coupon = shop_coupon(&app, 5).await;
    let token = app.customer("c@example.com").await;
    let order = buy_ok(&app, &token, &coupon, 2).await;
    assert_eq!(app.stock(&coupon).await, 3);

    // The gateway is down: the worker keeps trying, as before.
    gw.stop();
    assert!(matches!(worker.run_once().await.unwrap(), Step::Retry(_)));
    assert_eq!(worker.sweep().await.unwrap().expired, 0, "not yet due");
    assert_eq!(
        app.order_status(&order).await,
        ("ordered".into(), "pending".into())
    );

    age(&pool, &order, OVERDUE_SECS).await;
    assert_eq!(worker.sweep().await.unwrap().expired, 1);
    assert_eq!(
        app.order_status(&order).await,
        ("expired".into(), "voided".into())
    );
    assert_eq!(app.stock(&coupon).await, 5, "the units came back");
    assert_eq!(events(&pool, &order, "OrderExpired").await, 1);
    let shown: Value = app
        .get(&format!("/api/v1/orders/{order}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&shown["status"], &shown["payment_status"]),
        (&json!("expired"), &json!("voided"))
    );
    let mypage: Value = app
        .get("/api/v1/mypage", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mypage["items"][0]["status"], "expired");
    expect_error(
        app.cancel(&order, &token).await,
        StatusCode::CONFLICT,
        "not_cancellable",
    )
    .await;
    assert_eq!(worker.sweep().await.unwrap().expired, 0, "expired once");
    assert_eq!(
        told(&pool, &order).await,
        [("order_expired".to_string(), true)]
    );

    // Back up: the last turn asks the gateway, finds nothing, and the job is gone.
    gw.restart().await;
    settle(&worker, &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("expired".into(), "voided".into())
    );
    assert!(!gw.counts().await.contains_key(&order), "never charged");
    assert_eq!(app.stock(&coupon).await, 5, "the units came back once");
    assert_eq!(events(&pool, &order, "OrderExpired").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_worker_expires_an_overdue_order_instead_of_charging_it(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = worker(&pool, &gw.url());
    let coupon = shop_coupon(&app, 5).await;
    let token = app.customer("c@example.com").await;
    let order = buy_ok(&app, &token, &coupon, 1).await;
    age(&pool, &order, OVERDUE_SECS).await;

    assert!(matches!(
        worker.run_once().await.unwrap(),
        Step::Continue(_)
    ));
    assert_eq!(
        app.order_status(&order).await,
        ("expired".into(), "voided".into())
    );
    assert_eq!(app.stock(&coupon).await, 5);
    settle(&worker, &pool, 10).await;
    assert!(
        !gw.counts().await.contains_key(&order),
        "no charge was tried"
    );
    assert_eq!(events(&pool, &order, "OrderExpired").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_charge_that_landed_unseen_is_refunded_once_after_the_expiry(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = worker(&pool, &gw.url());
    let coupon = shop_coupon(&app, 5).await;
    let token = app.customer("c@example.com").await;
    let order = buy_ok(&app, &token, &coupon, 2).await;
    charge_lost(&gw, &order, 30_000).await;
    age(&pool, &order, OVERDUE_SECS).await;

    assert_eq!(worker.sweep().await.unwrap().expired, 1);
    settle(&worker, &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("expired".into(), "refunded".into())
    );
    assert_eq!(
        gw.counts().await[&order],
        (1, 1),
        "charged once, refunded once"
    );
    assert_eq!(events(&pool, &order, "PaymentRefunded").await, 1);
    assert_eq!(
        told(&pool, &order).await,
        [
            ("order_expired".to_string(), true),
            ("refunded".to_string(), true)
        ]
    );
    let mypage: Value = app
        .get("/api/v1/mypage", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mypage["items"][0]["payment_status"], "refunded");
    assert!(mypage["items"][0]["refunded_at"].is_string());

    // Nothing more happens, however often the worker and the sweep run.
    worker.sweep().await.unwrap();
    settle(&worker, &pool, 10).await;
    assert_eq!(gw.counts().await[&order], (1, 1));
    assert_eq!(app.stock(&coupon).await, 5);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_charge_on_its_way_is_not_overtaken_by_the_sweep(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let coupon = shop_coupon(&app, 5).await;
    let token = app.customer("c@example.com").await;
    let order = buy_ok(&app, &token, &coupon, 1).await;
    gw.set_mode(|m| m.latency_ms = 3000);
    let slow = Worker::new(
        pool.clone(),
        crate::helpers::test_gateway_client(&gw.url(), Duration::from_secs(10)),
        std::sync::Arc::new(Breaker::new(3, Duration::from_millis(100))),
        WorkerSettings::default(),
    );
    let charging = {
        let w = slow.clone();
        tokio::spawn(async move { w.run_once().await.unwrap() })
    };
    // The worker holds the job once its row is locked (its `xmax` names the locker: read
    // without taking a lock, which would make the worker's claim skip it); it reads the
    // order right after, and its charge is on its way for 3 s.
    let id = Uuid::parse_str(&order).unwrap();
    let mut claimed = false;
    for _ in 0..1000 {
        let xmax: i64 =
            sqlx::query_scalar("select xmax::text::bigint from payment_jobs where order_id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
        if xmax != 0 {
            claimed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(claimed, "the worker never claimed the job");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // The deadline passes while the charge is on its way: the sweep leaves it alone.
    age(&pool, &order, OVERDUE_SECS).await;
    assert_eq!(slow.sweep().await.unwrap().expired, 0);
    assert!(matches!(charging.await.unwrap(), Step::Done(_)));
    assert_eq!(
        app.order_status(&order).await,
        ("paid".into(), "completed".into())
    );
    assert_eq!(slow.sweep().await.unwrap().expired, 0);
    assert_eq!(gw.counts().await[&order], (1, 0));
    assert_eq!(events(&pool, &order, "OrderExpired").await, 0);
}

/// Workers and sweeps at once, on orders of which some were charged unseen, some become
/// overdue while the workers run, and the gateway fails now and then: every order ends
/// paid (charged once) or expired (each charge refunded once), and the units add up.
#[sqlx::test(migrations = "../migrations")]
async fn expiry_racing_late_charges_refunds_each_charge_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let coupon = shop_coupon(&app, 40).await;
    let tokens = quick_customers(&pool, 30).await;
    let orders: Vec<String> = join_all(tokens.iter().map(|t| buy_ok(&app, t, &coupon, 1))).await;
    // Every third order: charged at the gateway, the answer lost.
    let unseen: Vec<&String> = orders.iter().step_by(3).collect();
    for o in &unseen {
        charge_lost(&gw, o, 15_000).await;
    }
    // Half the orders are overdue from the start, the other half become overdue midway.
    let (first, second) = orders.split_at(15);
    for o in first {
        age(&pool, o, OVERDUE_SECS).await;
    }
    gw.set_mode(|m| {
        m.latency_ms = 15;
        m.failure_rate = 0.2;
    });
    let worker = worker(&pool, &gw.url());
    let drains: Vec<_> = (0..3)
        .map(|_| {
            let (w, p) = (worker.clone(), pool.clone());
            tokio::spawn(async move { settle(&w, &p, 30).await })
        })
        .collect();
    let sweeps: Vec<_> = (0..2)
        .map(|_| {
            let w = worker.clone();
            tokio::spawn(async move {
                for _ in 0..40 {
                    w.sweep().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(60)).await;
    for o in second {
        age(&pool, o, OVERDUE_SECS).await;
    }
    for t in drains.into_iter().chain(sweeps) {
        t.await.unwrap();
    }
    worker.sweep().await.unwrap();
    gw.set_mode(|m| m.failure_rate = 0.0);
    settle(&worker, &pool, 30).await;

    let counts = gw.counts().await;
    let (mut paid, mut expired_refunded) = (0, 0);
    for o in &orders {
        let (status, payment) = app.order_status(o).await;
        let ledger = counts.get(o).copied().unwrap_or((0, 0));
        let refunds = events(&pool, o, "PaymentRefunded").await;
        // Told once of each outcome, the customer only; an expiry's late charge as a refund.
        let kinds: Vec<(String, bool)> = match (status.as_str(), payment.as_str()) {
            ("paid", _) => vec![("payment_completed".into(), true)],
            ("expired", "refunded") => {
                vec![("order_expired".into(), true), ("refunded".into(), true)]
            }
            _ => vec![("order_expired".into(), true)],
        };
        assert_eq!(told(&pool, o).await, kinds, "{o}");
        match (status.as_str(), payment.as_str()) {
            ("paid", "completed") => {
                assert_eq!(ledger, (1, 0), "{o}");
                assert_eq!(events(&pool, o, "OrderExpired").await, 0, "{o}");
                paid += 1;
            }
            ("expired", "refunded") => {
                assert_eq!((ledger, refunds), ((1, 1), 1), "{o}");
                expired_refunded += 1;
            }
            ("expired", "voided") => assert_eq!((ledger, refunds), ((0, 0), 0), "{o}"),
            other => panic!("order {o} ended {other:?}"),
        }
        if status == "expired" {
            assert_eq!(events(&pool, o, "OrderExpired").await, 1, "{o}");
        }
    }
    // The unseen charges of orders overdue from the start were all given back.
    assert!(expired_refunded >= unseen.iter().filter(|o| first.contains(o)).count());
    assert_eq!(app.stock(&coupon).await, 40 - paid, "the units add up");
    // And the saga's shared invariants, expired orders included.
    let answered: Vec<Uuid> = orders.iter().map(|o| o.parse().unwrap()).collect();
    let report = invariants::verify(
        &pool,
        invariants::Scope::Coupon(coupon.parse().unwrap()),
        &gw.gateway.ledger().await,
        &invariants::Expect {
            initial_stock: Some(40),
            answered: Some(&answered),
            settled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    report.assert_holds();
    assert_eq!(report.paid + report.expired, 30);
}
