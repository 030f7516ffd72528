//! The application as `main` runs it (`Application::build`): with its payment workers on,
//! an order is paid with no test driving a worker, and a stop drains it cleanly.

use reqwest::StatusCode;
use serde_json::Value;
use server::shutdown::Report;
use sqlx::PgPool;

use crate::helpers::{NewCoupon, TestApp, TestGateway, test_config};

#[sqlx::test(migrations = "../migrations")]
async fn the_application_pays_by_itself_and_shuts_down_cleanly(pool: PgPool) {
    let gw = TestGateway::start().await;
    let mut config = test_config();
    config.payment_url = gw.url();
    config.payment_workers = 2;
    let app = TestApp::spawn_with(pool, config).await;
    // Ready: database, migrations, and the workers' heartbeat.
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);

    let coupon = NewCoupon::named("Self-paid")
        .create_in_new_shop(&app, "Worker Shop")
        .await
        .id;
    let token = app.customer("c@example.com").await;
    let res = app.buy(&token, &coupon, 1, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let order = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let paid = ("paid".to_string(), "completed".to_string());
    while app.order_status(&order).await != paid {
        assert!(
            std::time::Instant::now() < deadline,
            "the application's own workers did not pay the order: {:?}",
            app.order_status(&order).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(gw.counts().await[&order], (1, 0), "one charge");

    let base = app.base.clone();
    assert_eq!(app.stop().await, Report::default(), "nothing cut short");
    assert!(
        reqwest::get(format!("{base}/healthz")).await.is_err(),
        "the listener is closed after the stop"
    );
}
