//! Issue 13, section 5: the full order history of customers (my page) and owners (their
//! shop's orders and the CSV export), paged backwards with a cursor.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{NewCoupon, TestApp, expect_error};

/// `n` orders of one unit each by `customer` (API purchases, as a shopper makes them).
async fn buy_n(app: &TestApp, customer: &str, coupon: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let res = app.buy(customer, coupon, 1, None).await;
        assert!(res.status().is_success(), "{}", res.status());
        let order: Value = res.json().await.unwrap();
        ids.push(order["id"].as_str().unwrap().to_string());
    }
    ids
}

/// Every page of `path` (which has a query already), following `next`: the order ids
/// in the order served, and how many pages there were.
async fn all_pages(app: &TestApp, path: &str, token: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut url = path.to_string();
    loop {
        let res = app.get(&url, Some(token)).await;
        assert_eq!(res.status(), StatusCode::OK, "{url}");
        let page: Value = res.json().await.unwrap();
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            ids.push(item["order_id"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(next) => url = format!("{path}&before={next}"),
            None => {
                assert_eq!(page["next"], Value::Null);
                break;
            }
        }
        assert!(pages < 100, "paging does not end");
    }
    (ids, pages)
}

/// Gives many orders one `ordered_at`, so pages must break ties by order id.
async fn same_time(app: &TestApp, ids: &[String]) {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|i| i.parse().unwrap()).collect();
    sqlx::query("update mypage set ordered_at = '2026-12-01T03:00:00Z' where order_id = any($1)")
        .bind(&ids)
        .execute(&app.pool)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn my_page_pages_through_every_order_exactly_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let coupon = NewCoupon::named("Latte")
        .stock(1000)
        .create(&app, &owner)
        .await;
    let coupon = coupon["id"].as_str().unwrap();
    let customer = app.customer("c@example.com").await;
    let other = app.customer("other@example.com").await;
    let mine = buy_n(&app, &customer, coupon, 130).await;
    let theirs = buy_n(&app, &other, coupon, 2).await;
    same_time(&app, &mine[40..75]).await;

    // The first page without parameters: the 100 newest, and a way further.
    let first: Value = app
        .get("/api/v1/mypage", Some(&customer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 100);
    assert!(first["next"].is_string(), "{}", first["next"]);

    let (seen, pages) = all_pages(&app, "/api/v1/mypage?limit=30", &customer).await;
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 130, "every order once");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 130, "no order twice");
    assert_eq!(unique, mine.iter().collect::<HashSet<_>>());
    assert!(theirs.iter().all(|t| !unique.contains(t)), "only my orders");

    // Newest first, ties by order id, as one query in that order would list them.
    let expected: Vec<String> = sqlx::query_scalar(
        "select order_id::text from mypage where customer_id = (select id from users where email = 'c@example.com')
         order by ordered_at desc, order_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(seen, expected);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_cursors_and_limits_are_422(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let owner = app.owner("o@example.com", "Shop").await;
    for (query, field) in [
        ("?before=yesterday", "before"),
        ("?before=1.2", "before"),
        (
            "?before=99999999999999999999.0123456789abcdef0123456789abcdef",
            "before",
        ),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=ten", "limit"),
    ] {
        for (path, token) in [
            ("/api/v1/mypage", &customer),
            ("/api/v1/owner/orders", &owner),
        ] {
            let res = app.get(&format!("{path}{query}"), Some(token)).await;
            let err =
                expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
            assert!(
                err["error"]["fields"][field].is_string(),
                "{path}{query}: {err}"
            );
        }
    }
    for (query, field) in [
        ("?status=shipped", "status"),
        ("?from=2026-02-30", "from"),
        ("?to=12/01/2026", "to"),
        ("?from=2026-12-02&to=2026-12-01", "to"),
    ] {
        for path in ["/api/v1/owner/orders", "/api/v1/owner/orders.csv"] {
            let res = app.get(&format!("{path}{query}"), Some(&owner)).await;
            let err =
                expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
            assert!(
                err["error"]["fields"][field].is_string(),
                "{path}{query}: {err}"
            );
        }
    }
    // A query string that cannot be read at all is the API's 400, not a library's text.
    for (path, token) in [
        ("/api/v1/mypage?limit=1&limit=2", &customer),
        ("/api/v1/owner/orders?status=paid&status=cancelled", &owner),
        ("/api/v1/owner/orders.csv?from=1&from=2", &owner),
    ] {
        let res = app.get(path, Some(token)).await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    // A cursor that names no order is still a position: an empty page, not an error.
    let res = app
        .get(
            "/api/v1/mypage?before=0.0123456789abcdef0123456789abcdef",
            Some(&customer),
        )
        .await;
    let page: Value = res.json().await.unwrap();
    assert_eq!(page, json!({"items": [], "next": null}));
}

#[sqlx::test(migrations = "../migrations")]
async fn owners_list_every_order_of_their_own_shop_only(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let a = NewCoupon::named("아메리카노 Americano")
        .stock(1000)
        .create_in_shop(&app, "a@example.com", "A")
        .await;
    let b = NewCoupon::named("Noodles")
        .stock(100)
        .create_in_shop(&app, "b@example.com", "B")
        .await;
    let customer = app.customer("c@example.com").await;
    let a_orders = buy_n(&app, &customer, &a.id, 120).await;
    let b_orders = buy_n(&app, &customer, &b.id, 3).await;
    same_time(&app, &a_orders[10..50]).await;

    let (seen, pages) = all_pages(&app, "/api/v1/owner/orders?limit=50", &a.owner).await;
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>(),
        a_orders.iter().collect::<HashSet<_>>(),
        "every order of A's shop once, none of B's"
    );
    let (seen_b, _) = all_pages(&app, "/api/v1/owner/orders?limit=100", &b.owner).await;
    assert_eq!(
        seen_b.iter().collect::<HashSet<_>>(),
        b_orders.iter().collect::<HashSet<_>>()
    );

    // The fields of a row.
    let page: Value = app
        .get("/api/v1/owner/orders?limit=1", Some(&b.owner))
        .await
        .json()
        .await
        .unwrap();
    let row = &page["items"][0];
    for f in [
        "order_id",
        "coupon_id",
        "coupon_name",
        "quantity",
        "unit_price",
        "amount",
        "status",
        "payment_status",
        "ordered_at",
    ] {
        assert!(!row[f].is_null(), "{f} in {row}");
    }
    assert_eq!(row["coupon_name"], "Noodles");

    // Filters: status, and the day (KST) the order was placed.
    assert!(
        app.cancel(&b_orders[0], &customer)
            .await
            .status()
            .is_success()
    );
    let (cancelled, _) = all_pages(&app, "/api/v1/owner/orders?status=cancelled", &b.owner).await;
    assert_eq!(cancelled, [b_orders[0].clone()]);
    let (ordered, _) = all_pages(&app, "/api/v1/owner/orders?status=ordered", &b.owner).await;
    assert_eq!(ordered.len(), 2);
    // 2026-01-14T15:30Z is 2026-01-15 00:30 in Korea.
    sqlx::query("update mypage set ordered_at = '2026-01-14T15:30:00Z' where order_id = $1::uuid")
        .bind(&b_orders[1])
        .execute(&app.pool)
        .await
        .unwrap();
    let (day, _) = all_pages(
        &app,
        "/api/v1/owner/orders?from=2026-01-15&to=2026-01-15",
        &b.owner,
    )
    .await;
    assert_eq!(day, [b_orders[1].clone()]);
    let (before_day, _) = all_pages(&app, "/api/v1/owner/orders?to=2026-01-14", &b.owner).await;
    assert!(before_day.is_empty(), "{before_day:?}");

    // Only owners.
    expect_error(
        app.get("/api/v1/owner/orders", Some(&customer)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.get("/api/v1/owner/orders", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn the_csv_export_has_a_bom_keeps_korean_and_only_the_owners_orders(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let a = NewCoupon::named("아메리카노, \"큰\" 잔")
        .stock(100)
        .create_in_shop(&app, "a@example.com", "A")
        .await;
    let b = NewCoupon::named("=HYPERLINK(\"x\")")
        .create_in_shop(&app, "b@example.com", "B")
        .await;
    let customer = app.customer("c@example.com").await;
    let a_orders = buy_n(&app, &customer, &a.id, 3).await;
    let b_orders = buy_n(&app, &customer, &b.id, 1).await;

    let res = app.get("/api/v1/owner/orders.csv", Some(&a.owner)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    let bytes = res.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 byte-order mark first");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "a header and one line per order: {text}");
    assert!(lines[0].starts_with("order_id,ordered_at,coupon_name,"));
    for (line, id) in lines[1..].iter().zip(a_orders.iter().rev()) {
        assert!(line.starts_with(id.as_str()), "newest first: {line}");
        assert!(
            line.contains(r#","아메리카노, ""큰"" 잔","#),
            "Korean kept, quoted: {line}"
        );
    }
    assert!(!text.contains(&b_orders[0]), "none of B's orders");

    // B's export: its own order, the formula-like name defused.
    let b_csv = app
        .get("/api/v1/owner/orders.csv?status=ordered", Some(&b.owner))
        .await
        .text()
        .await
        .unwrap();
    assert!(b_csv.contains(&b_orders[0]) && !b_csv.contains(&a_orders[0]));
    assert!(b_csv.contains(r#""'=HYPERLINK(""x"")""#), "{b_csv}");

    // A browser downloads it with the session cookie; customers and visitors cannot.
    let browser = app.browser();
    assert!(
        app.log_in(&browser, "a@example.com")
            .without_javascript()
            .send()
            .await
            .status()
            .is_redirection()
    );
    let res = browser
        .get(app.url("/api/v1/owner/orders.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap().lines().count(), 4);
    expect_error(
        app.get("/api/v1/owner/orders.csv", Some(&customer)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.get("/api/v1/owner/orders.csv", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn the_pages_link_to_older_orders(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let shop = NewCoupon::named("Latte")
        .stock(1000)
        .create_in_shop(&app, "o@example.com", "Shop")
        .await;
    let _ = app.customer("c@example.com").await;
    let customer = app.token("c@example.com").await;
    let orders = buy_n(&app, &customer, &shop.id, 25).await;

    let browser = app.browser();
    assert!(
        app.log_in(&browser, "c@example.com")
            .without_javascript()
            .send()
            .await
            .status()
            .is_redirection()
    );
    let html = browser
        .get(app.url("/mypage"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(html.matches(r#"data-testid="order-row""#).count(), 20);
    let older = html
        .split(r#"href="/mypage?before="#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to older orders");
    let html = browser
        .get(app.url(&format!("/mypage?before={older}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(html.matches(r#"data-testid="order-row""#).count(), 5);
    assert!(
        html.contains(&orders[0]),
        "the oldest order on the last page"
    );
    assert!(!html.contains(r#"data-testid="older-orders""#));
    // Cancelling an order there asks on the same page.
    let ask = format!("/mypage?before={older}&cancel={}", orders[0]);
    assert!(
        html.contains(&ask) || html.contains(&ask.replace('&', "&amp;")),
        "{html}"
    );
    let html = browser
        .get(app.url(&ask))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"data-testid="cancel-confirm""#), "{html}");

    let owner = app.browser();
    assert!(
        app.log_in(&owner, "o@example.com")
            .without_javascript()
            .send()
            .await
            .status()
            .is_redirection()
    );
    let dashboard = owner
        .get(app.url("/owner/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        dashboard.contains(r#"href="/owner/orders""#),
        "the dashboard links the orders page"
    );
    let html = owner
        .get(app.url("/owner/orders?status=ordered"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(html.matches(r#"data-testid="owner-order""#).count(), 25);
    assert!(
        html.contains(r#"href="/api/v1/owner/orders.csv?status=ordered""#),
        "{html}"
    );
}
