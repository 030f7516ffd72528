//! Partial cancellation and refunds (issue 13, section 3): `POST /api/v1/orders/{id}/cancel`
//! with `{"quantity": k}`, the refunds the payment worker gives back (their amounts, each
//! once), the database's refusal of refunds beyond what was paid (also under concurrent
//! cancels), refunds at 90% after the use-by date and none after 5 years, the reminders
//! before the use-by date; and section 4's QR codes and the redeem answer.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{
    NewCoupon, TestApp, TestGateway, expect_error, plain_client, settle, test_worker,
};

const PRICE: i64 = 15000;

async fn buy_ok(app: &TestApp, token: &str, coupon: &str, qty: i64) -> String {
    let res = app.buy(token, coupon, qty, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn row(app: &TestApp, token: &str, order: &str) -> Value {
    let body: Value = app
        .get("/api/v1/mypage", Some(token))
        .await
        .json()
        .await
        .unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["order_id"] == order)
        .cloned()
        .expect("the order's row")
}

async fn cancel_units(app: &TestApp, token: &str, order: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/api/v1/orders/{order}/cancel"), body, Some(token))
        .await
}

/// The statuses of the row's vouchers, sorted (which units go is not part of the contract).
fn statuses(row: &Value) -> Vec<String> {
    let mut all: Vec<String> = row["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status"].as_str().unwrap().to_string())
        .collect();
    all.sort();
    all
}

fn codes_with(row: &Value, status: &str) -> Vec<String> {
    row["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["status"] == status)
        .map(|v| v["code"].as_str().unwrap().to_string())
        .collect()
}

/// The gateway's refunds of the order: their amounts.
async fn refunds_at_gateway(gw: &TestGateway, order: &str) -> Vec<i64> {
    gw.gateway
        .ledger()
        .await
        .entries
        .into_iter()
        .filter(|e| e.order_id == order && e.kind == paygate::LedgerKind::Refund)
        .map(|e| e.amount)
        .collect()
}

async fn check_invariants(pool: &PgPool, gw: &TestGateway, coupon: &str, stock: i64) {
    invariants::verify(
        pool,
        invariants::Scope::Coupon(coupon.parse().unwrap()),
        &gw.gateway.ledger().await,
        &invariants::Expect {
            initial_stock: Some(stock),
            settled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .assert_holds();
}

#[sqlx::test(migrations = "../migrations")]
async fn part_of_a_paid_order_is_cancelled_and_refunded_by_its_price(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let shop = NewCoupon::named("Partial")
        .stock(10)
        .create_in_shop(&app, "o@example.com", "Partial Shop")
        .await;
    let token = app.customer("c@example.com").await;
    let other = app.customer("other@example.com").await;
    let order = buy_ok(&app, &token, &shop.id, 3).await;
    settle(&worker, &pool, 10).await;

    // Someone else's order, and bad numbers: nothing changes.
    expect_error(
        cancel_units(&app, &other, &order, json!({"quantity": 1})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for bad in [0, -1, 4, 101] {
        expect_error(
            cancel_units(&app, &token, &order, json!({"quantity": bad})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    for bad in [json!({"quantity": "1"}), json!({"units": 1}), json!([1])] {
        let res = cancel_units(&app, &token, &order, bad.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(app.stock(&shop.id).await, 7);

    // One of three: still paid, one unit's price owed back, its voucher void.
    let res = cancel_units(&app, &token, &order, json!({"quantity": 1})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let view: Value = res.json().await.unwrap();
    assert_eq!(
        (view["status"].as_str(), view["quantity"].as_i64()),
        (Some("paid"), Some(3))
    );
    assert_eq!(app.stock(&shop.id).await, 8, "the unit came back");
    let r = row(&app, &token, &order).await;
    assert_eq!(r["cancelled_quantity"], 1);
    assert_eq!(r["refunded_amount"], PRICE);
    assert_eq!(r["status"], "paid");
    assert_eq!(statuses(&r), ["active", "active", "cancelled"]);
    settle(&worker, &pool, 10).await;
    assert_eq!(refunds_at_gateway(&gw, &order).await, [PRICE]);
    assert_eq!(
        app.order_status(&order).await,
        ("paid".into(), "completed".into())
    );

    // The void voucher is refused at the counter; a live one is redeemed, and the answer
    // names the coupon and the customer.
    let void = codes_with(&r, "cancelled").remove(0);
    expect_error(
        app.post(
            "/api/v1/vouchers/redeem",
            json!({"code": void}),
            Some(&shop.owner),
        )
        .await,
        StatusCode::CONFLICT,
        "voucher_cancelled",
    )
    .await;
    let live = codes_with(&r, "active");
    let res = app
        .post(
            "/api/v1/vouchers/redeem",
            json!({"code": live[0]}),
            Some(&shop.owner),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let redeemed: Value = res.json().await.unwrap();
    assert_eq!(redeemed["code"], live[0].as_str());
    assert_eq!(redeemed["coupon_name"], "Partial");
    assert_eq!(redeemed["coupon_id"], shop.id.as_str());
    assert_eq!(redeemed["customer_name"], "Tester");
    assert_eq!(redeemed["order_id"], order.as_str());

    // A redeemed unit cannot be cancelled: all remaining units (the default) or two of
    // them take it in.
    for body in [json!({}), json!({"quantity": 2})] {
        expect_error(
            cancel_units(&app, &token, &order, body).await,
            StatusCode::CONFLICT,
            "voucher_redeemed",
        )
        .await;
    }
    // The last unused one can: the order stays paid (a unit was used).
    let res = cancel_units(&app, &token, &order, json!({"quantity": 1})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let r = row(&app, &token, &order).await;
    assert_eq!(r["status"], "paid");
    assert_eq!(
        (
            r["cancelled_quantity"].as_i64(),
            r["refunded_amount"].as_i64()
        ),
        (Some(2), Some(2 * PRICE))
    );
    assert_eq!(statuses(&r), ["cancelled", "cancelled", "redeemed"]);
    expect_error(
        cancel_units(&app, &token, &order, json!({"quantity": 1})).await,
        StatusCode::CONFLICT,
        "voucher_redeemed",
    )
    .await;
    settle(&worker, &pool, 10).await;
    assert_eq!(refunds_at_gateway(&gw, &order).await, [PRICE, PRICE]);
    assert_eq!(app.stock(&shop.id).await, 9);
    check_invariants(&pool, &gw, &shop.id, 10).await;
    // The shop's figures: one unit sold, its price earned.
    let dash: Value = app
        .get("/api/v1/owner/dashboard", Some(&shop.owner))
        .await
        .json()
        .await
        .unwrap();
    let stats = &dash["coupons"][0];
    assert_eq!(
        (stats["sold"].as_i64(), stats["revenue"].as_i64()),
        (Some(1), Some(PRICE))
    );
    assert_eq!(
        (
            dash["sales"][0]["units"].as_i64(),
            dash["sales"][0]["revenue"].as_i64()
        ),
        (Some(1), Some(PRICE))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn cancelling_the_last_units_cancels_the_order(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let shop = NewCoupon::named("Whole")
        .stock(5)
        .create_in_shop(&app, "o@example.com", "Whole Shop")
        .await;
    let token = app.customer("c@example.com").await;
    let order = buy_ok(&app, &token, &shop.id, 2).await;
    settle(&worker, &pool, 10).await;
    let res = cancel_units(&app, &token, &order, json!({"quantity": 1})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "paid");
    let res = cancel_units(&app, &token, &order, json!({"quantity": 1})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "cancelled");
    expect_error(
        cancel_units(&app, &token, &order, json!({"quantity": 1})).await,
        StatusCode::CONFLICT,
        "already_cancelled",
    )
    .await;
    settle(&worker, &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("cancelled".into(), "refunded".into())
    );
    assert_eq!(refunds_at_gateway(&gw, &order).await, [PRICE, PRICE]);
    let r = row(&app, &token, &order).await;
    assert_eq!(
        (
            r["cancelled_quantity"].as_i64(),
            r["refunded_amount"].as_i64()
        ),
        (Some(2), Some(2 * PRICE))
    );
    assert_eq!(r["payment_status"], "refunded");
    assert_eq!(statuses(&r), ["cancelled", "cancelled"]);
    assert_eq!(app.stock(&shop.id).await, 5);
    // The customer hears of the refund once; the shop of the cancellation once.
    let kinds: Vec<String> =
        sqlx::query_scalar("select kind from notifications where order_id = $1 order by id")
            .bind(Uuid::parse_str(&order).unwrap())
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(kinds, ["payment_completed", "order_cancelled", "refunded"]);
    check_invariants(&pool, &gw, &shop.id, 5).await;
}

/// An unpaid order has no vouchers yet, and its charge may be under way for the whole
/// amount: it is cancelled whole (its stock back, nothing to refund), never in part.
#[sqlx::test(migrations = "../migrations")]
async fn an_unpaid_order_is_cancelled_whole_only(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let shop = NewCoupon::named("Unpaid")
        .stock(5)
        .create_in_shop(&app, "o@example.com", "Unpaid Shop")
        .await;
    let token = app.customer("c@example.com").await;
    let order = buy_ok(&app, &token, &shop.id, 2).await;
    expect_error(
        cancel_units(&app, &token, &order, json!({"quantity": 1})).await,
        StatusCode::CONFLICT,
        "partial_cancel_unpaid",
    )
    .await;
    assert_eq!(app.stock(&shop.id).await, 3);
    let res = cancel_units(&app, &token, &order, json!({"quantity": 2})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.stock(&shop.id).await, 5);
    let r = row(&app, &token, &order).await;
    assert_eq!(
        (
            r["cancelled_quantity"].as_i64(),
            r["refunded_amount"].as_i64()
        ),
        (Some(2), Some(0))
    );
    settle(&worker, &pool, 10).await;
    assert_eq!(
        app.order_status(&order).await,
        ("cancelled".into(), "voided".into())
    );
    assert!(refunds_at_gateway(&gw, &order).await.is_empty());
    let owed: i64 = sqlx::query_scalar("select count(*) from refunds")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(owed, 0);
    check_invariants(&pool, &gw, &shop.id, 5).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn after_the_use_by_date_units_refund_ninety_percent_for_five_years(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let shop = NewCoupon::named("Late")
        .stock(5)
        .create_in_shop(&app, "o@example.com", "Late Shop")
        .await;
    let token = app.customer("c@example.com").await;
    let order = buy_ok(&app, &token, &shop.id, 3).await;
    settle(&worker, &pool, 10).await;
    let id = Uuid::parse_str(&order).unwrap();
    sqlx::query("update vouchers set valid_until = now() - interval '1 day' where order_id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let res = cancel_units(&app, &token, &order, json!({"quantity": 2})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let r = row(&app, &token, &order).await;
    assert_eq!(r["refunded_amount"], 2 * PRICE * 9 / 10);
    settle(&worker, &pool, 10).await;
    assert_eq!(refunds_at_gateway(&gw, &order).await, [2 * PRICE * 9 / 10]);
    let late: bool = sqlx::query_scalar("select late from refunds where order_id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(late);

    // Five years and a day after the purchase: nothing is owed any more.
    sqlx::query("update orders set ordered_at = now() - interval '5 years 1 day' where id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    expect_error(
        cancel_units(&app, &token, &order, json!({"quantity": 1})).await,
        StatusCode::CONFLICT,
        "refund_period_over",
    )
    .await;
    // Just within the five years: still refundable, at 90%; the last unit cancels the
    // order, and its charge's remaining 10% stays with the shop (never refunded whole).
    sqlx::query("update orders set ordered_at = now() - interval '5 years' + interval '1 hour' where id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let res = cancel_units(&app, &token, &order, json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    settle(&worker, &pool, 10).await;
    assert_eq!(
        refunds_at_gateway(&gw, &order).await,
        [2 * PRICE * 9 / 10, PRICE * 9 / 10]
    );
    assert_eq!(
        app.order_status(&order).await,
        ("cancelled".into(), "refunded".into())
    );
    let r = row(&app, &token, &order).await;
    assert_eq!(r["refunded_amount"], 3 * PRICE * 9 / 10);
}

/// Many cancels of one order at once: each unit is refunded once, the refunds add up to
/// what was paid, never more.
#[sqlx::test(migrations = "../migrations")]
async fn concurrent_partial_cancels_never_refund_more_than_was_paid(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let shop = NewCoupon::named("Race")
        .stock(10)
        .create_in_shop(&app, "o@example.com", "Race Shop")
        .await;
    let token = app.customer("c@example.com").await;
    let order = buy_ok(&app, &token, &shop.id, 3).await;
    settle(&worker, &pool, 10).await;
    let answers = join_all((0..12).map(|i| {
        let body = json!({ "quantity": 1 + i % 2 });
        cancel_units(&app, &token, &order, body)
    }))
    .await;
    let mut cancelled = 0;
    for res in answers {
        match res.status() {
            StatusCode::OK => cancelled += 1,
            StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY => {}
            other => panic!("unexpected {other}: {}", res.text().await.unwrap()),
        }
    }
    assert!(
        (2..=3).contains(&cancelled),
        "{cancelled} cancels went through"
    );
    let id = Uuid::parse_str(&order).unwrap();
    let (units, owed): (i32, i64) = sqlx::query_as(
        "select o.cancelled_quantity, (select sum(amount)::bigint from refunds r where r.order_id = o.id)
         from orders o where o.id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((units, owed), (3, 3 * PRICE));
    settle(&worker, &pool, 10).await;
    let given = refunds_at_gateway(&gw, &order).await;
    assert_eq!(given.iter().sum::<i64>(), 3 * PRICE);
    assert_eq!(
        app.order_status(&order).await,
        ("cancelled".into(), "refunded".into())
    );
    assert_eq!(app.stock(&shop.id).await, 10);
    check_invariants(&pool, &gw, &shop.id, 10).await;
}

/// The database's own guard: refunds of one order that would add up to more than it was
/// paid are refused, whatever writes them, also from two transactions at once.
#[sqlx::test(migrations = "../migrations")]
async fn the_database_refuses_refunds_beyond_what_was_paid(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let shop = NewCoupon::named("Guard")
        .stock(10)
        .create_in_shop(&app, "o@example.com", "Guard Shop")
        .await;
    let token = app.customer("c@example.com").await;
    let order = Uuid::parse_str(&buy_ok(&app, &token, &shop.id, 2).await).unwrap();
    settle(&worker, &pool, 10).await;
    let insert =
        "insert into refunds (id, order_id, quantity, amount, late) values ($1, $2, 1, $3, false)";
    // Two transactions of 20,000 each on a 30,000 order: the second waits for the first
    // and is refused once it committed.
    let mut first = app.app_pool.begin().await.unwrap();
    sqlx::query(insert)
        .bind(Uuid::new_v4())
        .bind(order)
        .bind(20000i64)
        .execute(&mut *first)
        .await
        .unwrap();
    let second = {
        let pool = app.app_pool.clone();
        tokio::spawn(async move {
            sqlx::query(insert)
                .bind(Uuid::new_v4())
                .bind(order)
                .bind(20000i64)
                .execute(&pool)
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!second.is_finished(), "the second waits for the first");
    first.commit().await.unwrap();
    let err = second.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("would add up to"), "{err}");
    // Exactly the rest is accepted; one won more is not.
    let rest = sqlx::query(insert)
        .bind(Uuid::new_v4())
        .bind(order)
        .bind(10000i64)
        .execute(&pool)
        .await;
    assert!(rest.is_ok());
    let over = sqlx::query(insert)
        .bind(Uuid::new_v4())
        .bind(order)
        .bind(1i64)
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(over.to_string().contains("would add up to"), "{over}");
    // Nor can a refund be raised afterwards.
    let raise = sqlx::query("update refunds set amount = amount + 1 where order_id = $1")
        .bind(order)
        .execute(&pool)
        .await;
    assert!(raise.is_err());
}

async fn reminders(pool: &PgPool) -> Vec<(String, Option<i64>, Uuid)> {
    sqlx::query_as(
        "select kind, amount, order_id from notifications where kind = 'voucher_expiring' order by id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn customers_are_reminded_once_at_thirty_and_at_seven_days(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let shop = NewCoupon::named("Remind")
        .stock(10)
        .create_in_shop(&app, "o@example.com", "Remind Shop")
        .await;
    let token = app.customer("c@example.com").await;
    let soon = Uuid::parse_str(&buy_ok(&app, &token, &shop.id, 2).await).unwrap();
    let later = Uuid::parse_str(&buy_ok(&app, &token, &shop.id, 1).await).unwrap();
    let used = Uuid::parse_str(&buy_ok(&app, &token, &shop.id, 1).await).unwrap();
    settle(&worker, &pool, 10).await;
    let until = |order: Uuid, days: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query("update vouchers set valid_until = now() + make_interval(days => $2::int) where order_id = $1")
                .bind(order)
                .bind(days as i32)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    until(soon, 40).await;
    until(later, 40).await;
    until(used, 20).await;
    sqlx::query("update vouchers set redeemed_at = now() where order_id = $1")
        .bind(used)
        .execute(&pool)
        .await
        .unwrap();
    worker.sweep().await.unwrap();
    assert_eq!(
        reminders(&pool).await,
        [],
        "none 40 days before, none for used vouchers"
    );

    // 29 days before: the 30-day reminder, once, with the 90% that stays refundable.
    until(soon, 29).await;
    assert_eq!(worker.sweep().await.unwrap().reminders, 1);
    worker.sweep().await.unwrap();
    let ninety = 2 * PRICE * 9 / 10;
    assert_eq!(
        reminders(&pool).await,
        [("voucher_expiring".to_string(), Some(ninety), soon)]
    );
    // 6 days before: the 7-day one, once.
    until(soon, 6).await;
    assert_eq!(worker.sweep().await.unwrap().reminders, 1);
    assert_eq!(worker.sweep().await.unwrap().reminders, 0);
    assert_eq!(reminders(&pool).await.len(), 2);
    // Another order first seen 5 days before gets only the 7-day reminder; a cancelled
    // voucher is not reminded of (only the live unit counts).
    until(later, 5).await;
    worker.sweep().await.unwrap();
    worker.sweep().await.unwrap();
    let all = reminders(&pool).await;
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[2],
        ("voucher_expiring".to_string(), Some(PRICE * 9 / 10), later)
    );
    let days: Vec<i32> =
        sqlx::query_scalar("select days from voucher_reminders order by created_at, days")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(days, [30, 7, 7]);
    // The notification reads as the customer sees it.
    let listed: Value = app
        .get("/api/v1/notifications", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert!(listed.to_string().contains("voucher_expiring"), "{listed}");
}

#[sqlx::test(migrations = "../migrations")]
async fn active_vouchers_have_a_qr_code_for_their_customer_only(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&app.app_pool, &gw.url());
    let shop = NewCoupon::named("QR")
        .stock(10)
        .create_in_shop(&app, "o@example.com", "QR Shop")
        .await;
    let token = app.customer("c@example.com").await;
    app.customer("other@example.com").await;
    let order = buy_ok(&app, &token, &shop.id, 2).await;
    settle(&worker, &pool, 10).await;
    let res = cancel_units(&app, &token, &order, json!({"quantity": 1})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let r = row(&app, &token, &order).await;
    let (live, void) = (codes_with(&r, "active"), codes_with(&r, "cancelled"));

    let browser = app.browser();
    let res = app.log_in(&browser, "c@example.com").send().await;
    assert!(res.status().is_success() || res.status().is_redirection());
    let qr = |client: &reqwest::Client, code: &str| {
        client
            .get(app.url(&format!("/api/v1/mypage/vouchers/{code}/qr.svg")))
            .send()
    };
    let res = qr(&browser, &live[0]).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    let svg = res.text().await.unwrap();
    assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    // A void voucher has none; nor has a stranger, or someone signed out.
    assert_eq!(
        qr(&browser, &void[0]).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let stranger = app.browser();
    app.log_in(&stranger, "other@example.com").send().await;
    assert_eq!(
        qr(&stranger, &live[0]).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        qr(&plain_client(), &live[0]).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // My page shows the QR of the live voucher only; its page shows it full screen.
    let page = browser
        .get(app.url("/mypage"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("/api/v1/mypage/vouchers/{}/qr.svg", live[0])));
    assert!(!page.contains(&format!("/api/v1/mypage/vouchers/{}/qr.svg", void[0])));
    assert_eq!(page.matches("data-testid=\"voucher-qr\"").count(), 1);
    let full = browser
        .get(app.url(&format!("/mypage/vouchers/{}", live[0])))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(full.contains("voucher-qr-large") && full.contains(&live[0]));
    let gone = browser
        .get(app.url(&format!("/mypage/vouchers/{}", void[0])))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(gone.contains("voucher-not-usable") && !gone.contains("voucher-qr-large"));
}
