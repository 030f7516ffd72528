//! The admission queue: purchases decided in batches get exact answers, replicas batching
//! the same coupon never oversell, and a full queue sheds with 503 + Retry-After.

use std::sync::Arc;

use app::error::{AppError, Conflict};
use app::orders::admission::{self, Admission, AdmissionSettings, Purchase};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{NewCoupon, TestApp, quick_customers, test_config};

async fn customers(pool: &PgPool, n: usize) -> Vec<Uuid> {
    quick_customers(pool, n).await;
    sqlx::query_scalar("select id from users where role = 'customer' order by created_at, id")
        .fetch_all(pool)
        .await
        .unwrap()
}

fn purchase(customer_id: Uuid, coupon_id: Uuid, quantity: i32, key: Option<&str>) -> Purchase {
    Purchase {
        customer_id,
        coupon_id,
        quantity,
        idempotency_key: key.map(str::to_string),
        request_id: None,
    }
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_batch_answers_each_purchase_exactly_in_arrival_order(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let coupon_id: Uuid = NewCoupon::named("Batch Deal")
        .stock(5)
        .set("per_customer_limit", json!(2))
        .create_in_new_shop(&app, "Batch Shop")
        .await
        .id
        .parse()
        .unwrap();
    let c = customers(&pool, 3).await;
    let (a, b, z) = (c[0], c[1], c[2]);
    let batch = [
        purchase(a, coupon_id, 2, Some("k1")), // yes: 3 left
        purchase(a, coupon_id, 1, Some("k2")), // a would hold 3 > limit 2
        purchase(b, coupon_id, 2, Some("k1")), // yes (keys are per customer): 1 left
        purchase(a, coupon_id, 2, Some("k1")), // the same purchase again: a's first order
        purchase(z, coupon_id, 2, None),       // only 1 left
        purchase(z, coupon_id, 1, None),       // yes: 0 left
        purchase(b, coupon_id, 1, Some("k1")), // b's key with another quantity
    ];
    let refs: Vec<&Purchase> = batch.iter().collect();
    let answers = admission::decide(&pool, coupon_id, &refs).await.unwrap();
    let first = answers[0].as_ref().unwrap();
    assert!(first.1, "the first purchase made an order");
    assert_eq!(
        answers[1].as_ref().unwrap_err(),
        &AppError::Conflict(Conflict::LimitExceeded)
    );
    assert!(answers[2].as_ref().unwrap().1);
    let again = answers[3].as_ref().unwrap();
    assert_eq!((again.0.id, again.1), (first.0.id, false));
    assert_eq!(
        answers[4].as_ref().unwrap_err(),
        &AppError::Conflict(Conflict::OutOfStock)
    );
    assert!(answers[5].as_ref().unwrap().1);
    assert_eq!(
        answers[6].as_ref().unwrap_err(),
        &AppError::IdempotencyKeyReused
    );
    assert_eq!(app.stock(&coupon_id.to_string()).await, 0);
    for table in ["orders", "payment_jobs", "mypage"] {
        assert_eq!(
            count(&pool, &format!("select count(*) from {table}")).await,
            3,
            "{table}"
        );
    }
    assert_eq!(
        count(
            &pool,
            "select count(*) from events where event_type = 'OrderPlaced'"
        )
        .await,
        3
    );

    // A later batch: keys already used are replays (or misuse), the stock is gone.
    let later = [
        purchase(a, coupon_id, 2, Some("k1")),
        purchase(a, coupon_id, 1, Some("k1")),
        purchase(b, coupon_id, 1, Some("k9")),
    ];
    let refs: Vec<&Purchase> = later.iter().collect();
    let answers = admission::decide(&pool, coupon_id, &refs).await.unwrap();
    let replay = answers[0].as_ref().unwrap();
    assert_eq!((replay.0.id, replay.1), (first.0.id, false));
    assert_eq!(
        answers[1].as_ref().unwrap_err(),
        &AppError::IdempotencyKeyReused
    );
    assert_eq!(
        answers[2].as_ref().unwrap_err(),
        &AppError::Conflict(Conflict::OutOfStock)
    );
    assert_eq!(count(&pool, "select count(*) from orders").await, 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn two_replicas_batching_one_coupon_sell_exactly_the_stock(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let coupon_id: Uuid = NewCoupon::named("Batch Deal")
        .stock(150)
        .create_in_new_shop(&app, "Batch Shop")
        .await
        .id
        .parse()
        .unwrap();
    let buyers = customers(&pool, 400).await;
    let settings = AdmissionSettings {
        batch_max: 16,
        max_waiting: 10_000,
    };
    // Two processes' queues: each batches on its own, the row lock orders their batches.
    let replicas = [
        Admission::new(pool.clone(), settings),
        Admission::new(pool.clone(), settings),
    ];
    let answers = join_all(buyers.iter().enumerate().map(|(i, b)| {
        let replica: Arc<Admission> = replicas[i % 2].clone();
        let p = purchase(*b, coupon_id, 1, Some("flash"));
        async move { replica.submit(p).await }
    }))
    .await;
    let made = answers
        .iter()
        .filter(|a| matches!(a, Ok((_, true))))
        .count();
    let sold_out = answers
        .iter()
        .filter(|a| matches!(a, Err(AppError::Conflict(Conflict::OutOfStock))))
        .count();
    let others: Vec<_> = answers
        .iter()
        .filter_map(|a| match a {
            Ok((_, true)) | Err(AppError::Conflict(Conflict::OutOfStock)) => None,
            other => Some(format!("{other:?}")),
        })
        .take(3)
        .collect();
    assert_eq!((made, sold_out), (150, 250), "other answers: {others:?}");
    assert_eq!(app.stock(&coupon_id.to_string()).await, 0);
    // The saga's invariants: stock, orders = the purchases answered with a new order, one
    // OrderPlaced per order, my-page rows, a payment job per order.
    let answered: Vec<Uuid> = answers
        .iter()
        .filter_map(|a| match a {
            Ok((order, true)) => Some(order.id),
            _ => None,
        })
        .collect();
    let report = invariants::verify(
        &pool,
        invariants::Scope::Coupon(coupon_id),
        &paygate::Ledger::default(),
        &invariants::Expect {
            initial_stock: Some(150),
            answered: Some(&answered),
            no_cancellations: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    report.assert_holds();
    assert_eq!(report.orders, 150);
    let batches = replicas[0].batches() + replicas[1].batches();
    println!("400 purchases in {batches} batches");
    assert!(batches < 100, "purchases were batched ({batches} batches)");

    // Cancelling returns stock that the queue sells again, exactly once.
    let order: Uuid = sqlx::query_scalar("select id from orders limit 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    let owner_of: Uuid = sqlx::query_scalar("select customer_id from orders where id = $1")
        .bind(order)
        .fetch_one(&pool)
        .await
        .unwrap();
    app::orders::service::cancel(
        &pool,
        Default::default(),
        app::orders::service::Canceller::Customer(app::auth::guards::Principal {
            user_id: owner_of,
            role: app::domain::Role::Customer,
        }),
        order,
        None,
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(app.stock(&coupon_id.to_string()).await, 1);
    let again = join_all(buyers.iter().skip(200).take(20).enumerate().map(|(i, b)| {
        let replica: Arc<Admission> = replicas[i % 2].clone();
        let p = purchase(*b, coupon_id, 1, Some("second"));
        async move { replica.submit(p).await }
    }))
    .await;
    assert_eq!(
        again.iter().filter(|a| matches!(a, Ok((_, true)))).count(),
        1
    );
    assert_eq!(app.stock(&coupon_id.to_string()).await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_full_queue_sheds_with_503_and_retry_after(pool: PgPool) {
    let mut config = test_config();
    config.admission = AdmissionSettings {
        batch_max: 128,
        max_waiting: 4,
    };
    let app = Arc::new(TestApp::spawn_with(pool.clone(), config).await);
    let coupon_id: Uuid = NewCoupon::named("Batch Deal")
        .stock(100)
        .create_in_new_shop(&app, "Batch Shop")
        .await
        .id
        .parse()
        .unwrap();
    let tokens = quick_customers(&pool, 12).await;

    // Hold the coupon's row so that the first batch cannot finish.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("select id from coupons where id = $1 for update")
        .bind(coupon_id)
        .execute(&mut *blocker)
        .await
        .unwrap();
    let (done, mut results) = tokio::sync::mpsc::unbounded_channel();
    for t in tokens {
        let (app, done) = (app.clone(), done.clone());
        let id = coupon_id.to_string();
        tokio::spawn(async move {
            let res = app.buy(&t, &id, 1, None).await;
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let status = res.status();
            let body: serde_json::Value = res.json().await.unwrap();
            let _ = done.send((status, retry, body["error"]["code"].clone()));
        });
    }
    // Four wait in the queue; the other eight are turned away at once.
    for _ in 0..8 {
        let (status, retry, code) =
            tokio::time::timeout(std::time::Duration::from_secs(20), results.recv())
                .await
                .expect("shed requests answer while the queue is stuck")
                .unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(code, "unavailable");
    }
    assert!(
        results.try_recv().is_err(),
        "the queued four are still waiting"
    );
    blocker.commit().await.unwrap();
    for _ in 0..4 {
        let (status, _, _) = results.recv().await.unwrap();
        assert_eq!(status, StatusCode::CREATED);
    }
    assert_eq!(app.stock(&coupon_id.to_string()).await, 96);
}

#[sqlx::test(migrations = "../migrations")]
async fn purchases_beyond_the_customers_rate_limit_get_429(pool: PgPool) {
    let mut config = test_config();
    config.limits.purchase_per_min = 3;
    let app = TestApp::spawn_with(pool.clone(), config).await;
    let coupon_id = NewCoupon::named("Batch Deal")
        .stock(100)
        .create_in_new_shop(&app, "Batch Shop")
        .await
        .id;
    let tokens = quick_customers(&pool, 2).await;
    let counted = |samples: &[crate::metrics::Sample], outcome: &str| {
        crate::metrics::value(samples, "coupan_purchases_total", &[("outcome", outcome)])
            .unwrap_or(0.0)
    };
    let (_, before) = crate::metrics::scrape(&app).await;
    for _ in 0..3 {
        assert_eq!(
            app.buy(&tokens[0], &coupon_id, 1, None).await.status(),
            StatusCode::CREATED
        );
    }
    let res = app.buy(&tokens[0], &coupon_id, 1, None).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "rate_limited"
    );
    // Another customer is not affected; the refused purchase made no order.
    assert_eq!(
        app.buy(&tokens[1], &coupon_id, 1, None).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(count(&pool, "select count(*) from orders").await, 4);
    // Counted by outcome (the recorder is shared by every test of this binary: at least).
    let (_, after) = crate::metrics::scrape(&app).await;
    assert!(counted(&after, "created") - counted(&before, "created") >= 4.0);
    assert!(counted(&after, "rate_limited") - counted(&before, "rate_limited") >= 1.0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_foreign_key_check_on_the_coupon_does_not_hold_up_purchases(pool: PgPool) {
    // A payment transaction that updates an order twice re-checks the order's foreign
    // keys and holds `for key share` on the coupon's row until it commits. Purchases of
    // that coupon must not wait for it.
    let app = TestApp::spawn(pool.clone()).await;
    let coupon: Uuid = NewCoupon::named("Batch Deal")
        .stock(10)
        .create_in_new_shop(&app, "Batch Shop")
        .await
        .id
        .parse()
        .unwrap();
    let tokens = quick_customers(&pool, 2).await;
    let first = app.buy(&tokens[0], &coupon.to_string(), 1, None).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let order: Uuid = first.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut payment = pool.begin().await.unwrap();
    for _ in 0..2 {
        sqlx::query("update orders set request_id = 'held' where id = $1")
            .bind(order)
            .execute(&mut *payment)
            .await
            .unwrap();
    }
    let held: bool = sqlx::query_scalar(
        "select exists (select 1 from pg_locks l join pg_class c on c.oid = l.relation
                        where c.relname = 'coupons' and l.pid = pg_backend_pid())",
    )
    .fetch_one(&mut *payment)
    .await
    .unwrap();
    assert!(held, "the second update checked the coupon foreign key");
    let second = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        app.buy(&tokens[1], &coupon.to_string(), 1, None),
    )
    .await
    .expect("the purchase did not wait for the other transaction");
    assert_eq!(second.status(), StatusCode::CREATED);
    payment.rollback().await.unwrap();
    assert_eq!(app.stock(&coupon.to_string()).await, 8);
}
