//! The restock waitlist: joining and leaving (the API contract), holds for the people in
//! line whenever units come back (a cancel, a declined payment, an expired order, the
//! owner raising the stock), only holders buying held units, holds passing on when they
//! run out, positions without gaps, all exact under concurrency and across two app
//! processes on one database.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{
    NewCoupon, TestApp, TestGateway, expect_error, quick_customers, settle, test_worker,
};

async fn shop_coupon(app: &TestApp, stock: i64) -> (String, String) {
    let c = NewCoupon::named("Restock Coupon")
        .stock(stock)
        .create_in_new_shop(app, "Line Shop")
        .await;
    (c.owner, c.id)
}

async fn buy_ok(app: &TestApp, token: &str, coupon: &str) -> String {
    let res = app.buy(token, coupon, 1, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn join(app: &TestApp, token: &str, coupon: &str) -> (StatusCode, Value) {
    let res = app
        .post(
            &format!("/api/v1/coupons/{coupon}/waitlist"),
            json!({}),
            Some(token),
        )
        .await;
    let status = res.status();
    (status, res.json().await.unwrap())
}

async fn leave(app: &TestApp, token: &str, coupon: &str) -> StatusCode {
    app.client
        .delete(app.url(&format!("/api/v1/coupons/{coupon}/waitlist")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn cancel(app: &TestApp, token: &str, order: &str) {
    let res = app
        .post(
            &format!("/api/v1/orders/{order}/cancel"),
            json!({}),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// The customer's place in the coupon's line: `(position, holds a unit)`, or `None`.
async fn place(app: &TestApp, token: &str, coupon: &str) -> Option<(i64, bool)> {
    let res = app.get("/api/v1/waitlist", Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["coupon_id"] == coupon)
        .map(|e| (e["position"].as_i64().unwrap(), !e["hold_until"].is_null()))
}

/// The places of `line` (in line order): positions must be 1..n without gaps, and exactly
/// the first `holds` hold a unit.
async fn assert_line(app: &TestApp, line: &[String], coupon: &str, holds: usize) {
    let places = join_all(line.iter().map(|t| place(app, t, coupon))).await;
    let expected: Vec<Option<(i64, bool)>> = (0..line.len())
        .map(|i| Some((i as i64 + 1, i < holds)))
        .collect();
    assert_eq!(places, expected);
}

async fn scalar(pool: &PgPool, sql: &str, coupon: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(Uuid::parse_str(coupon).unwrap())
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn stock_and_held(pool: &PgPool, coupon: &str) -> (i64, i64) {
    (
        scalar(
            pool,
            "select stock::bigint from coupons where id = $1",
            coupon,
        )
        .await,
        scalar(
            pool,
            "select held::bigint from coupons where id = $1",
            coupon,
        )
        .await,
    )
}

/// Who of `people` got a `restock_hold` notification, one row per notification, sorted.
async fn told_of_holds(pool: &PgPool, people: &[Uuid]) -> Vec<Uuid> {
    sqlx::query_scalar(
        "select user_id from notifications where kind = 'restock_hold' and user_id = any($1)
         order by user_id",
    )
    .bind(people)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Holds run out: their times are moved into the past.
async fn run_out_holds(pool: &PgPool, coupon: &str) {
    sqlx::query(
        "update waitlist set hold_until = now() - interval '1 second'
         where coupon_id = $1 and hold_until is not null",
    )
    .bind(Uuid::parse_str(coupon).unwrap())
    .execute(pool)
    .await
    .unwrap();
}

async fn user_id(pool: &PgPool, token: &str) -> Uuid {
    let keys = app::auth::tokens::JwtKeys::new(crate::helpers::JWT_SECRET.as_bytes());
    let id = keys.verify(token).unwrap().0.user_id;
    let _: i64 = sqlx::query_scalar("select count(*) from users where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap();
    id
}

#[sqlx::test(migrations = "../migrations")]
async fn joining_and_leaving_follow_the_contract(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (owner, coupon) = shop_coupon(&app, 1).await;
    let (_, on_sale) = shop_coupon(&app, 3).await;
    let [first, second, third] = <[String; 3]>::try_from(quick_customers(&pool, 3).await).unwrap();
    let buyer = app.customer("buyer@example.com").await;

    // While the public can buy, there is no line.
    expect_error(
        app.post(
            &format!("/api/v1/coupons/{coupon}/waitlist"),
            json!({}),
            Some(&first),
        )
        .await,
        StatusCode::CONFLICT,
        "not_sold_out",
    )
    .await;
    buy_ok(&app, &buyer, &coupon).await;

    let (status, body) = join(&app, &first, &coupon).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body, json!({ "coupon_id": coupon, "position": 1 }));
    let (status, body) = join(&app, &first, &coupon).await;
    assert_eq!(status, StatusCode::OK, "joining again: the same entry");
    assert_eq!(body, json!({ "coupon_id": coupon, "position": 1 }));
    assert_eq!(join(&app, &second, &coupon).await.1["position"], 2);
    assert_eq!(join(&app, &third, &coupon).await.1["position"], 3);

    let list: Value = app
        .get("/api/v1/waitlist", Some(&second))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list,
        json!({ "items": [{ "coupon_id": coupon, "coupon_name": "Restock Coupon",
                            "position": 2, "hold_until": null }] })
    );

    // Positions move up as people ahead leave; leaving twice is fine.
    assert_eq!(leave(&app, &first, &coupon).await, StatusCode::NO_CONTENT);
    assert_eq!(leave(&app, &first, &coupon).await, StatusCode::NO_CONTENT);
    assert_eq!(place(&app, &first, &coupon).await, None);
    assert_eq!(place(&app, &second, &coupon).await, Some((1, false)));
    assert_eq!(place(&app, &third, &coupon).await, Some((2, false)));
    // Back in: at the end.
    assert_eq!(join(&app, &first, &coupon).await.1["position"], 3);

    // Who may: customers only; unknown coupons are 404; another coupon on sale is 409.
    let path = format!("/api/v1/coupons/{coupon}/waitlist");
    expect_error(
        app.post(&path, json!({}), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        app.post(&path, json!({}), Some(&owner)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.get("/api/v1/waitlist", Some(&owner)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.get("/api/v1/waitlist", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let unknown = format!("/api/v1/coupons/{}/waitlist", Uuid::new_v4());
    expect_error(
        app.post(&unknown, json!({}), Some(&first)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.post(
            "/api/v1/coupons/not-a-uuid/waitlist",
            json!({}),
            Some(&first),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.post(
            &format!("/api/v1/coupons/{on_sale}/waitlist"),
            json!({}),
            Some(&first),
        )
        .await,
        StatusCode::CONFLICT,
        "not_sold_out",
    )
    .await;
    // Someone else's list shows only their own entries.
    let fresh = app.customer("fresh@example.com").await;
    let list: Value = app
        .get("/api/v1/waitlist", Some(&fresh))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!({ "items": [] }));
}

/// The scenario: 50 customers wait (joining at once, through two processes), 5
/// units come back: exactly the first 5 hold them, nobody else can buy them meanwhile, the
/// next 5 hold them when those holds run out, and positions never have gaps.
#[sqlx::test(migrations = "../migrations")]
async fn fifty_waiting_five_units_back_first_five_hold_then_the_next_five(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let replica = TestApp::spawn(pool.clone()).await;
    let apps = [&app, &replica];
    let worker = test_worker(&pool, "http://127.0.0.1:9");
    let (_, coupon) = shop_coupon(&app, 5).await;
    let buyers = quick_customers(&pool, 5).await;
    let orders = join_all(buyers.iter().map(|t| buy_ok(&app, t, &coupon))).await;
    assert_eq!(app.stock(&coupon).await, 0);

    let waiting = quick_customers(&pool, 50).await;
    let joined = join_all(
        waiting
            .iter()
            .enumerate()
            .map(|(i, t)| join(apps[i % 2], t, &coupon)),
    )
    .await;
    assert!(
        joined.iter().all(|(s, _)| *s == StatusCode::CREATED),
        "{joined:?}"
    );
    // Each got its own place: the line in join order.
    let mut line: Vec<(i64, String)> = joined
        .iter()
        .zip(&waiting)
        .map(|((_, b), t)| (b["position"].as_i64().unwrap(), t.clone()))
        .collect();
    line.sort();
    assert_eq!(
        line.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        (1..=50).collect::<Vec<_>>()
    );
    let mut line: Vec<String> = line.into_iter().map(|(_, t)| t).collect();
    assert_line(&app, &line, &coupon, 0).await;

    // Five units come back at once (the five buyers cancel, through both processes).
    join_all(
        orders
            .iter()
            .zip(&buyers)
            .enumerate()
            .map(|(i, (o, t))| cancel(apps[i % 2], t, o)),
    )
    .await;
    assert_eq!(stock_and_held(&pool, &coupon).await, (0, 5));
    assert_line(&app, &line, &coupon, 5).await;
    let mut held_for: Vec<Uuid> = sqlx::query_scalar(
        "select (payload->>'customer_id')::uuid from events
         where event_type = 'RestockHeld' and aggregate_type = 'coupon' and aggregate_id = $1",
    )
    .bind(Uuid::parse_str(&coupon).unwrap())
    .fetch_all(&pool)
    .await
    .unwrap();
    held_for.sort();
    let mut first_five = join_all(line[..5].iter().map(|t| user_id(&pool, t))).await;
    first_five.sort();
    assert_eq!(
        held_for, first_five,
        "one RestockHeld per hold, for the first five"
    );
    // Each of them, and nobody else in line, is told once (`restock_hold`, by the trigger).
    let everyone_waiting = join_all(line.iter().map(|t| user_id(&pool, t))).await;
    assert_eq!(told_of_holds(&pool, &everyone_waiting).await, first_five);

    // Nobody else can buy the held units: the other 45 and a newcomer, on both processes.
    let newcomer = quick_customers(&pool, 1).await;
    let others: Vec<&String> = line[5..].iter().chain(&newcomer).collect();
    let answers = join_all(
        others
            .iter()
            .enumerate()
            .map(|(i, t)| apps[i % 2].buy(t, &coupon, 1, None)),
    )
    .await;
    for res in answers {
        expect_error(res, StatusCode::CONFLICT, "out_of_stock").await;
    }
    // A holder gets one unit, not two.
    expect_error(
        app.buy(&line[0], &coupon, 2, None).await,
        StatusCode::CONFLICT,
        "out_of_stock",
    )
    .await;
    assert_eq!(stock_and_held(&pool, &coupon).await, (0, 5));

    // The holds run out: the next five hold the units, the first five left the line.
    run_out_holds(&pool, &coupon).await;
    assert_eq!(worker.sweep().await.unwrap().holds, 5);
    for t in &line[..5] {
        assert_eq!(place(&app, t, &coupon).await, None);
        expect_error(
            app.buy(t, &coupon, 1, None).await,
            StatusCode::CONFLICT,
            "out_of_stock",
        )
        .await;
    }
    let mut next_five = join_all(line[5..10].iter().map(|t| user_id(&pool, t))).await;
    line.drain(..5);
    assert_line(&app, &line, &coupon, 5).await;
    let mut told = first_five.clone();
    told.append(&mut next_five);
    told.sort();
    assert_eq!(told_of_holds(&pool, &everyone_waiting).await, told);
    assert_eq!(stock_and_held(&pool, &coupon).await, (0, 5));

    // A holder buys inside the hold (through the other process): served, out of the line.
    let res = replica.buy(&line[0], &coupon, 1, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    line.remove(0);
    assert_eq!(stock_and_held(&pool, &coupon).await, (0, 4));
    assert_line(&app, &line, &coupon, 4).await;

    // A holder who leaves passes the unit to the next in line.
    assert_eq!(leave(&app, &line[1], &coupon).await, StatusCode::NO_CONTENT);
    line.remove(1);
    assert_line(&app, &line, &coupon, 4).await;
    assert_eq!(stock_and_held(&pool, &coupon).await, (0, 4));
    assert_eq!(
        scalar(
            &pool,
            "select count(*) from events where event_type = 'RestockHeld' and aggregate_id = $1",
            &coupon
        )
        .await,
        11
    );
    // The saga's shared invariants: 5 units = 4 held + 1 in the holder's live order.
    let report = invariants::verify(
        &pool,
        invariants::Scope::Coupon(coupon.parse().unwrap()),
        &paygate::Ledger::default(),
        &invariants::Expect {
            initial_stock: Some(5),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    report.assert_holds();
    assert_eq!((report.live_units, report.cancelled), (1, 5));
}

/// Units come back four ways, and each time the line is served first: a declined
/// payment, an expired order, the owner raising the stock; with nobody left, a hold that
/// runs out puts its unit back on public sale.
#[sqlx::test(migrations = "../migrations")]
async fn every_way_units_come_back_serves_the_line_first(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let gw = TestGateway::start().await;
    let worker = test_worker(&pool, &gw.url());
    let (owner, coupon) = shop_coupon(&app, 2).await;
    let [a, b, c, d, e] = <[String; 5]>::try_from(quick_customers(&pool, 5).await).unwrap();
    let declined = buy_ok(&app, &a, &coupon).await;
    let expiring = buy_ok(&app, &b, &coupon).await;
    for t in [&c, &d, &e] {
        assert_eq!(join(&app, t, &coupon).await.0, StatusCode::CREATED);
    }

    // A declined payment and an order past its payment deadline (which the worker expires
    // instead of charging): their units are held for the first two in line.
    gw.set_mode(|m| m.decline_order_prefix = Some(declined[..8].to_string()));
    sqlx::query("update orders set ordered_at = now() - interval '1 hour' where id = $1")
        .bind(Uuid::parse_str(&expiring).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    worker.run_once().await.unwrap();
    worker.run_once().await.unwrap();
    assert_eq!(app.order_status(&declined).await.0, "payment_failed");
    assert_eq!(app.order_status(&expiring).await.0, "expired");
    assert_eq!(place(&app, &c, &coupon).await, Some((1, true)));
    assert_eq!(place(&app, &d, &coupon).await, Some((2, true)));
    assert_eq!(place(&app, &e, &coupon).await, Some((3, false)));
    assert_eq!(stock_and_held(&pool, &coupon).await, (0, 2));

    // The owner adds 3 units: one held for the last in line, two on sale.
    let res = app
        .patch(
            &format!("/api/v1/coupons/{coupon}"),
            json!({ "stock": 3 }),
            Some(&owner),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["stock_left"], 2);
    assert_eq!(place(&app, &e, &coupon).await, Some((3, true)));
    assert_eq!(stock_and_held(&pool, &coupon).await, (2, 3));

    // Nobody left waiting: holds that run out go back on sale, and anyone can buy them.
    run_out_holds(&pool, &coupon).await;
    worker.sweep().await.unwrap();
    assert_eq!(stock_and_held(&pool, &coupon).await, (5, 0));
    let newcomer = app.customer("newcomer@example.com").await;
    assert_eq!(
        app.buy(&newcomer, &coupon, 5, None).await.status(),
        StatusCode::CREATED
    );
    settle(&worker, &pool, 10).await;
}

/// A held unit is sold once: its holder sends many purchases at once through two
/// processes while others try to buy too; exactly one purchase gets it.
#[sqlx::test(migrations = "../migrations")]
async fn a_held_unit_is_sold_once_whatever_arrives_at_the_same_time(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let replica = TestApp::spawn(pool.clone()).await;
    let apps = [&app, &replica];
    let (_, coupon) = shop_coupon(&app, 1).await;
    let buyer = quick_customers(&pool, 1).await.remove(0);
    let order = buy_ok(&app, &buyer, &coupon).await;
    let holder = quick_customers(&pool, 1).await.remove(0);
    join(&app, &holder, &coupon).await;
    cancel(&app, &buyer, &order).await;
    assert_eq!(place(&app, &holder, &coupon).await, Some((1, true)));

    let others = quick_customers(&pool, 20).await;
    let keys: Vec<String> = (0..10).map(|i| format!("hold-{i}")).collect();
    let mine = keys
        .iter()
        .enumerate()
        .map(|(i, k)| apps[i % 2].buy(&holder, &coupon, 1, Some(k)));
    let theirs = others
        .iter()
        .enumerate()
        .map(|(i, t)| apps[i % 2].buy(t, &coupon, 1, None));
    let (mine, theirs) = futures::join!(join_all(mine), join_all(theirs));
    let made = mine
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    assert_eq!(made, 1, "the holder's unit, once");
    for r in mine
        .into_iter()
        .chain(theirs)
        .filter(|r| r.status() != StatusCode::CREATED)
    {
        expect_error(r, StatusCode::CONFLICT, "out_of_stock").await;
    }
    assert_eq!(stock_and_held(&pool, &coupon).await, (0, 0));
    assert_eq!(place(&app, &holder, &coupon).await, None);
    let live: i64 = scalar(
        &pool,
        "select count(*) from orders where coupon_id = $1 and status = 'ordered'",
        &coupon,
    )
    .await;
    assert_eq!(live, 1);
}

/// Joins racing the units that come back: whatever the interleaving, nobody waits without
/// a hold while units are on public sale, holders are the front of the line, and every
/// unit is somewhere (on sale, held, or in a live order).
#[sqlx::test(migrations = "../migrations")]
async fn joins_racing_returns_never_leave_a_unit_on_sale_while_someone_waits(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let replica = TestApp::spawn(pool.clone()).await;
    let apps = [&app, &replica];
    let (_, coupon) = shop_coupon(&app, 10).await;
    let buyers = quick_customers(&pool, 10).await;
    let orders = join_all(buyers.iter().map(|t| buy_ok(&app, t, &coupon))).await;
    let waiting = quick_customers(&pool, 30).await;
    let joins = join_all(
        waiting
            .iter()
            .enumerate()
            .map(|(i, t)| join(apps[i % 2], t, &coupon)),
    );
    let cancels = join_all(
        orders
            .iter()
            .zip(&buyers)
            .enumerate()
            .map(|(i, (o, t))| cancel(apps[(i + 1) % 2], t, o)),
    );
    let (joined, _) = futures::join!(joins, cancels);
    for (status, body) in &joined {
        assert!(
            *status == StatusCode::CREATED || body["error"]["code"] == "not_sold_out",
            "{status} {body}"
        );
    }
    let (stock, held) = stock_and_held(&pool, &coupon).await;
    assert_eq!(stock + held, 10, "every unit is on sale or held");
    let waiting_without_hold = scalar(
        &pool,
        "select count(*) from waitlist where coupon_id = $1 and hold_until is null",
        &coupon,
    )
    .await;
    assert!(
        stock == 0 || waiting_without_hold == 0,
        "stock {stock} while {waiting_without_hold} wait"
    );
    assert_eq!(
        scalar(
            &pool,
            "select count(*) from waitlist where coupon_id = $1 and hold_until is not null",
            &coupon
        )
        .await,
        held
    );
    // Holders are the front of the line: positions 1..held.
    let mut places: Vec<(i64, bool)> = join_all(waiting.iter().map(|t| place(&app, t, &coupon)))
        .await
        .into_iter()
        .flatten()
        .collect();
    places.sort();
    let expected: Vec<(i64, bool)> = (0..places.len())
        .map(|i| (i as i64 + 1, (i as i64) < held))
        .collect();
    assert_eq!(places, expected);
}

/// Without JavaScript: the join form posts to its server function and comes back to the
/// coupon page, which renders the place in line; a holder's page renders the hold and a
/// buy form for one unit.
#[sqlx::test(migrations = "../migrations")]
async fn the_coupon_page_renders_the_line_and_the_hold_on_the_server(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (_, coupon) = shop_coupon(&app, 1).await;
    let buyer = app.customer("buyer@example.com").await;
    let order = buy_ok(&app, &buyer, &coupon).await;
    let ahead = quick_customers(&pool, 1).await.remove(0);
    join(&app, &ahead, &coupon).await;
    app.customer("c@example.com").await;
    let browser = app.browser();
    app.log_in(&browser, "c@example.com").send().await;
    let page = app.url(&format!("/coupons/{coupon}"));
    let html = |b: reqwest::Client| {
        let page = page.clone();
        async move {
            b.get(&page)
                .header("accept-language", "en-US")
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let before = html(browser.clone()).await;
    assert!(before.contains("data-testid=\"waitlist-join\""), "{before}");

    let res = browser
        .post(app.url("/sfn/waitlist/join"))
        .header("accept", "text/html")
        .header("referer", &page)
        .form(&[("coupon_id", coupon.as_str())])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    let after = html(browser.clone()).await;
    assert!(
        after.contains("data-position=\"2\"") && after.contains("You are #"),
        "{after}"
    );
    assert!(!after.contains("data-testid=\"waitlist-join\""));

    // The one ahead leaves, the unit comes back: it is held for this customer.
    assert_eq!(leave(&app, &ahead, &coupon).await, StatusCode::NO_CONTENT);
    cancel(&app, &buyer, &order).await;
    let held = html(browser.clone()).await;
    assert!(held.contains("data-testid=\"waitlist-hold\""), "{held}");
    assert!(held.contains("A unit is held for you until"), "{held}");
    assert!(held.contains("data-testid=\"waitlist-buy\""), "{held}");
}
