//! Attacks through a victim's browser (issue #14 §2): cross-site requests refused by their
//! origin (log-in and sign-up included), the cookies behind HTTPS, private answers never
//! stored by caches, the headers that tell browsers so, and the absolute end of a session.

use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{
    NewCoupon, PASSWORD, TestApp, expect_error, plain_client, session_pair, test_config_with,
};

const EVIL: &str = "https://evil.example";

/// Logs `email` in through the log-in form's server function, sent from `origin`, and
/// returns the session cookie as a browser sends it back (`name=value`).
async fn session_of(app: &TestApp, email: &str, origin: &str) -> String {
    let res = app
        .log_in(&plain_client(), email)
        .header("origin", origin)
        .send()
        .await;
    assert!(
        res.status().is_success(),
        "log-in from {origin}: {}",
        res.status()
    );
    session_pair(&res).expect("the log-in sets the session cookie")
}

fn coupon_form(name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", name.to_string()),
        ("description", "desc".into()),
        ("price", "1000".into()),
        ("stock", "5".into()),
        ("sale_starts_at", String::new()),
        ("sale_ends_at", String::new()),
        ("valid_until", String::new()),
        ("per_customer_limit", String::new()),
    ]
}

async fn coupons_named(app: &TestApp, name: &str) -> i64 {
    sqlx::query_scalar("select count(*) from coupons where name = $1")
        .bind(name)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The owner's coupon form posted with the session `cookie`, plus whatever `with` adds.
fn create_coupon(
    app: &TestApp,
    cookie: &str,
    name: &str,
    with: impl FnOnce(RequestBuilder) -> RequestBuilder,
) -> RequestBuilder {
    with(
        plain_client()
            .post(app.url("/sfn/owner/coupons/create"))
            .header("cookie", cookie)
            .form(&coupon_form(name)),
    )
}

#[sqlx::test(migrations = "../migrations")]
async fn cross_site_posts_carrying_the_session_cookie_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.owner("o@example.com", "Shop").await;
    let cookie = session_of(&app, "o@example.com", &app.base).await;

    /// What a request is made to look like, named.
    type Disguise = (
        &'static str,
        Box<dyn FnOnce(RequestBuilder) -> RequestBuilder>,
    );
    let refused: Vec<Disguise> = vec![
        ("another site", Box::new(|r| r.header("origin", EVIL))),
        (
            "the same host on another port",
            Box::new(|r| r.header("origin", "http://127.0.0.1:1")),
        ),
        ("an opaque origin", Box::new(|r| r.header("origin", "null"))),
        ("no origin at all", Box::new(|r| r)),
        (
            "a cross-site fetch without Origin",
            Box::new(|r| r.header("sec-fetch-site", "cross-site")),
        ),
        (
            "a sibling subdomain (same-site is not same-origin)",
            Box::new(|r| r.header("sec-fetch-site", "same-site")),
        ),
        (
            "another site, even when it claims same-origin",
            Box::new(|r| {
                r.header("origin", EVIL)
                    .header("sec-fetch-site", "same-origin")
            }),
        ),
    ];
    for (what, with) in refused {
        let res = create_coupon(&app, &cookie, "Forged", with)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{what}");
        // A hydrated page's fetch reads the error as the server function's own.
        let body: Value = res.json().await.unwrap();
        assert_eq!(body, json!("Forbidden"), "{what}");
    }
    // A plain form post from another site gets a page, not JSON.
    let res = create_coupon(&app, &cookie, "Forged", |r| {
        r.header("origin", EVIL)
            .header("accept", "text/html")
            .header("referer", format!("{EVIL}/trap"))
    })
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get("location").is_none());
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"data-testid="cross-site-refused""#),
        "{html}"
    );
    // A forged log-out does not end the session either.
    let res = plain_client()
        .post(app.url("/sfn/auth/logout"))
        .header("cookie", &cookie)
        .header("origin", EVIL)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        coupons_named(&app, "Forged").await,
        0,
        "nothing was created"
    );

    // From the site itself: by its Origin, or (no Origin) by the browser's own word.
    let res = create_coupon(&app, &cookie, "Real", |r| r.header("origin", &app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = create_coupon(&app, &cookie, "Real", |r| {
        r.header("sec-fetch-site", "same-origin")
    })
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(coupons_named(&app, "Real").await, 2);
}

/// Log-in CSRF: another site must not sign the visitor into the attacker's account, nor
/// create accounts in the visitor's name.
#[sqlx::test(migrations = "../migrations")]
async fn log_in_and_sign_up_must_come_from_the_site(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await;
    for origin in [Some(EVIL), None] {
        let mut login = app.log_in(&plain_client(), "c@example.com");
        if let Some(o) = origin {
            login = login.header("origin", o);
        }
        let res = login.send().await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "origin {origin:?}");
        assert_eq!(session_pair(&res), None, "no session for a forged log-in");

        let mut signup = plain_client()
            .post(app.url("/sfn/auth/signup"))
            .header("accept", "text/html")
            .form(&[
                ("email", "victim@example.com"),
                ("password", PASSWORD),
                ("name", "Victim"),
                ("role", "customer"),
            ]);
        if let Some(o) = origin {
            signup = signup.header("origin", o);
        }
        let res = signup.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "origin {origin:?}");
    }
    let made: i64 = sqlx::query_scalar("select count(*) from users where email = $1")
        .bind("victim@example.com")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(made, 0);
    // The site's own form works.
    session_of(&app, "c@example.com", &app.base).await;
}

/// What needs no origin check: API calls with a bearer token (a browser never adds one by
/// itself), requests without any credential, and plain page visits.
#[sqlx::test(migrations = "../migrations")]
async fn bearer_calls_anonymous_reads_and_page_visits_are_not_checked(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let res = plain_client()
        .post(app.url("/api/v1/coupons"))
        .bearer_auth(&owner)
        .header("origin", EVIL)
        .json(&NewCoupon::named("By token").body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    let res = plain_client()
        .post(app.url("/sfn/coupons/list"))
        .header("origin", EVIL)
        .form(&[("q", ""), ("shop", ""), ("page", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "anonymous read");

    let cookie = session_of(&app, "o@example.com", &app.base).await;
    let res = plain_client()
        .get(app.url("/owner/dashboard"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "a link from another site");

    // The API does not sign anyone in by cookie, but a request carrying the session
    // cookie from another site is refused all the same (in the API's error shape).
    let res = plain_client()
        .post(app.url("/api/v1/coupons"))
        .header("cookie", &cookie)
        .header("origin", EVIL)
        .json(&NewCoupon::named("By cookie").body())
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

/// `COUPAN_PUBLIC_ORIGIN` is the one origin accepted (the address the app listens on is
/// not, once it is set).
#[sqlx::test(migrations = "../migrations")]
async fn the_configured_public_origin_is_the_one_accepted(pool: PgPool) {
    let config = test_config_with(&[("COUPAN_PUBLIC_ORIGIN", "https://coupan.example")]);
    let app = TestApp::spawn_with(pool, config).await;
    app.customer("c@example.com").await;
    let res = app
        .log_in(&plain_client(), "c@example.com")
        .header("origin", &app.base)
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    session_of(&app, "c@example.com", "https://coupan.example").await;
}

fn set_cookies(res: &Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// Behind HTTPS: every cookie `__Host-`-prefixed (`Secure`, `Path=/`, no `Domain`: no
/// other host or plain-HTTP answer can set or shadow it), and HSTS on every answer.
#[sqlx::test(migrations = "../migrations")]
async fn behind_https_cookies_are_host_only_and_secure(pool: PgPool) {
    const SITE: &str = "https://coupan.example";
    let config = test_config_with(&[
        ("COUPAN_SECURE_COOKIES", "true"),
        ("COUPAN_PUBLIC_ORIGIN", SITE),
    ]);
    let app = TestApp::spawn_with(pool, config).await;
    app.customer("c@example.com").await;
    let host_only = |cookie: &str, name: &str| {
        assert!(cookie.starts_with(&format!("__Host-{name}=")), "{cookie}");
        let attrs: Vec<String> = cookie
            .split(';')
            .skip(1)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        assert!(attrs.iter().any(|a| a == "secure"), "{cookie}");
        assert!(attrs.iter().any(|a| a == "path=/"), "{cookie}");
        assert!(!attrs.iter().any(|a| a.starts_with("domain")), "{cookie}");
    };

    let res = app
        .log_in(&plain_client(), "c@example.com")
        .header("origin", SITE)
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let hsts = res.headers()["strict-transport-security"].to_str().unwrap();
    let max_age: u64 = hsts
        .split(';')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age >= 31_536_000, "{hsts}");
    let session = set_cookies(&res)
        .into_iter()
        .find(|c| c.contains("coupan_session="))
        .unwrap();
    host_only(&session, "coupan_session");
    assert!(session.contains("HttpOnly"));
    let pair = session.split(';').next().unwrap().to_string();

    let me = |cookie: String| {
        plain_client()
            .post(app.url("/sfn/auth/me"))
            .header("cookie", cookie)
            .header("origin", SITE)
            .send()
    };
    let body = me(pair.clone()).await.unwrap().text().await.unwrap();
    assert!(body.contains("c@example.com"), "{body}");
    // The same id under the plain name (as a sibling host could set it) is not a session.
    let plain = pair.trim_start_matches("__Host-").to_string();
    assert_eq!(me(plain).await.unwrap().text().await.unwrap(), "null");

    // The one-time message and the kept form fields: the same.
    let res = plain_client()
        .post(app.url("/sfn/auth/signup"))
        .header("origin", SITE)
        .form(&[
            ("email", "new@example.com"),
            ("password", PASSWORD),
            ("name", "New"),
            ("role", "customer"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let flash = set_cookies(&res)
        .into_iter()
        .find(|c| c.contains("coupan_flash="))
        .expect("a sign-up leaves a message");
    host_only(&flash, "coupan_flash");
    let res = plain_client()
        .post(app.url("/sfn/auth/signup"))
        .header("origin", SITE)
        .header("accept", "text/html")
        .header("referer", format!("{SITE}/signup"))
        .form(&[
            ("email", "bad"),
            ("password", "x"),
            ("name", "Kim"),
            ("role", "customer"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let kept = set_cookies(&res)
        .into_iter()
        .find(|c| c.contains("coupan_form="))
        .expect("the typed fields are kept");
    host_only(&kept, "coupan_form");
}

#[sqlx::test(migrations = "../migrations")]
async fn over_plain_http_cookies_keep_their_names_and_there_is_no_hsts(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await;
    let res = app
        .log_in(&plain_client(), "c@example.com")
        .header("origin", &app.base)
        .send()
        .await;
    assert!(res.headers().get("strict-transport-security").is_none());
    let session = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("coupan_session="))
        .unwrap();
    assert!(!session.contains("Secure"), "{session}");
}

fn cache_control(res: &Response) -> String {
    res.headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Private answers (voucher codes are bearer secrets) are never stored by a browser or a
/// proxy: any answer to a request with a credential, or that sets one. Every answer says
/// which browser features the pages may use (none of the powerful ones).
#[sqlx::test(migrations = "../migrations")]
async fn private_answers_are_never_stored(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.owner("o@example.com", "Shop").await;
    let customer = app.customer("c@example.com").await;
    let coupon = NewCoupon::named("Latte").create(&app, &owner).await;
    let order: Value = app
        .buy(&customer, coupon["id"].as_str().unwrap(), 1, None)
        .await
        .json()
        .await
        .unwrap();
    let order_path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());

    for (path, token) in [
        ("/api/v1/me", &customer),
        ("/api/v1/mypage", &customer),
        (order_path.as_str(), &customer),
        ("/api/v1/owner/dashboard", &owner),
        ("/api/v1/coupons", &owner),
    ] {
        let res = app.get(path, Some(token)).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(cache_control(&res), "no-store", "{path}");
    }
    // Refusals of private routes too.
    let res = app.get("/api/v1/mypage", Some(&owner)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(cache_control(&res), "no-store");
    let res = app
        .token_request("c@example.com", PASSWORD)
        .send()
        .await
        .unwrap();
    assert_eq!(cache_control(&res), "no-store", "a token");

    let login = app
        .log_in(&plain_client(), "c@example.com")
        .header("origin", &app.base)
        .send()
        .await;
    assert_eq!(
        cache_control(&login),
        "no-store",
        "an answer that sets a cookie"
    );
    let cookie = session_pair(&login).unwrap();
    for path in ["/mypage", "/", "/owner/dashboard"] {
        let res = plain_client()
            .get(app.url(path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(cache_control(&res), "no-store", "{path}");
    }
    let res = plain_client()
        .post(app.url("/sfn/mypage"))
        .header("cookie", &cookie)
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(cache_control(&res), "no-store", "a server function");

    // Public answers to anonymous visitors may be cached as before.
    for path in ["/api/v1/coupons", "/"] {
        let res = plain_client().get(app.url(path)).send().await.unwrap();
        assert_ne!(cache_control(&res), "no-store", "{path}");
        let policy = res.headers()["permissions-policy"].to_str().unwrap();
        for feature in ["camera=()", "microphone=()", "geolocation=()", "payment=()"] {
            assert!(policy.contains(feature), "{path}: {policy}");
        }
        assert!(res.headers().get("strict-transport-security").is_none());
    }
}

/// A browser session ends 30 days after its log-in however often it is used (the idle
/// limit alone would let a stolen cookie live forever); renewals never reach past that.
#[sqlx::test(migrations = "../migrations")]
async fn sessions_end_thirty_days_after_log_in(pool: PgPool) {
    use tower_sessions::SessionStore;
    use tower_sessions::cookie::time::{Duration, OffsetDateTime};
    use tower_sessions::session::Id;

    let app = TestApp::spawn(pool.clone()).await;
    app.customer("c@example.com").await;
    let store = tower_sessions_sqlx_store::PostgresStore::new(pool.clone());
    let me = |cookie: String| {
        plain_client()
            .post(app.url("/sfn/auth/me"))
            .header("cookie", cookie)
            .header("origin", &app.base)
            .send()
    };
    let id_of = |pair: &str| -> Id { pair.split_once('=').unwrap().1.parse().unwrap() };
    // Ages a session: logged in `days` ago, last renewed a day and more ago.
    let age = |id: Id, days: i64| {
        let store = store.clone();
        async move {
            let mut r = store.load(&id).await.unwrap().expect("stored session");
            let now = OffsetDateTime::now_utc();
            r.data.insert(
                "signed_in_at".into(),
                json!((now - Duration::days(days)).unix_timestamp()),
            );
            r.data.insert(
                "renewed_at".into(),
                json!((now - Duration::hours(25)).unix_timestamp()),
            );
            store.save(&r).await.unwrap();
        }
    };

    // Near the end: the renewal moves the expiry only up to 30 days after the log-in.
    let cookie = session_of(&app, "c@example.com", &app.base).await;
    age(id_of(&cookie), 27).await;
    let res = me(cookie.clone()).await.unwrap();
    assert!(session_pair(&res).is_some(), "renewed");
    assert!(res.text().await.unwrap().contains("c@example.com"));
    let stored = store.load(&id_of(&cookie)).await.unwrap().unwrap();
    let left = stored.expiry_date - OffsetDateTime::now_utc();
    assert!(
        left > Duration::days(3) - Duration::minutes(5) && left <= Duration::days(3),
        "expires {left} from now, not the full idle time"
    );

    // Past the end: signed out, the record gone.
    age(id_of(&cookie), 31).await;
    let res = me(cookie.clone()).await.unwrap();
    assert_eq!(res.text().await.unwrap(), "null");
    assert_eq!(store.load(&id_of(&cookie)).await.unwrap(), None);
    let res = plain_client()
        .get(app.url("/mypage"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(!res.text().await.unwrap().contains("c@example.com"));
}
