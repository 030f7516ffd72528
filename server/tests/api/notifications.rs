//! Notifications: written by the database's triggers from the event log, exactly once per
//! event and only to the person concerned (the order's customer, its shop's owner, or the
//! customer a waitlist unit is held for);
//! the trigger agrees with the Rust rules for every event type; `sold_out` once per
//! sell-out; the REST endpoints and the live stream (`Last-Event-ID` replay included).

use std::collections::BTreeMap;
use std::time::Duration;

use app::domain::{CancelledBy, NotificationKind, OrderState, PaymentStatus};
use app::events::{
    self, Event, OrderCancelled, OrderExpired, PaymentCompleted, PaymentFailed, PaymentRefunded,
    PaymentVoided, RestockHeld, UnitsCancelled, VoucherExpiring, VoucherRedeemed,
};
use app::notifications::rules::{self, Recipient};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{
    NewCoupon, PASSWORD, SseStream, TestApp, TestGateway, expect_error, quick_customers, settle,
    test_worker,
};

struct Shop {
    owner: String,
    owner_id: Uuid,
    coupon: String,
}

async fn user_id(app: &TestApp, token: &str) -> Uuid {
    let me: Value = app
        .get("/api/v1/me", Some(token))
        .await
        .json()
        .await
        .unwrap();
    Uuid::parse_str(me["user_id"].as_str().unwrap()).unwrap()
}

async fn shop(app: &TestApp, email: &str, name: &str, stock: i64) -> Shop {
    let owner = app.owner(email, &format!("{name} Shop")).await;
    let mut body = NewCoupon::named(name).body();
    body["stock"] = json!(stock);
    body["price"] = json!(2500);
    let coupon = app.create_coupon(&owner, body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let owner_id = user_id(app, &owner).await;
    Shop {
        owner,
        owner_id,
        coupon,
    }
}

async fn buy_ok(app: &TestApp, token: &str, coupon: &str, qty: i64) -> String {
    let res = app.buy(token, coupon, qty, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every notification in the table, as (user, kind, order) in id order.
async fn all(pool: &PgPool) -> Vec<(Uuid, String, Option<Uuid>)> {
    sqlx::query_as("select user_id, kind, order_id from notifications order by id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn kinds_of(pool: &PgPool, user: Uuid) -> Vec<String> {
    sqlx::query_scalar("select kind from notifications where user_id = $1 order by id")
        .bind(user)
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/notifications{query}"), Some(token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// A notification row as the trigger wrote it: user, kind, order, coupon, name, amount.
type Written = (
    Uuid,
    String,
    Option<Uuid>,
    Option<Uuid>,
    String,
    Option<i64>,
);

/// One event of every type, each on its own real order (the trigger reads the order's
/// customer and shop from my page); the rows written for it must be what
/// `rules::for_event` says, to the right person.
#[sqlx::test(migrations = "../migrations")]
async fn every_event_type_notifies_as_the_rules_say(pool: PgPool) {
    /// A new event type stops this from compiling until it is listed in `samples` below.
    fn slot(e: &Event) -> usize {
        match e {
            Event::OrderPlaced(_) => 0,
            Event::PaymentCompleted(_) => 1,
            Event::PaymentFailed(_) => 2,
            Event::OrderCancelled(_) => 3,
            Event::PaymentRefunded(_) => 4,
            Event::PaymentVoided(_) => 5,
            Event::VoucherRedeemed(_) => 6,
            Event::OrderExpired(_) => 7,
            Event::RestockHeld(_) => 8,
            Event::UnitsCancelled(_) => 9,
            Event::VoucherExpiring(_) => 10,
        }
    }
    let app = TestApp::spawn(pool.clone()).await;
    let s = shop(&app, "o@example.com", "Rules", 100).await;
    let customer = app.customer("c@example.com").await;
    let customer_id = user_id(&app, &customer).await;
    let holder = app.customer("h@example.com").await;
    let holder_id = user_id(&app, &holder).await;
    let coupon_id = Uuid::parse_str(&s.coupon).unwrap();
    let cancelled = |by| {
        Event::OrderCancelled(OrderCancelled {
            state: OrderState::CANCELLED,
            by,
            reason: None,
            quantity: 1,
        })
    };
    let samples = vec![
        Event::PaymentCompleted(PaymentCompleted {
            state: OrderState::PAID,
            payment_key: "pay_1".into(),
            vouchers: vec!["AAAA-BBBB-CCCC-DDDD".into()],
        }),
        // Charged after the cancel: refunded next, nobody is told of the charge.
        Event::PaymentCompleted(PaymentCompleted {
            state: OrderState::CANCELLED,
            payment_key: "pay_2".into(),
            vouchers: vec![],
        }),
        Event::PaymentFailed(PaymentFailed {
            state: OrderState::PAYMENT_FAILED,
            reason: "DECLINED".into(),
        }),
        cancelled(CancelledBy::Customer),
        cancelled(CancelledBy::Owner),
        Event::PaymentRefunded(PaymentRefunded {
            state: OrderState::CANCELLED.with_payment(PaymentStatus::Refunded),
        }),
        Event::PaymentVoided(PaymentVoided {
            state: OrderState::CANCELLED.with_payment(PaymentStatus::Voided),
        }),
        // The last turn of an expired order: its payment was void already, nobody is told.
        Event::PaymentVoided(PaymentVoided {
            state: OrderState::EXPIRED,
        }),
        Event::VoucherRedeemed(VoucherRedeemed {
            code: "AAAA-BBBB-CCCC-DDDD".into(),
        }),
        Event::OrderExpired(OrderExpired {
            state: OrderState::EXPIRED,
            quantity: 1,
        }),
        // About the coupon, naming the customer a unit is held for (not the order's).
        Event::RestockHeld(RestockHeld {
            customer_id: holder_id,
            hold_until: chrono::Utc::now() + chrono::Duration::minutes(10),
        }),
        // Part of an order cancelled: nobody is told (a whole one tells by OrderCancelled).
        Event::UnitsCancelled(UnitsCancelled {
            by: CancelledBy::Customer,
            quantity: 1,
            refund: 2500,
            late: false,
            vouchers: vec!["AAAA-BBBB-CCCC-DDDD".into()],
        }),
        // The reminder tells the customer what stays refundable (not the order's amount).
        Event::VoucherExpiring(VoucherExpiring {
            days: 7,
            valid_until: chrono::Utc::now() + chrono::Duration::days(7),
            units: 2,
            refundable: 4500,
        }),
    ];
    let mut seen = [false; 11];
    seen[0] = true; // OrderPlaced: every order below starts with a real one.
    for e in &samples {
        seen[slot(e)] = true;
    }
    assert!(
        seen.iter().all(|s| *s),
        "a sample of every event type: {seen:?}"
    );

    // The purchases notify nobody (stock stays above 0).
    let mut orders = Vec::new();
    for _ in &samples {
        orders.push(Uuid::parse_str(&buy_ok(&app, &customer, &s.coupon, 1).await).unwrap());
    }
    assert_eq!(all(&pool).await, vec![], "OrderPlaced tells nobody");

    for (event, order) in samples.iter().zip(&orders) {
        // An event about a coupon is appended with the coupon as its aggregate.
        let about_coupon = event.aggregate_type() == "coupon";
        let aggregate = if about_coupon { coupon_id } else { *order };
        let mut conn = pool.acquire().await.unwrap();
        events::append(&mut conn, aggregate, event, None)
            .await
            .unwrap();
        let event_id: i64 =
            sqlx::query_scalar("select max(id) from events where aggregate_id = $1")
                .bind(aggregate)
                .fetch_one(&pool)
                .await
                .unwrap();
        let written: Vec<Written> = sqlx::query_as(
            "select user_id, kind, order_id, coupon_id, coupon_name, amount
                 from notifications where event_id = $1",
        )
        .bind(event_id)
        .fetch_all(&pool)
        .await
        .unwrap();
        let expected: Vec<_> = rules::for_event(event)
            .map(|(to, kind)| {
                let person = match to {
                    Recipient::Customer => customer_id,
                    Recipient::Owner => s.owner_id,
                    Recipient::Holder => holder_id,
                };
                (
                    person,
                    kind.as_str().to_string(),
                    (!about_coupon).then_some(*order),
                    Some(coupon_id),
                    "Rules".to_string(),
                    Some(match event {
                        Event::VoucherExpiring(e) => e.refundable,
                        _ => 2500,
                    }),
                )
            })
            .into_iter()
            .collect();
        assert_eq!(written, expected, "after {}", event.event_type());
    }
}

/// A whole life of orders through the real endpoints and the payment worker: each person
/// is told exactly their own events, once; nobody else hears of them.
#[sqlx::test(migrations = "../migrations")]
async fn each_person_is_told_of_their_own_events_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&pool, &gw.url());
    let s = shop(&app, "o@example.com", "Journey", 3).await;
    let other_shop = shop(&app, "o2@example.com", "Elsewhere", 10).await;
    let alice = app.customer("alice@example.com").await;
    let bob = app.customer("bob@example.com").await;
    let carol = app.customer("carol@example.com").await;
    let (alice_id, bob_id, carol_id) = (
        user_id(&app, &alice).await,
        user_id(&app, &bob).await,
        user_id(&app, &carol).await,
    );

    // Alice buys 2 and is paid; Bob buys the last unit (sold out) and is declined.
    let paid = buy_ok(&app, &alice, &s.coupon, 2).await;
    settle(&worker, &pool, 10).await;
    gw.set_mode(|m| m.decline_all = true);
    buy_ok(&app, &bob, &s.coupon, 1).await;
    settle(&worker, &pool, 10).await;
    gw.set_mode(|m| m.decline_all = false);
    // The decline gave the unit back; Bob buys it again and cancels before any charge.
    let voided = buy_ok(&app, &bob, &s.coupon, 1).await;
    let res = app.cancel(&voided, &bob).await;
    assert_eq!(res.status(), StatusCode::OK);
    settle(&worker, &pool, 10).await;
    // The shop redeems one of Alice's vouchers, then refunds her other order.
    let second = buy_ok(&app, &alice, &s.coupon, 1).await;
    settle(&worker, &pool, 10).await;
    let items: Value = app
        .get("/api/v1/mypage", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    let row = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["order_id"] == paid.as_str())
        .unwrap()
        .clone();
    let code = row["vouchers"][0]["code"].as_str().unwrap();
    let res = app
        .post(
            "/api/v1/vouchers/redeem",
            json!({ "code": code }),
            Some(&s.owner),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post(
            &format!("/api/v1/owner/orders/{second}/refund"),
            json!({}),
            Some(&s.owner),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    settle(&worker, &pool, 10).await;

    assert_eq!(
        kinds_of(&pool, alice_id).await,
        [
            "payment_completed",
            "payment_completed",
            "voucher_redeemed",
            "refunded"
        ]
    );
    assert_eq!(
        kinds_of(&pool, bob_id).await,
        ["payment_failed", "payment_voided"]
    );
    // Sold out three times (Bob's two purchases of the last unit, Alice's after the void);
    // the shop is told of Bob's cancel, not of its own refund.
    assert_eq!(
        kinds_of(&pool, s.owner_id).await,
        ["sold_out", "sold_out", "order_cancelled", "sold_out"]
    );
    assert_eq!(kinds_of(&pool, carol_id).await, Vec::<String>::new());
    assert_eq!(
        kinds_of(&pool, other_shop.owner_id).await,
        Vec::<String>::new()
    );

    // Through the API: each sees their own only.
    for (token, n) in [
        (&alice, 4),
        (&bob, 2),
        (&s.owner, 4),
        (&carol, 0),
        (&other_shop.owner, 0),
    ] {
        let body = list(&app, token, "").await;
        assert_eq!(body["items"].as_array().unwrap().len(), n, "{body}");
        assert_eq!(body["unread"], n);
    }
    let bob_items = list(&app, &bob, "").await;
    let first = &bob_items["items"][1];
    assert_eq!(first["kind"], "payment_failed");
    assert_eq!(first["coupon_id"], s.coupon.as_str());
    assert_eq!(first["coupon_name"], "Journey");
    assert_eq!(first["amount"], 2500);
    assert!(first["created_at"].is_string() && first["read_at"].is_null());
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "id",
        "kind",
        "order_id",
        "coupon_id",
        "created_at",
        "read_at",
    ] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    // Someone else's notification cannot be marked read: 404, and it stays unread.
    let bobs = first["id"].as_i64().unwrap();
    for token in [&alice, &s.owner] {
        expect_error(
            app.post(
                &format!("/api/v1/notifications/{bobs}/read"),
                json!({}),
                Some(token),
            )
            .await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    assert_eq!(list(&app, &bob, "").await["unread"], 2);
    // Nothing was written twice.
    let rows = all(&pool).await;
    let mut per_order: BTreeMap<String, usize> = BTreeMap::new();
    for (user, kind, order) in &rows {
        *per_order
            .entry(format!("{user}/{kind}/{order:?}"))
            .or_default() += 1;
    }
    assert_eq!(rows.len(), 10);
    assert!(per_order.values().all(|n| *n == 1), "{per_order:?}");
}

/// The waitlist's and the deadline's notifications go to their customer only: the order
/// that expires tells its buyer (`order_expired`), the unit it gives back tells the first
/// in line (`restock_hold`, live on their stream too); the shop hears of neither, and
/// other customers and owners see nothing and cannot mark them read.
#[sqlx::test(migrations = "../migrations")]
async fn expiry_and_restock_holds_are_told_to_their_customer_only(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let worker = test_worker(&pool, "http://127.0.0.1:9");
    let s = shop(&app, "o@example.com", "Line", 1).await;
    let other_shop = shop(&app, "o2@example.com", "Elsewhere", 10).await;
    let alice = app.customer("alice@example.com").await;
    let bob = app.customer("bob@example.com").await;
    let carol = app.customer("carol@example.com").await;
    let (alice_id, bob_id, carol_id) = (
        user_id(&app, &alice).await,
        user_id(&app, &bob).await,
        user_id(&app, &carol).await,
    );

    // Alice takes the only unit; Bob and then Carol wait for it.
    let order = buy_ok(&app, &alice, &s.coupon, 1).await;
    for token in [&bob, &carol] {
        let res = app
            .post(
                &format!("/api/v1/coupons/{}/waitlist", s.coupon),
                json!({}),
                Some(token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let mut bobs_stream = SseStream::open(
        app.client
            .get(app.url("/api/v1/notifications/live"))
            .bearer_auth(&bob),
    )
    .await;
    assert_eq!(bobs_stream.next().await.json(), json!({ "unread": 0 }));

    // Alice never pays: past the deadline the sweep expires her order.
    sqlx::query("update orders set ordered_at = now() - interval '1 hour' where id = $1")
        .bind(Uuid::parse_str(&order).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(worker.sweep().await.unwrap().expired, 1);
    // Swept again: nothing more.
    worker.sweep().await.unwrap();

    assert_eq!(kinds_of(&pool, alice_id).await, ["order_expired"]);
    assert_eq!(kinds_of(&pool, bob_id).await, ["restock_hold"]);
    assert_eq!(kinds_of(&pool, carol_id).await, Vec::<String>::new());
    assert_eq!(kinds_of(&pool, s.owner_id).await, ["sold_out"]);
    assert_eq!(
        kinds_of(&pool, other_shop.owner_id).await,
        Vec::<String>::new()
    );

    // Bob's stream tells the hold as it happens.
    let item = bobs_stream.next().await;
    assert_eq!(item.event, "notification");
    let n = item.json();
    assert_eq!(n["kind"], "restock_hold");
    assert_eq!(n["coupon_id"], s.coupon.as_str());
    assert!(n["order_id"].is_null());
    assert_eq!(n["coupon_name"], "Line");
    assert_eq!(bobs_stream.next().await.json(), json!({ "unread": 1 }));

    // Through the API each sees their own only.
    let alices = list(&app, &alice, "").await;
    assert_eq!(alices["items"].as_array().unwrap().len(), 1, "{alices}");
    assert_eq!(alices["items"][0]["kind"], "order_expired");
    assert_eq!(alices["items"][0]["order_id"], order.as_str());
    for (token, n) in [
        (&bob, 1),
        (&carol, 0),
        (&s.owner, 1),
        (&other_shop.owner, 0),
    ] {
        let body = list(&app, token, "").await;
        assert_eq!(body["items"].as_array().unwrap().len(), n, "{body}");
        assert_eq!(body["unread"], n);
    }
    // Nobody else can mark Alice's or Bob's read.
    for (mine, others) in [
        (&alice, [&bob, &carol, &s.owner]),
        (&bob, [&alice, &carol, &s.owner]),
    ] {
        let id = list(&app, mine, "").await["items"][0]["id"]
            .as_i64()
            .unwrap();
        for token in others {
            expect_error(
                app.post(
                    &format!("/api/v1/notifications/{id}/read"),
                    json!({}),
                    Some(token),
                )
                .await,
                StatusCode::NOT_FOUND,
                "not_found",
            )
            .await;
        }
        assert_eq!(list(&app, mine, "").await["unread"], 1);
    }
}

/// `sold_out` once per sell-out, also when many buy the last units at once; not when the
/// owner sets the stock to 0 or a purchase is refused.
#[sqlx::test(migrations = "../migrations")]
async fn sold_out_is_told_once_per_sell_out(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let s = shop(&app, "o@example.com", "Rush", 5).await;
    let buyers = quick_customers(&pool, 40).await;
    let answers = join_all(buyers.iter().map(|t| app.buy(t, &s.coupon, 1, None))).await;
    let created = answers
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    assert_eq!(created, 5);
    assert_eq!(kinds_of(&pool, s.owner_id).await, ["sold_out"]);
    let sold_out: (Option<Uuid>, Option<Uuid>) =
        sqlx::query_as("select order_id, coupon_id from notifications where kind = 'sold_out'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(sold_out.1.unwrap().to_string(), s.coupon);
    // The order named is the one that took the last unit: the newest of the coupon.
    let last: Uuid = sqlx::query_scalar(
        "select aggregate_id from events where event_type = 'OrderPlaced' order by id desc limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(sold_out.0, Some(last));

    // Refused purchases at 0 add nothing; the owner emptying the stock is no sell-out.
    assert_eq!(
        app.buy(&buyers[0], &s.coupon, 1, None).await.status(),
        StatusCode::CONFLICT
    );
    for stock in [3, 0] {
        let res = app
            .patch(
                &format!("/api/v1/coupons/{}", s.coupon),
                json!({ "stock": stock }),
                Some(&s.owner),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(kinds_of(&pool, s.owner_id).await, ["sold_out"]);
    // Restocked and sold out again: told again.
    app.patch(
        &format!("/api/v1/coupons/{}", s.coupon),
        json!({ "stock": 2 }),
        Some(&s.owner),
    )
    .await;
    buy_ok(&app, &buyers[1], &s.coupon, 1).await;
    assert_eq!(kinds_of(&pool, s.owner_id).await, ["sold_out"]);
    buy_ok(&app, &buyers[2], &s.coupon, 1).await;
    assert_eq!(kinds_of(&pool, s.owner_id).await, ["sold_out", "sold_out"]);
}

/// The kinds of the Rust enum are exactly those the table accepts.
#[sqlx::test(migrations = "../migrations")]
async fn the_kinds_agree_with_the_database(pool: PgPool) {
    for kind in NotificationKind::ALL {
        sqlx::query(
            "insert into notifications (user_id, kind, coupon_name, event_id) values ($1, $2, 'C', 1)",
        )
        .bind(Uuid::new_v4())
        .bind(kind.as_str())
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    }
    let check: String = sqlx::query_scalar(
        "select pg_get_constraintdef(oid) from pg_constraint where conrelid = 'notifications'::regclass and contype = 'c'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        check.matches("'::text").count(),
        NotificationKind::ALL.len(),
        "the check lists exactly the Rust kinds: {check}"
    );
    let err = sqlx::query(
        "insert into notifications (user_id, kind, coupon_name, event_id) values ($1, 'shipped', 'C', 1)",
    )
    .bind(Uuid::new_v4())
    .execute(&pool)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("check"), "{err}");
}

async fn notify_n(pool: &PgPool, user: Uuid, n: usize) {
    for i in 0..n {
        sqlx::query(
            "insert into notifications (user_id, kind, order_id, coupon_id, coupon_name, amount, event_id)
             values ($1, 'payment_completed', gen_random_uuid(), gen_random_uuid(), $2, 1000,
                     (random() * 1e12)::bigint)",
        )
        .bind(user)
        .bind(format!("Coupon {i}"))
        .execute(pool)
        .await
        .unwrap();
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_list_pages_back_and_marks_read(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let token = app.customer("c@example.com").await;
    let other = app.customer("d@example.com").await;
    let me = user_id(&app, &token).await;
    notify_n(&pool, me, 5).await;
    notify_n(&pool, user_id(&app, &other).await, 2).await;

    let first = list(&app, &token, "?limit=2").await;
    let ids: Vec<i64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] > ids[1], "newest first");
    assert_eq!(first["unread"], 5);
    let next = list(&app, &token, &format!("?limit=2&before={}", ids[1])).await;
    let more: Vec<i64> = next["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(more.len(), 2);
    assert!(more[0] < ids[1]);
    let rest = list(&app, &token, &format!("?before={}", more[1])).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);

    let res = app
        .post(
            &format!("/api/v1/notifications/{}/read", ids[0]),
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let again = app
        .post(
            &format!("/api/v1/notifications/{}/read", ids[0]),
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(
        again.status(),
        StatusCode::NO_CONTENT,
        "reading twice is fine"
    );
    let after = list(&app, &token, "?limit=1").await;
    assert_eq!(after["unread"], 4);
    assert!(after["items"][0]["read_at"].is_string());
    for missing in ["999999", "abc"] {
        expect_error(
            app.post(
                &format!("/api/v1/notifications/{missing}/read"),
                json!({}),
                Some(&token),
            )
            .await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let res = app
        .post("/api/v1/notifications/read-all", json!({}), Some(&token))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(list(&app, &token, "").await["unread"], 0);
    assert_eq!(
        list(&app, &other, "").await["unread"],
        2,
        "only my own were marked"
    );

    for query in ["?limit=0", "?limit=101", "?before=x"] {
        expect_error(
            app.get(&format!("/api/v1/notifications{query}"), Some(&token))
                .await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
    for (method, path) in [
        ("GET", "/api/v1/notifications"),
        ("GET", "/api/v1/notifications/live"),
        ("POST", "/api/v1/notifications/read-all"),
        ("POST", "/api/v1/notifications/1/read"),
    ] {
        let res = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

/// The stream: `unread` first, then each new notification followed by the new count;
/// marking read sends the count; `Last-Event-ID` replays what was missed.
#[sqlx::test(migrations = "../migrations")]
async fn the_live_stream_tells_each_change_and_replays_what_was_missed(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let token = app.customer("c@example.com").await;
    let me = user_id(&app, &token).await;
    notify_n(&pool, me, 2).await;
    let open = |last: Option<String>| {
        let mut req = app
            .client
            .get(app.url("/api/v1/notifications/live"))
            .bearer_auth(&token);
        if let Some(id) = last {
            req = req.header("Last-Event-ID", id);
        }
        SseStream::open(req)
    };
    let mut s = open(None).await;
    let first = s.next().await;
    assert_eq!(
        (first.event.as_str(), first.json()),
        ("unread", json!({ "unread": 2 }))
    );
    let cursor = first.id.clone().unwrap();
    assert_eq!(
        s.next_within(Duration::from_millis(300)).await,
        None,
        "no backlog without Last-Event-ID"
    );

    // A new one: the item, then the count.
    let other = app.customer("d@example.com").await;
    notify_n(&pool, user_id(&app, &other).await, 1).await;
    sqlx::query(
        "insert into notifications (user_id, kind, coupon_name, event_id) values ($1, 'sold_out', 'Fresh', 77)",
    )
    .bind(me)
    .execute(&pool)
    .await
    .unwrap();
    let item = s.next().await;
    assert_eq!(item.event, "notification");
    let n = item.json();
    assert_eq!(
        (n["kind"].as_str(), n["coupon_name"].as_str()),
        (Some("sold_out"), Some("Fresh"))
    );
    assert_eq!(
        item.id.as_deref(),
        Some(n["id"].as_i64().unwrap().to_string().as_str())
    );
    let count = s.next().await;
    assert_eq!(
        (count.event.as_str(), count.json()),
        ("unread", json!({ "unread": 3 }))
    );
    assert_eq!(count.id, item.id);

    // Marking read (here, over the API) sends the count.
    let res = app
        .post("/api/v1/notifications/read-all", json!({}), Some(&token))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let count = s.next().await;
    assert_eq!(
        (count.event.as_str(), count.json()),
        ("unread", json!({ "unread": 0 }))
    );
    drop(s);

    // Missed while away: replayed after the count, oldest first.
    notify_n(&pool, me, 2).await;
    let mut back = open(Some(cursor)).await;
    let e = back.next().await;
    assert_eq!(
        (e.event.as_str(), e.json()),
        ("unread", json!({ "unread": 2 }))
    );
    let replayed: Vec<String> = [back.next().await, back.next().await, back.next().await]
        .iter()
        .map(|e| {
            assert_eq!(e.event, "notification");
            e.json()["coupon_name"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(replayed, ["Fresh", "Coupon 0", "Coupon 1"]);
    assert_eq!(back.next_within(Duration::from_millis(300)).await, None);
}

/// A browser's `EventSource` sends the session cookie, no token.
#[sqlx::test(migrations = "../migrations")]
async fn the_live_stream_takes_the_browser_session(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let token = app.customer("s@example.com").await;
    notify_n(&pool, user_id(&app, &token).await, 1).await;
    let browser = app.browser();
    let res = browser
        .post(app.url("/sfn/auth/login"))
        .header("accept", "text/html")
        .header("referer", app.url("/login"))
        .form(&[("email", "s@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let mut s = SseStream::open(browser.get(app.url("/api/v1/notifications/live"))).await;
    let e = s.next().await;
    assert_eq!(
        (e.event.as_str(), e.json()),
        ("unread", json!({ "unread": 1 }))
    );
    // Without a session or a token: 401.
    let visitor = app.browser();
    let res = visitor
        .get(app.url("/api/v1/notifications/live"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
