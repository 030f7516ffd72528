//! The payment worker in batches: many jobs claimed, called and settled in one transaction.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::payment::Step;
use sqlx::PgPool;

use crate::helpers::{NewCoupon, TestApp, TestGateway, quick_customers, settle, test_worker};

async fn buy(app: &TestApp, token: &str, coupon: &str) -> String {
    let res = app.buy(token, coupon, 1, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn events_of(pool: &PgPool, order: &str, event_type: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from events where aggregate_id = $1::uuid and event_type = $2",
    )
    .bind(order)
    .bind(event_type)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn mypage_status(pool: &PgPool, order: &str) -> (String, String) {
    sqlx::query_as("select status, payment_status from mypage where order_id = $1::uuid")
        .bind(order)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn one_batch_settles_charges_a_decline_a_void_a_refund_a_failed_call_and_a_stale_job(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let coupon = NewCoupon::named("Batch Coupon")
        .stock(100)
        .create_in_shop(&app, "o@example.com", "Batch Shop")
        .await
        .id;
    let tokens = quick_customers(&pool, 11).await;

    // Three orders paid first. Two are cancelled afterwards: one to refund, one whose
    // refund call fails (its recorded payment key is unknown to the gateway: the refund is
    // refused). The third one's job comes back (a stale duplicate): to be removed.
    let stale = buy(&app, &tokens[0], &coupon).await;
    let refunded = buy(&app, &tokens[9], &coupon).await;
    let refused = buy(&app, &tokens[10], &coupon).await;
    assert_eq!(worker.drain().await.unwrap(), 3);
    for (o, t) in [(&refunded, &tokens[9]), (&refused, &tokens[10])] {
        let res = app
            .post(&format!("/api/v1/orders/{o}/cancel"), json!({}), Some(t))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    sqlx::query("update orders set payment_key = 'no-such-key' where id = $1::uuid")
        .bind(&refused)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("insert into payment_jobs (order_id) values ($1::uuid)")
        .bind(&stale)
        .execute(&pool)
        .await
        .unwrap();
    // Six to charge, one the gateway declines, one cancelled before any charge.
    let mut charged = Vec::new();
    for t in &tokens[1..7] {
        charged.push(buy(&app, t, &coupon).await);
    }
    let declined = buy(&app, &tokens[7], &coupon).await;
    let cancelled = buy(&app, &tokens[8], &coupon).await;
    let res = app
        .post(
            &format!("/api/v1/orders/{cancelled}/cancel"),
            json!({}),
            Some(&tokens[8]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let prefix = declined[..13].to_string(); // unique among these ids
    assert!(
        !charged
            .iter()
            .chain([&stale, &cancelled, &refunded, &refused])
            .any(|o| o.starts_with(&prefix)),
        "decline prefix is unique"
    );
    gw.set_mode(|m| m.decline_order_prefix = Some(prefix));
    // 11 bought; the cancelled, refunded and refused units are back.
    assert_eq!(app.stock(&coupon).await, 100 - 11 + 3);

    // One call: every job of the batch, in one transaction.
    let steps = worker.run_batch(64).await.unwrap();
    assert_eq!(steps.len(), 11, "{steps:?}");
    let refused_id: uuid::Uuid = refused.parse().unwrap();
    for s in &steps {
        match s {
            Step::Retry(id) => assert_eq!(*id, refused_id, "{steps:?}"),
            Step::Done(id) => assert_ne!(*id, refused_id, "{steps:?}"),
            other => panic!("{other:?} in {steps:?}"),
        }
    }
    let left: Vec<(String, i32, Option<String>)> =
        sqlx::query_as("select order_id::text, attempts, last_error from payment_jobs")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(left.len(), 1, "only the refused refund is queued: {left:?}");
    assert_eq!((left[0].0.as_str(), left[0].1), (refused.as_str(), 1));
    assert!(
        left[0]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("refund refused"))
    );
    assert_eq!(events_of(&pool, &refused, "PaymentRefunded").await, 0);
    assert_eq!(
        app.order_status(&refused).await,
        ("cancelled".into(), "refund_pending".into())
    );

    let counts = gw.counts().await;
    for o in &charged {
        assert_eq!(
            app.order_status(o).await,
            ("paid".into(), "completed".into())
        );
        assert_eq!(
            mypage_status(&pool, o).await,
            ("paid".into(), "completed".into())
        );
        assert_eq!(counts[o], (1, 0), "one charge for {o}");
        assert_eq!(events_of(&pool, o, "PaymentCompleted").await, 1);
        let vouchers: i64 =
            sqlx::query_scalar("select count(*) from vouchers where order_id = $1::uuid")
                .bind(o)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(vouchers, 1);
    }
    assert_eq!(
        app.order_status(&declined).await,
        ("payment_failed".into(), "failed".into())
    );
    assert_eq!(events_of(&pool, &declined, "PaymentFailed").await, 1);
    assert_eq!(
        app.order_status(&cancelled).await,
        ("cancelled".into(), "voided".into())
    );
    assert_eq!(events_of(&pool, &cancelled, "PaymentVoided").await, 1);
    assert_eq!(
        app.order_status(&refunded).await,
        ("cancelled".into(), "refunded".into())
    );
    assert_eq!(
        mypage_status(&pool, &refunded).await,
        ("cancelled".into(), "refunded".into())
    );
    assert_eq!(counts[&refunded], (1, 1), "one charge, one refund");
    assert_eq!(events_of(&pool, &refunded, "PaymentRefunded").await, 1);
    assert_eq!(counts[&refused], (1, 0), "charged, refund refused");
    assert!(!counts.contains_key(&declined) && !counts.contains_key(&cancelled));
    // The stale job changed nothing: still one charge, one PaymentCompleted.
    assert_eq!(counts[&stale], (1, 0));
    assert_eq!(events_of(&pool, &stale, "PaymentCompleted").await, 1);
    // Stock: 7 paid units gone (stale + six); the declined, cancelled, refunded and
    // refused units back.
    assert_eq!(app.stock(&coupon).await, 100 - 7);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failing_gateway_reschedules_the_whole_batch_and_nothing_is_recorded(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let coupon = NewCoupon::named("Batch Coupon")
        .stock(100)
        .create_in_shop(&app, "o@example.com", "Batch Shop")
        .await
        .id;
    let tokens = quick_customers(&pool, 5).await;
    let orders: Vec<String> = join_all(tokens.iter().map(|t| buy(&app, t, &coupon))).await;
    gw.set_mode(|m| m.failure_rate = 1.0);
    let steps = worker.run_batch(64).await.unwrap();
    assert_eq!(steps.len(), 5);
    assert!(
        steps.iter().all(|s| matches!(s, Step::Retry(_))),
        "{steps:?}"
    );
    let (attempts, with_error): (i64, i64) =
        sqlx::query_as("select sum(attempts)::int8, count(last_error) from payment_jobs")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (attempts, with_error),
        (5, 5),
        "each job: one attempt, its error"
    );
    let settled: i64 =
        sqlx::query_scalar("select count(*) from events where event_type like 'Payment%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(settled, 0, "no payment event");
    gw.set_mode(|m| m.failure_rate = 0.0);
    settle(&worker, &pool, 10).await;
    let counts = gw.counts().await;
    for o in &orders {
        assert_eq!(
            app.order_status(o).await,
            ("paid".into(), "completed".into())
        );
        assert_eq!(counts[o], (1, 0));
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn two_workers_draining_in_batches_pay_every_order_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    gw.set_mode(|m| m.latency_ms = 5);
    let coupon = NewCoupon::named("Batch Coupon")
        .stock(1000)
        .create_in_shop(&app, "o@example.com", "Batch Shop")
        .await
        .id;
    let tokens = quick_customers(&pool, 300).await;
    let mut orders = Vec::new();
    for chunk in tokens.chunks(50) {
        orders.extend(join_all(chunk.iter().map(|t| buy(&app, t, &coupon))).await);
    }
    // Two replicas' workers (each its own breaker), several loops each, at once.
    let workers = [
        test_worker(&app.app_pool, &gw.url()),
        test_worker(&app.app_pool, &gw.url()),
    ];
    let loops = workers.iter().flat_map(|w| {
        (0..3).map(move |_| async move {
            let mut batches = Vec::new();
            loop {
                let steps = w.run_batch(32).await.unwrap();
                if steps.is_empty() {
                    return batches;
                }
                batches.push(steps.len());
            }
        })
    });
    let batches: Vec<usize> = join_all(loops).await.into_iter().flatten().collect();
    assert_eq!(batches.iter().sum::<usize>(), 300, "every job once");
    assert!(
        batches.iter().any(|&n| n > 1),
        "jobs went in batches: {batches:?}"
    );
    let counts = gw.counts().await;
    assert_eq!(counts.len(), 300);
    assert!(counts.values().all(|c| *c == (1, 0)), "one charge each");
    let (paid, completed, jobs): (i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from orders where status = 'paid'),
                (select count(*) from events where event_type = 'PaymentCompleted'),
                (select count(*) from payment_jobs)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((paid, completed, jobs), (300, 300, 0));
    for o in orders.iter().step_by(37) {
        assert_eq!(
            mypage_status(&pool, o).await,
            ("paid".into(), "completed".into())
        );
    }
}
