use jsonwebtoken::{EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{JWT_SECRET, PASSWORD, TestApp, expect_error};

#[sqlx::test(migrations = "../migrations")]
async fn customer_signs_up_gets_a_token_and_sees_itself(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app.signup("  Kim@Example.COM ", "customer", None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let user_id = res.json::<Value>().await.unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();

    let res = app
        .token_request("kim@example.com", PASSWORD)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body["expires_in"].as_i64().unwrap() > 0 && body["expires_in"].as_i64().unwrap() <= 3600
    );
    let token = body["access_token"].as_str().unwrap();

    let me: Value = app
        .get("/api/v1/me", Some(token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user_id"], user_id);
    assert_eq!(me["email"], "kim@example.com");
    assert_eq!(me["role"], "customer");
    assert!(me.get("shop_name").is_none());
}

#[sqlx::test(migrations = "../migrations")]
async fn owner_signup_needs_a_shop_and_me_shows_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let body = expect_error(
        app.signup("o@example.com", "owner", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(body["error"]["fields"]["shop_name"].is_string());
    let token = app.owner("o@example.com", "Morning Coffee").await;
    let me: Value = app
        .get("/api/v1/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "owner");
    assert_eq!(me["shop_name"], "Morning Coffee");
}

#[sqlx::test(migrations = "../migrations")]
async fn signup_reports_every_bad_field(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .post(
            "/api/v1/auth/signup",
            json!({"email": "nope", "password": "short", "name": " ", "role": "admin"}),
            None,
        )
        .await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let fields = body["error"]["fields"].as_object().unwrap();
    for f in ["email", "password", "name", "role"] {
        assert!(fields.contains_key(f), "{f} missing in {body}");
    }
    assert_eq!(fields["password"], "must be at least 8 characters");
}

#[sqlx::test(migrations = "../migrations")]
async fn email_is_unique_after_normalising(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    assert_eq!(
        app.signup("lee@example.com", "customer", None)
            .await
            .status(),
        StatusCode::CREATED
    );
    expect_error(
        app.signup("LEE@example.com ", "owner", Some("Shop")).await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn passwords_are_stored_as_argon2id_with_owasp_parameters(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signup("p@example.com", "customer", None).await;
    let hash: String = sqlx::query_scalar("select password_hash from users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
}

#[sqlx::test(migrations = "../migrations")]
async fn wrong_password_and_unknown_account_answer_alike(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.signup("a@example.com", "customer", None).await;
    let wrong = app
        .token_request("a@example.com", "wrong password")
        .send()
        .await
        .unwrap();
    let unknown = app
        .token_request("b@example.com", "wrong password")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let (wrong, unknown): (Value, Value) =
        (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"]["code"], "invalid_credentials");
}

#[sqlx::test(migrations = "../migrations")]
async fn repeated_failed_logins_are_throttled(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.signup("t@example.com", "customer", None).await;
    for _ in 0..5 {
        let res = app
            .token_request("t@example.com", "guess guess")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right password waits; the answer says how long.
    let res = app
        .token_request("t@example.com", PASSWORD)
        .send()
        .await
        .unwrap();
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900);
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another account is not affected.
    app.signup("u@example.com", "customer", None).await;
    app.token("u@example.com").await;
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    sub: String,
    role: &'a str,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

fn forge(
    secret: &str,
    alg: jsonwebtoken::Algorithm,
    iss: &str,
    aud: &str,
    exp_offset: i64,
    sub: &str,
) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: sub.into(),
        role: "owner",
        iss,
        aud,
        iat: now,
        exp: now + exp_offset,
    };
    encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_tokens_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app.signup("me@example.com", "owner", Some("Shop")).await;
    let id = res.json::<Value>().await.unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    use jsonwebtoken::Algorithm::{HS256, HS512};

    expect_error(
        app.get("/api/v1/me", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let bad = [
        "garbage".to_string(),
        forge(
            "another-secret-another-secret-another",
            HS256,
            "coupan",
            "coupan-api",
            600,
            &id,
        ),
        forge(JWT_SECRET, HS512, "coupan", "coupan-api", 600, &id), // algorithm is pinned
        forge(JWT_SECRET, HS256, "someone-else", "coupan-api", 600, &id),
        forge(JWT_SECRET, HS256, "coupan", "other-api", 600, &id),
        forge(JWT_SECRET, HS256, "coupan", "coupan-api", -120, &id), // expired
        // alg=none: header {"alg":"none"}, no signature.
        format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            forge(JWT_SECRET, HS256, "coupan", "coupan-api", 600, &id)
                .split('.')
                .nth(1)
                .unwrap()
        ),
    ];
    for token in bad {
        expect_error(
            app.get("/api/v1/me", Some(&token)).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
    }
    let good = forge(JWT_SECRET, HS256, "coupan", "coupan-api", 600, &id);
    assert_eq!(
        app.get("/api/v1/me", Some(&good)).await.status(),
        StatusCode::OK
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn malformed_bodies_get_the_error_shape(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/signup"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = app
        .post("/api/v1/auth/signup", json!({"email": 5}), None)
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    expect_error(
        app.get("/api/v1/nothing-here", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

/// The browser flow: a form post to the login server function sets a session cookie
/// under a fresh id; logging in again cycles the id; logout deletes the session.
#[sqlx::test(migrations = "../migrations")]
async fn browser_sessions_are_cycled_at_login_and_ended_at_logout(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signup("s@example.com", "customer", None).await;
    let browser = app.browser();
    let login = || async {
        let res = app
            .log_in(&browser, "s@example.com")
            .without_javascript()
            .send()
            .await;
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(res.headers()["location"], "/");
        let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        cookie
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_string()
    };
    let first = login().await;
    let second = login().await;
    assert_ne!(first, second, "the session id must change at login");
    let ids: Vec<String> = sqlx::query_scalar("select id from tower_sessions.session")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(ids.len(), 1, "the old session record is gone");

    let me = browser
        .post(app.url("/sfn/auth/me"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(me.contains("s@example.com"), "{me}");

    browser
        .post(app.url("/sfn/auth/logout"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from tower_sessions.session")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "logout deletes the session server-side");
    let me = browser
        .post(app.url("/sfn/auth/me"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(me, "null");
}

#[sqlx::test(migrations = "../migrations")]
async fn login_redirects_only_within_the_site(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.signup("r@example.com", "customer", None).await;
    for (next, expected) in [
        ("/owner/coupons", "/owner/coupons"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
    ] {
        let res = app
            .log_in(&app.browser(), "r@example.com")
            .next(next)
            .header("accept", "text/html")
            .send()
            .await;
        assert_eq!(res.headers()["location"], expected, "next={next}");
    }
}

/// A signed-in visit (page or server function) renews the browser session once a day:
/// the stored expiry moves to a full `SESSION_IDLE_DAYS` again and the cookie is re-sent.
/// Visits in between write nothing, and an expired session is not brought back.
#[sqlx::test(migrations = "../migrations")]
async fn signed_in_visits_renew_the_session_once_a_day(pool: PgPool) {
    use tower_sessions::SessionStore;
    use tower_sessions::cookie::time::{Duration, OffsetDateTime};
    use tower_sessions::session::Id;

    let app = TestApp::spawn(pool.clone()).await;
    app.customer("r@example.com").await;
    // No cookie store and no redirects: the test sends the cookie and reads Set-Cookie.
    let client = crate::helpers::plain_client();
    let res = app
        .log_in(&client, "r@example.com")
        .header("accept", "text/html")
        .header("origin", &app.base)
        .send()
        .await;
    let session_cookie = crate::helpers::session_cookie;
    let cookie = session_cookie(&res).expect("the login sets the session cookie");
    let value = cookie.split(';').next().unwrap().to_string();
    let id: Id = value.split_once('=').unwrap().1.parse().unwrap();
    let store = tower_sessions_sqlx_store::PostgresStore::new(pool.clone());
    let idle = Duration::days(app::auth::sessions::SESSION_IDLE_DAYS);
    let visit = |path: &'static str| {
        let req = if path.starts_with("/sfn/") {
            client.post(app.url(path)).header("origin", &app.base)
        } else {
            client.get(app.url(path))
        };
        req.header("cookie", &value).send()
    };

    let at_login = store.load(&id).await.unwrap().expect("stored session");
    let now = OffsetDateTime::now_utc();
    assert!(at_login.expiry_date > now + idle - Duration::minutes(1));
    let renewed = |r: &tower_sessions::session::Record| r.data["renewed_at"].as_i64().unwrap();
    assert!((renewed(&at_login) - now.unix_timestamp()).abs() < 60);

    // The next visit, the same day: nothing is written.
    let res = visit("/mypage").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(session_cookie(&res), None);
    assert_eq!(store.load(&id).await.unwrap().unwrap(), at_login);

    // A day later (the record aged by hand), a page renews it; then a server function.
    for path in ["/mypage", "/sfn/auth/me"] {
        let mut aged = store.load(&id).await.unwrap().unwrap();
        let day_ago = OffsetDateTime::now_utc() - Duration::hours(25);
        aged.data
            .insert("renewed_at".into(), json!(day_ago.unix_timestamp()));
        aged.expiry_date = day_ago + idle;
        store.save(&aged).await.unwrap();

        let res = visit(path).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let sent = session_cookie(&res).unwrap_or_else(|| panic!("{path}: no cookie re-sent"));
        assert!(sent.starts_with(&value), "{path}: same session id: {sent}");
        let stored = store.load(&id).await.unwrap().unwrap();
        let now = OffsetDateTime::now_utc();
        assert!(
            stored.expiry_date > now + idle - Duration::minutes(1),
            "{path}"
        );
        assert!(
            (renewed(&stored) - now.unix_timestamp()).abs() < 60,
            "{path}"
        );
        assert_eq!(stored.data["principal"], at_login.data["principal"]);

        let res = visit(path).await.unwrap();
        assert_eq!(session_cookie(&res), None, "{path}: renewed once");
    }

    // Expired: the visit is signed out and no session comes back.
    let mut expired = store.load(&id).await.unwrap().unwrap();
    expired.expiry_date = OffsetDateTime::now_utc() - Duration::minutes(1);
    store.save(&expired).await.unwrap();
    let me = visit("/sfn/auth/me").await.unwrap().text().await.unwrap();
    assert_eq!(me, "null");
    let live: i64 =
        sqlx::query_scalar("select count(*) from tower_sessions.session where expiry_date > now()")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(live, 0);
}
