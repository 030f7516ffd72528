use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{NewCoupon, TestApp, expect_error};

#[sqlx::test(migrations = "../migrations")]
async fn owner_registers_a_coupon_with_the_contract_fields(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Morning Coffee").await;
    let body = json!({
        "name": "Americano", "description": "Hot or iced", "price": 4500, "stock": 100,
        "sale_starts_at": "2026-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z",
        "valid_until": "2099-06-01T00:00:00Z", "per_customer_limit": 3
    });
    let c = app.create_coupon(&owner, body).await;
    for f in [
        "id",
        "name",
        "description",
        "price",
        "stock_left",
        "shop_name",
        "sale_starts_at",
        "sale_ends_at",
        "valid_until",
        "per_customer_limit",
        "on_sale",
    ] {
        assert!(c.get(f).is_some(), "{f} missing in {c}");
    }
    assert_eq!(c["price"], 4500);
    assert_eq!(c["stock_left"], 100);
    assert_eq!(c["shop_name"], "Morning Coffee");
    assert_eq!(c["on_sale"], true);
    assert_eq!(c["status"], "available");
    assert_eq!(c["per_customer_limit"], 3);

    let fetched: Value = app
        .get(
            &format!("/api/v1/coupons/{}", c["id"].as_str().unwrap()),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, c);
}

#[sqlx::test(migrations = "../migrations")]
async fn only_owners_register_coupons(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    expect_error(
        app.post("/api/v1/coupons", NewCoupon::named("x").body(), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        app.post(
            "/api/v1/coupons",
            NewCoupon::named("x").body(),
            Some(&customer),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn invalid_coupons_get_per_field_messages(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let cases = [
        (json!({"name": "", "price": 1000, "stock": 1}), "name"),
        (json!({"name": "x", "price": 0, "stock": 1}), "price"),
        (json!({"name": "x", "price": -10, "stock": 1}), "price"),
        (json!({"name": "x", "price": 1000, "stock": -1}), "stock"),
        (
            json!({"name": "x", "price": 1000, "stock": 2000000000}),
            "stock",
        ),
        (
            json!({"name": "x".repeat(101), "price": 1000, "stock": 1}),
            "name",
        ),
        (
            json!({"name": "x", "price": 1000, "stock": 1, "sale_starts_at": "2026-12-02T00:00:00Z", "sale_ends_at": "2026-12-01T00:00:00Z"}),
            "sale_ends_at",
        ),
        (
            json!({"name": "x", "price": 1000, "stock": 1, "per_customer_limit": 0}),
            "per_customer_limit",
        ),
    ];
    for (body, field) in cases {
        let res = app
            .post("/api/v1/coupons", body.clone(), Some(&owner))
            .await;
        let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(err["error"]["fields"][field].is_string(), "{field}: {err}");
    }
    let n: i64 = sqlx::query_scalar("select count(*) from coupons")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn owners_edit_only_their_own_coupons(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let alice = app.owner("alice@example.com", "Alice Cafe").await;
    let bob = app.owner("bob@example.com", "Bob BBQ").await;
    let customer = app.customer("c@example.com").await;
    let c = NewCoupon::named("Latte").create(&app, &alice).await;
    let path = format!("/api/v1/coupons/{}", c["id"].as_str().unwrap());

    expect_error(
        app.patch(&path, json!({"price": 1}), Some(&bob)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.patch(&path, json!({"price": 1}), Some(&customer)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.patch(&path, json!({"price": 1}), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let res = app
        .patch(
            &path,
            json!({"price": 5500, "stock": 7, "per_customer_limit": 2}),
            Some(&alice),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["price"], 5500);
    assert_eq!(updated["stock_left"], 7);
    assert_eq!(updated["name"], "Latte", "absent fields stay");

    let res = app
        .patch(&path, json!({"per_customer_limit": null}), Some(&alice))
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["per_customer_limit"],
        Value::Null
    );

    expect_error(
        app.patch(&path, json!({"price": 0}), Some(&alice)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    expect_error(
        app.patch("/api/v1/coupons/not-a-uuid", json!({}), Some(&alice))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn catalogue_searches_by_text_and_shop_and_pages(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let cafe = app.owner("cafe@example.com", "모닝커피").await;
    let bbq = app.owner("bbq@example.com", "Seoul BBQ").await;
    for i in 0..25 {
        NewCoupon::named(&format!("Coffee {i}"))
            .create(&app, &cafe)
            .await;
    }
    NewCoupon::named("삼겹살 100% pork")
        .create(&app, &bbq)
        .await;

    let page: Value = app.get("/api/v1/coupons", None).await.json().await.unwrap();
    assert_eq!(page["total"], 26);
    assert_eq!(page["items"].as_array().unwrap().len(), 20);
    let page2: Value = app
        .get("/api/v1/coupons?page=2", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page2["items"].as_array().unwrap().len(), 6);
    let small: Value = app
        .get("/api/v1/coupons?per_page=5&page=3", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(small["items"].as_array().unwrap().len(), 5);

    let found: Value = app
        .get("/api/v1/coupons?q=%EC%82%BC%EA%B2%B9", None)
        .await
        .json()
        .await
        .unwrap(); // 삼겹
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["shop_name"], "Seoul BBQ");
    let pct: Value = app
        .get("/api/v1/coupons?q=100%25", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pct["total"], 1, "% is matched literally");
    let by_shop: Value = app
        .get("/api/v1/coupons?shop=%EB%AA%A8%EB%8B%9D", None)
        .await
        .json()
        .await
        .unwrap(); // 모닝
    assert_eq!(by_shop["total"], 25);
    let by_text_shop: Value = app
        .get("/api/v1/coupons?q=bbq", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_text_shop["total"], 1, "text search covers the shop name");
    expect_error(
        app.get("/api/v1/coupons?page=-1", None).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn stopped_and_ended_coupons_leave_the_catalogue(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let c = NewCoupon::named("Stopped").create(&app, &owner).await;
    NewCoupon::named("Ended")
        .set("sale_starts_at", json!("2020-01-01T00:00:00Z"))
        .set("sale_ends_at", json!("2020-02-01T00:00:00Z"))
        .create(&app, &owner)
        .await;
    NewCoupon::named("Sold out")
        .stock(0)
        .create(&app, &owner)
        .await;

    let path = format!("/api/v1/coupons/{}", c["id"].as_str().unwrap());
    let stopped: Value = app
        .patch(&path, json!({"on_sale": false}), Some(&owner))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stopped["on_sale"], false);
    assert_eq!(stopped["status"], "stopped");

    let page: Value = app.get("/api/v1/coupons", None).await.json().await.unwrap();
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Sold out"]);
    assert_eq!(page["items"][0]["status"], "sold_out");
    // A stopped coupon can still be looked at.
    assert_eq!(app.get(&path, None).await.status(), StatusCode::OK);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_database_refuses_negative_stock(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let c = NewCoupon::named("Latte").create(&app, &owner).await;
    let id = uuid::Uuid::parse_str(c["id"].as_str().unwrap()).unwrap();
    let err = sqlx::query("update coupons set stock = -1 where id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("coupons_stock_check"), "{err}");
}
