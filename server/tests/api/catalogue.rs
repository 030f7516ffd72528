//! Issue 13, sections 2 and 2b: categories, sorting and list prices of the catalogue.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{NewCoupon, TestApp, expect_error};

async fn names(app: &TestApp, query: &str) -> Vec<String> {
    let res = app.get(&format!("/api/v1/coupons{query}"), None).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    let page: Value = res.json().await.unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn coupons_carry_a_category_and_a_list_price(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Cafe").await;
    let plain = NewCoupon::named("Plain").create(&app, &owner).await;
    assert_eq!(plain["category"], "other", "the default: {plain}");
    assert_eq!(plain["list_price"], Value::Null);

    let latte = NewCoupon::named("Latte")
        .set("category", json!("cafe"))
        .set("list_price", json!(20000))
        .create(&app, &owner)
        .await;
    assert_eq!(latte["category"], "cafe");
    assert_eq!(latte["list_price"], 20000);
    assert_eq!(latte["price"], 15000);
    let id = latte["id"].as_str().unwrap();
    let fetched: Value = app
        .get(&format!("/api/v1/coupons/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, latte);

    // A list price equal to the price is allowed; PATCH changes and clears them.
    let res = app
        .patch(
            &format!("/api/v1/coupons/{id}"),
            json!({"category": "food", "list_price": 15000}),
            Some(&owner),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let patched: Value = res.json().await.unwrap();
    assert_eq!(
        (&patched["category"], &patched["list_price"]),
        (&json!("food"), &json!(15000))
    );
    let res = app
        .patch(
            &format!("/api/v1/coupons/{id}"),
            json!({"list_price": null}),
            Some(&owner),
        )
        .await;
    let cleared: Value = res.json().await.unwrap();
    assert_eq!(cleared["list_price"], Value::Null);
    assert_eq!(cleared["category"], "food", "absent fields stay");

    // Every category of the domain type is one the database takes.
    for category in app::domain::Category::ALL {
        let c = NewCoupon::named(category.as_str())
            .set("category", json!(category.as_str()))
            .create(&app, &owner)
            .await;
        assert_eq!(c["category"], category.as_str());
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_categories_and_list_prices_below_the_price_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Cafe").await;
    let cases = [
        (
            NewCoupon::named("x").set("category", json!("pets")),
            "category",
        ),
        (
            NewCoupon::named("x").set("category", json!("CAFE")),
            "category",
        ),
        (
            NewCoupon::named("x").set("list_price", json!(14999)),
            "list_price",
        ),
        (
            NewCoupon::named("x").set("list_price", json!(0)),
            "list_price",
        ),
    ];
    for (coupon, field) in cases {
        let res = app
            .post("/api/v1/coupons", coupon.body(), Some(&owner))
            .await;
        let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(err["error"]["fields"][field].is_string(), "{field}: {err}");
    }
    // A new price above the list price kept from before is refused as well.
    let c = NewCoupon::named("Latte")
        .set("list_price", json!(16000))
        .create(&app, &owner)
        .await;
    let id = c["id"].as_str().unwrap();
    let res = app
        .patch(
            &format!("/api/v1/coupons/{id}"),
            json!({"price": 17000}),
            Some(&owner),
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(err["error"]["fields"]["list_price"].is_string(), "{err}");
    let res = app
        .patch(
            &format!("/api/v1/coupons/{id}"),
            json!({"category": "pets"}),
            Some(&owner),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // The database refuses the same, whoever writes.
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    for sql in [
        "update coupons set list_price = price - 1 where id = $1",
        "update coupons set category = 'pets' where id = $1",
    ] {
        let err = sqlx::query(sql)
            .bind(uuid)
            .execute(&app.pool)
            .await
            .expect_err(sql);
        let db = err.as_database_error().expect("a database error");
        assert_eq!(
            db.code().as_deref(),
            Some("23514"),
            "{sql}: check violation"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_catalogue_filters_by_category_and_sorts(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let now = chrono::Utc::now();
    let coupons = [
        // name, category, price, sale end in hours
        ("Tea", "cafe", 3000, Some(100)),
        ("Cake", "cafe", 9000, Some(30)),
        ("Latte", "cafe", 5000, None),
        ("Noodles", "food", 8000, Some(50)),
        ("Nails", "beauty", 20000, None),
    ];
    for (name, category, price, ends) in coupons {
        let mut c = NewCoupon::named(name)
            .set("category", json!(category))
            .set("price", json!(price));
        if let Some(h) = ends {
            c = c.set(
                "sale_ends_at",
                json!((now + chrono::Duration::hours(h)).to_rfc3339()),
            );
        }
        c.create(&app, &owner).await;
    }
    assert_eq!(
        names(&app, "?category=cafe&sort=price_asc").await,
        ["Tea", "Latte", "Cake"]
    );
    assert_eq!(
        names(&app, "?category=cafe&sort=price_desc").await,
        ["Cake", "Latte", "Tea"]
    );
    assert_eq!(names(&app, "?category=beauty").await, ["Nails"]);
    assert_eq!(
        names(&app, "?category=education").await,
        Vec::<String>::new()
    );
    let total: Value = app
        .get("/api/v1/coupons?category=cafe", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(total["total"], 3, "the total counts the category only");
    assert_eq!(
        names(&app, "?sort=price_asc").await,
        ["Tea", "Latte", "Noodles", "Cake", "Nails"]
    );
    assert_eq!(
        names(&app, "?sort=ending_soon").await,
        ["Cake", "Noodles", "Tea", "Nails", "Latte"],
        "soonest end first, coupons without an end last (newest first among them)"
    );
    assert_eq!(
        names(&app, "?sort=newest").await,
        ["Nails", "Noodles", "Latte", "Cake", "Tea"]
    );
    assert_eq!(
        names(&app, "?q=a&category=cafe&sort=price_asc").await,
        ["Tea", "Latte", "Cake"],
        "search, category and order combine"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn popular_means_most_units_sold_in_the_last_seven_days(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let mut ids = Vec::new();
    for name in ["Old favourite", "Hit", "Quiet", "Newest"] {
        let c = NewCoupon::named(name).stock(100).create(&app, &owner).await;
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    let customer = app.customer("c@example.com").await;
    for (i, qty) in [(0, 5), (1, 3), (2, 1)] {
        let res = app.buy(&customer, &ids[i], qty, None).await;
        assert!(res.status().is_success(), "{}", res.status());
    }
    // The old favourite's orders were placed 8 days ago: outside the window.
    sqlx::query("update orders set ordered_at = now() - interval '8 days' where coupon_id = $1")
        .bind(uuid::Uuid::parse_str(&ids[0]).unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    // A cancelled order does not count.
    let customer2 = app.customer("c2@example.com").await;
    let res = app.buy(&customer2, &ids[3], 10, None).await;
    let order: Value = res.json().await.unwrap();
    let cancelled = app.cancel(order["id"].as_str().unwrap(), &customer2).await;
    assert!(cancelled.status().is_success(), "{}", cancelled.status());
    assert_eq!(
        names(&app, "?sort=popular").await,
        ["Hit", "Quiet", "Newest", "Old favourite"]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_categories_and_orders_are_422(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for (query, fields) in [
        ("?category=pets", vec!["category"]),
        ("?sort=cheapest", vec!["sort"]),
        ("?category=Cafe&sort=PRICE_ASC", vec!["category", "sort"]),
        ("?sort=price_asc%20", vec![]),
    ] {
        let res = app.get(&format!("/api/v1/coupons{query}"), None).await;
        if fields.is_empty() {
            // Surrounding spaces are trimmed like the search terms' are.
            assert_eq!(res.status(), StatusCode::OK, "{query}");
            continue;
        }
        let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        let got: Vec<&String> = err["error"]["fields"].as_object().unwrap().keys().collect();
        assert_eq!(got, fields, "{query}: {err}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_catalogue_page_shows_chips_the_sort_menu_and_list_prices(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    NewCoupon::named("Latte")
        .set("category", json!("cafe"))
        .set("price", json!(4500))
        .set("list_price", json!(5000))
        .stock(3)
        .create(&app, &owner)
        .await;
    NewCoupon::named("Noodles")
        .set("category", json!("food"))
        .create(&app, &owner)
        .await;
    let html = app
        .browser()
        .get(app.url("/?category=cafe&sort=price_asc"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Latte") && !html.contains("Noodles"),
        "{html}"
    );
    assert!(html.contains(r#"data-testid="chip-cafe""#));
    // Each chip keeps the order; the sort form keeps the category.
    assert!(
        html.contains(r#"href="/?category=food&amp;sort=price_asc""#)
            || html.contains(r#"href="/?category=food&sort=price_asc""#),
        "{html}"
    );
    assert!(
        html.contains(r#"<input type="hidden" name="category" value="cafe""#),
        "{html}"
    );
    assert!(
        html.contains(r#"<option value="price_asc" selected"#),
        "{html}"
    );
    // 정가 struck through, the discount, the sale price; "few left" instead of "on sale".
    assert!(html.contains("<del"), "{html}");
    assert!(html.contains("5,000원") && html.contains("10%") && html.contains("4,500원"));
    assert!(html.contains(r#"data-testid="badge-few-left""#), "{html}");
}
