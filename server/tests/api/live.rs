//! Live stock: `GET /api/v1/coupons/{id}/live` and `/coupons/live?ids=`. The first event
//! comes at once, changes made by any process on the database reach every process's
//! streams (each app has its own LISTEN connection), changes are paced with the last one
//! always delivered, a purchase batch notifies once, the streams catch up after their
//! LISTEN connection breaks, and open streams do not hold the graceful shutdown.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use app::orders::admission::{self, Purchase};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{NewCoupon, SseStream, TestApp, expect_error, quick_customers};

async fn coupon(app: &TestApp, stock: i64) -> (String, String) {
    let owner = app
        .owner(&format!("o-{}@example.com", Uuid::new_v4()), "Live Shop")
        .await;
    let mut body = NewCoupon::named("Live Latte").body();
    body["stock"] = json!(stock);
    let id = app.create_coupon(&owner, body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    (owner, id)
}

async fn stream(app: &TestApp, path: &str) -> SseStream {
    SseStream::open(app.client.get(app.url(path))).await
}

fn stock(e: &crate::helpers::SseEvent) -> Value {
    assert_eq!(e.event, "stock", "{e:?}");
    e.json()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_first_event_comes_at_once_and_unknown_coupons_are_404(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (_, id) = coupon(&app, 10).await;
    let started = Instant::now();
    let mut s = stream(&app, &format!("/api/v1/coupons/{id}/live")).await;
    let first = s.next().await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    let data = stock(&first);
    assert_eq!(
        data,
        json!({ "coupon_id": id, "stock_left": 10, "held": 0, "on_sale": true })
    );

    let unknown = Uuid::new_v4();
    for path in [
        format!("/api/v1/coupons/{unknown}/live"),
        "/api/v1/coupons/not-a-uuid/live".to_string(),
        format!("/api/v1/coupons/live?ids={id},{unknown}"),
    ] {
        expect_error(
            app.get(&path, None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    for path in [
        "/api/v1/coupons/live".to_string(),
        "/api/v1/coupons/live?ids=".to_string(),
        format!("/api/v1/coupons/live?ids={id},nope"),
    ] {
        expect_error(
            app.get(&path, None).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_purchase_on_one_process_reaches_the_streams_of_another(pool: PgPool) {
    // Two app processes on one database: each has its own hub and LISTEN connection.
    let a = TestApp::spawn(pool.clone()).await;
    let b = TestApp::spawn(pool.clone()).await;
    let (owner, id) = coupon(&a, 10).await;
    let mut on_b = stream(&b, &format!("/api/v1/coupons/{id}/live")).await;
    assert_eq!(stock(&on_b.next().await)["stock_left"], 10);
    let mut many_on_a = stream(&a, &format!("/api/v1/coupons/live?ids={id}")).await;
    assert_eq!(stock(&many_on_a.next().await)["stock_left"], 10);

    let customer = a.customer("c@example.com").await;
    assert_eq!(
        a.buy(&customer, &id, 3, None).await.status(),
        StatusCode::CREATED
    );
    let seen = on_b
        .until(Duration::from_secs(3), |e| stock(e)["stock_left"] == 7)
        .await;
    assert_eq!(seen.len(), 1, "one purchase, one event: {seen:?}");
    assert_eq!(stock(&many_on_a.next().await)["stock_left"], 7);

    // The owner's switch, on the other process.
    let res = b
        .patch(
            &format!("/api/v1/coupons/{id}"),
            json!({ "on_sale": false }),
            Some(&owner),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let e = on_b.next().await;
    assert_eq!(
        stock(&e),
        json!({ "coupon_id": id, "stock_left": 7, "held": 0, "on_sale": false })
    );
    // A change that moves neither the stock nor the switch sends nothing.
    let res = a
        .patch(
            &format!("/api/v1/coupons/{id}"),
            json!({ "name": "Renamed" }),
            Some(&owner),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(on_b.next_within(Duration::from_millis(600)).await, None);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_many_coupon_stream_follows_each_coupon(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (_, first) = coupon(&app, 5).await;
    let (_, second) = coupon(&app, 8).await;
    let mut s = stream(
        &app,
        &format!("/api/v1/coupons/live?ids={first}, {second},{first}"),
    )
    .await;
    let opening: BTreeSet<(String, i64)> = [s.next().await, s.next().await]
        .iter()
        .map(|e| {
            let d = stock(e);
            (
                d["coupon_id"].as_str().unwrap().to_string(),
                d["stock_left"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        opening,
        BTreeSet::from([(first.clone(), 5), (second.clone(), 8)])
    );
    let customer = app.customer("c@example.com").await;
    app.buy(&customer, &second, 2, None).await;
    let e = stock(&s.next().await);
    assert_eq!(
        (e["coupon_id"].as_str().unwrap(), e["stock_left"].as_i64()),
        (second.as_str(), Some(6))
    );
}

/// Many changes in a burst: at most one event per 200 ms, and the last value arrives.
#[sqlx::test(migrations = "../migrations")]
async fn changes_are_paced_and_the_last_value_always_arrives(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (_, id) = coupon(&app, 100).await;
    let coupon_id = Uuid::parse_str(&id).unwrap();
    let mut s = stream(&app, &format!("/api/v1/coupons/{id}/live")).await;
    stock(&s.next().await);
    let started = Instant::now();
    let burst = tokio::spawn(async move {
        for _ in 0..40 {
            // Each its own transaction, as 40 purchases one after the other would be.
            sqlx::query("update coupons set stock = stock - 1 where id = $1")
                .bind(coupon_id)
                .execute(&pool)
                .await
                .unwrap();
        }
    });
    let mut values = Vec::new();
    while let Some(e) = s.next_within(Duration::from_millis(800)).await {
        values.push(stock(&e)["stock_left"].as_i64().unwrap());
    }
    burst.await.unwrap();
    // Events the server may have sent since the burst began: one, then one per 200 ms.
    let allowed = (started.elapsed().as_millis() - 800) / 200 + 1;
    assert_eq!(
        values.last(),
        Some(&60),
        "the last value arrives: {values:?}"
    );
    assert!(
        values.windows(2).all(|w| w[0] > w[1]),
        "never an older value: {values:?}"
    );
    assert!(
        (values.len() as u128) <= allowed,
        "{} events within {:?}: {values:?}",
        values.len(),
        started.elapsed()
    );
}

/// The purchase batch takes the stock with one statement: one notification per batch.
#[sqlx::test(migrations = "../migrations")]
async fn a_purchase_batch_sends_one_notification(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (_, id) = coupon(&app, 50).await;
    let coupon_id = Uuid::parse_str(&id).unwrap();
    quick_customers(&pool, 10).await;
    let customers: Vec<Uuid> = sqlx::query_scalar("select id from users where role = 'customer'")
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .unwrap();
    listener.listen("coupon_live").await.unwrap();
    let batch: Vec<Purchase> = customers
        .iter()
        .map(|&customer_id| Purchase {
            customer_id,
            coupon_id,
            quantity: 2,
            idempotency_key: None,
            request_id: None,
        })
        .collect();
    let refs: Vec<&Purchase> = batch.iter().collect();
    let answers = admission::decide(&pool, coupon_id, &refs).await.unwrap();
    assert!(answers.iter().all(|a| a.is_ok()));
    let mut notes = Vec::new();
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await {
        notes.push(serde_json::from_str::<Value>(n.payload()).unwrap());
    }
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["stock_left"], 30);
}

/// The LISTEN connection is killed and a change commits meanwhile: the stream still gets
/// it (the hub reads the coupons again once it listens again).
#[sqlx::test(migrations = "../migrations")]
async fn streams_catch_up_after_the_listen_connection_breaks(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (_, id) = coupon(&app, 10).await;
    let coupon_id = Uuid::parse_str(&id).unwrap();
    let mut s = stream(&app, &format!("/api/v1/coupons/{id}/live")).await;
    stock(&s.next().await);
    let listening = || async {
        sqlx::query_scalar::<_, i32>(
            "select pid from pg_stat_activity where datname = current_database() and query ilike 'listen%'",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    // The hub connects in the background: wait until it listens.
    let mut before = listening().await;
    for _ in 0..100 {
        if !before.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        before = listening().await;
    }
    assert_eq!(before.len(), 1, "one LISTEN connection per process");
    // Killed and changed in one transaction: the change commits while the hub reconnects.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("select pg_terminate_backend($1)")
        .bind(before[0])
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("update coupons set stock = 4 where id = $1")
        .bind(coupon_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let seen = s
        .until(Duration::from_secs(10), |e| stock(e)["stock_left"] == 4)
        .await;
    assert!(!seen.is_empty());
    let after = listening().await;
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "a new LISTEN connection");
    // And it listens: the next change arrives as usual.
    sqlx::query("update coupons set stock = 3 where id = $1")
        .bind(coupon_id)
        .execute(&pool)
        .await
        .unwrap();
    s.until(Duration::from_secs(3), |e| stock(e)["stock_left"] == 3)
        .await;
}

/// Open streams end as soon as the shutdown starts: they do not hold the graceful
/// shutdown until its timeout (5 s in the tests).
#[sqlx::test(migrations = "../migrations")]
async fn open_streams_end_when_the_shutdown_starts(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (_, id) = coupon(&app, 5).await;
    let token = app.customer("c@example.com").await;
    let mut stock_stream = stream(&app, &format!("/api/v1/coupons/{id}/live")).await;
    stock_stream.next().await;
    let mut notes = SseStream::open(
        app.client
            .get(app.url("/api/v1/notifications/live"))
            .bearer_auth(&token),
    )
    .await;
    notes.next().await;

    let started = Instant::now();
    let report = app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(report, server::shutdown::Report::default());
    for s in [&mut stock_stream, &mut notes] {
        assert_eq!(s.next_within(Duration::from_secs(1)).await, None);
        assert!(s.ended, "the server ended the stream");
    }
}

/// Units that move without a purchase reach the streams too, with `held`: an order that
/// expires gives its unit to the waitlist (held, not on sale), the hold running out with
/// nobody left puts it back on sale. Through the other process's stream.
#[sqlx::test(migrations = "../migrations")]
async fn expiry_and_waitlist_holds_reach_the_stream_with_held(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    let b = TestApp::spawn(pool.clone()).await;
    let worker = crate::helpers::test_worker(&pool, "http://127.0.0.1:9");
    let (_, id) = coupon(&a, 1).await;
    let mut on_b = stream(&b, &format!("/api/v1/coupons/{id}/live")).await;
    assert_eq!(stock(&on_b.next().await)["stock_left"], 1);

    let buyer = a.customer("buyer@example.com").await;
    let res = a.buy(&buyer, &id, 1, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let order: Value = res.json().await.unwrap();
    on_b.until(Duration::from_secs(3), |e| stock(e)["stock_left"] == 0)
        .await;
    let waiter = a.customer("waiter@example.com").await;
    let res = a
        .post(
            &format!("/api/v1/coupons/{id}/waitlist"),
            json!({}),
            Some(&waiter),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // The order passes its payment deadline: the sweep expires it, its unit is held.
    sqlx::query("update orders set ordered_at = now() - interval '1 hour' where id = $1")
        .bind(Uuid::parse_str(order["id"].as_str().unwrap()).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(worker.sweep().await.unwrap().expired, 1);
    let seen = on_b
        .until(Duration::from_secs(3), |e| stock(e)["held"] == 1)
        .await;
    assert_eq!(
        stock(seen.last().unwrap()),
        json!({ "coupon_id": id, "stock_left": 0, "held": 1, "on_sale": true })
    );

    // The hold runs out and nobody else waits: back on public sale.
    sqlx::query(
        "update waitlist set hold_until = now() - interval '1 second' where coupon_id = $1",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        worker.sweep().await.unwrap().holds,
        0,
        "nobody left to hold it for"
    );
    let seen = on_b
        .until(Duration::from_secs(3), |e| stock(e)["held"] == 0)
        .await;
    assert_eq!(
        stock(seen.last().unwrap()),
        json!({ "coupon_id": id, "stock_left": 1, "held": 0, "on_sale": true })
    );
}
