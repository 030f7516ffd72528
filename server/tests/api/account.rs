//! Issue 13, section 6: a signed-in user changes their password; their other browser
//! sessions and the API tokens issued before end.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp, expect_error};

const NEW_PASSWORD: &str = "a much better passphrase";

/// Who the browser session is signed in as (`null` for nobody).
async fn me(app: &TestApp, browser: &Client) -> Value {
    let res = browser.post(app.url("/sfn/auth/me")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn signed_in(app: &TestApp, email: &str) -> Client {
    let browser = app.browser();
    let res = app
        .log_in(&browser, email)
        .without_javascript()
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(me(app, &browser).await["email"], email);
    browser
}

/// The account page's form, posted as a browser without JavaScript does.
async fn change_in_browser(
    app: &TestApp,
    browser: &Client,
    current: &str,
    new: &str,
) -> reqwest::Response {
    browser
        .post(app.url("/sfn/auth/password"))
        .header("accept", "text/html")
        .header("referer", app.url("/account"))
        .form(&[("current_password", current), ("new_password", new)])
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn changing_the_password_ends_the_other_sessions_and_old_tokens(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let email = "c@example.com";
    let old_token = app.customer(email).await;
    let here = signed_in(&app, email).await;
    let elsewhere = signed_in(&app, email).await;
    let sessions = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from tower_sessions.session")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    assert_eq!(sessions().await, 2);

    let res = change_in_browser(&app, &here, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/account");

    assert_eq!(me(&app, &here).await["email"], email, "this session stays");
    assert_eq!(
        me(&app, &elsewhere).await,
        Value::Null,
        "the other one ended"
    );
    assert_eq!(sessions().await, 1, "its row is gone once it came back");
    let page = elsewhere.get(app.url("/mypage")).send().await.unwrap();
    assert!(
        !page
            .text()
            .await
            .unwrap()
            .contains(r#"data-testid="orders""#),
        "my page asks to sign in"
    );

    // Tokens issued before the change stop working; the new password gets a new one.
    expect_error(
        app.get("/api/v1/me", Some(&old_token)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    expect_error(
        app.get("/api/v1/mypage", Some(&old_token)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let res = app.token_request(email, PASSWORD).send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let res = app.token_request(email, NEW_PASSWORD).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token: Value = res.json().await.unwrap();
    let res = app.get("/api/v1/me", token["access_token"].as_str()).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Logging in again works with the new password only.
    let again = app.browser();
    let res = app
        .log_in(&again, email)
        .password(NEW_PASSWORD)
        .without_javascript()
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(me(&app, &again).await["email"], email);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_wrong_current_password_changes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let email = "o@example.com";
    let token = app.owner(email, "Shop").await;
    let elsewhere = signed_in(&app, email).await;

    let res = app
        .post(
            "/api/v1/me/password",
            json!({"current_password": "not my password", "new_password": NEW_PASSWORD}),
            Some(&token),
        )
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let res = app
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "short"}),
            Some(&token),
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(err["error"]["fields"]["new_password"].is_string(), "{err}");
    let res = app
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
            None,
        )
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The page's form refuses a wrong password the same way.
    let res = change_in_browser(&app, &elsewhere, "not my password", NEW_PASSWORD).await;
    assert!(
        res.status().is_redirection(),
        "back to the form: {}",
        res.status()
    );
    assert_ne!(
        res.headers()["location"],
        "/account",
        "not the success redirect"
    );

    // Nothing changed: the token, the session and the password still work.
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status(),
        StatusCode::OK
    );
    assert_eq!(me(&app, &elsewhere).await["email"], email);
    app.token(email).await;
    let version: i32 = sqlx::query_scalar("select password_version from users where email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(version, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_api_changes_the_password_with_204(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let email = "c@example.com";
    let token = app.customer(email).await;
    let browser = signed_in(&app, email).await;
    let res = app
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me(&app, &browser).await,
        Value::Null,
        "the browser session ended"
    );
    expect_error(
        app.get("/api/v1/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let new_token = app
        .token_request(email, NEW_PASSWORD)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(new_token["access_token"].is_string());
}

#[sqlx::test(migrations = "../migrations")]
async fn the_account_page_has_the_form(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await;
    let browser = signed_in(&app, "c@example.com").await;
    let html = browser
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"data-testid="password-form""#), "{html}");
    assert!(
        html.contains(r#"action="/sfn/auth/password""#),
        "a plain form: {html}"
    );
    assert!(html.contains(r#"name="current_password""#) && html.contains(r#"name="new_password""#));
}
