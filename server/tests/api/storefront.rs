//! The shop window: the catalogue's order and pager, and what the coupon page's buy bar is
//! told about the caller (`/sfn/orders/allowance`).

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{NewCoupon, TestApp};

async fn names(app: &TestApp, path: &str) -> Vec<String> {
    let page: Value = app.get(path, None).await.json().await.unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn sold_out_coupons_come_last_in_the_api_and_the_page(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    NewCoupon::named("Old Latte").create(&app, &owner).await;
    NewCoupon::named("Gone Cake")
        .stock(0)
        .create(&app, &owner)
        .await;
    NewCoupon::named("New Tea").create(&app, &owner).await;

    // Newest first, except the sold-out one, although it is newer than the latte.
    assert_eq!(
        names(&app, "/api/v1/coupons").await,
        ["New Tea", "Old Latte", "Gone Cake"]
    );
    // Paging follows the same order.
    assert_eq!(
        names(&app, "/api/v1/coupons?per_page=2&page=2").await,
        ["Gone Cake"]
    );

    let html = app
        .client
        .get(app.url("/"))
        .header("accept-language", "en-US")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        // Hydration markers between interpolated values.
        .replace("<!>", "");
    let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(at("New Tea") < at("Old Latte") && at("Old Latte") < at("Gone Cake"));
    // The pager names itself and says how many coupons there are.
    assert!(html.contains(r#"aria-label="Pages""#), "{html}");
    assert!(html.contains("Page 1 of 1") && html.contains("3 coupons"));
}

/// A browser signed in as `email`.
async fn signed_in(app: &TestApp, email: &str) -> Client {
    let browser = app.browser();
    let res = app.log_in(&browser, email).send().await;
    assert!(res.status().is_redirection() || res.status().is_success());
    browser
}

async fn allowance(app: &TestApp, browser: &Client, coupon_id: &str) -> Value {
    let res = browser
        .post(app.url("/sfn/orders/allowance"))
        .form(&[("coupon_id", coupon_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_buy_bar_learns_what_this_customer_may_still_buy(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let id = NewCoupon::named("Bingsu")
        .set("per_customer_limit", json!(3))
        .create(&app, &owner)
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let open = NewCoupon::named("Latte").create(&app, &owner).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let alice = app.customer("alice@example.com").await;
    app.customer("bob@example.com").await;

    let ordered = app.buy(&alice, &id, 2, None).await;
    assert_eq!(ordered.status(), StatusCode::CREATED);
    let order: Value = ordered.json().await.unwrap();

    let as_alice = signed_in(&app, "alice@example.com").await;
    assert_eq!(
        allowance(&app, &as_alice, &id).await,
        json!({"limit": 3, "held": 2, "may_buy": 1})
    );
    // Without a limit: as much as one purchase may ask for, within the stock.
    assert_eq!(
        allowance(&app, &as_alice, &open).await,
        json!({"limit": null, "held": 0, "may_buy": 10})
    );
    // Only the caller's own orders count.
    let as_bob = signed_in(&app, "bob@example.com").await;
    assert_eq!(
        allowance(&app, &as_bob, &id).await,
        json!({"limit": 3, "held": 0, "may_buy": 3})
    );
    // Owners and visitors have no buy bar: nothing, and no error.
    let as_owner = signed_in(&app, "o@example.com").await;
    assert_eq!(allowance(&app, &as_owner, &id).await, Value::Null);
    assert_eq!(allowance(&app, &app.browser(), &id).await, Value::Null);

    // The coupon page says it, in the customer's language.
    let html = as_alice
        .get(app.url(&format!("/coupons/{id}")))
        .header("accept-language", "en-US")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace("<!>", "");
    assert!(
        html.contains("You can buy 1 more (limit 3 per customer).") && html.contains(r#"max="1""#),
        "{html}"
    );

    // A cancelled order no longer counts; the limit held in full does.
    let cancel = app
        .post(
            &format!("/api/v1/orders/{}/cancel", order["id"].as_str().unwrap()),
            json!({}),
            Some(&alice),
        )
        .await;
    assert_eq!(cancel.status(), StatusCode::OK);
    assert_eq!(allowance(&app, &as_alice, &id).await["may_buy"], 3);
    assert_eq!(
        app.buy(&alice, &id, 3, None).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        allowance(&app, &as_alice, &id).await,
        json!({"limit": 3, "held": 3, "may_buy": 0})
    );
    let html = as_alice
        .get(app.url(&format!("/coupons/{id}")))
        .header("accept-language", "ko")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace("<!>", "");
    assert!(
        html.contains("1인 구매 한도(3개)를 모두 구매했어요."),
        "{html}"
    );
}
