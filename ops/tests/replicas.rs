//! Several replicas behind nginx: purchases spread over them without losing or doubling
//! anything, sessions and tokens work on every replica, and a rolling restart under
//! steady load fails no request.

use std::collections::HashSet;
use std::time::Duration;

use ops::{Env, Load, LoadPlan, Outcome, PASSWORD, say};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purchases_spread_over_replicas_and_sessions_work_on_each() {
    let env = Env::up(3, &[]).await;
    let coupon = env.coupon(100_000, 3000).await;
    let tokens = env.customers(8).await;
    say!(
        "owner made a coupon (stock {}), 8 customers signed up through nginx",
        coupon.stock
    );

    let load = Load::start(LoadPlan {
        base: env.url.clone(),
        coupon: coupon.id,
        tokens: tokens.clone(),
        buyers: 12,
        readers: 0,
        pace: Duration::from_millis(10),
        retry_for: Duration::ZERO,
    });
    tokio::time::sleep(Duration::from_secs(8)).await;
    let result = load.stop().await;
    say!(
        "{} purchases in {:.1}s through nginx: {}",
        result.purchases.len(),
        result.duration.as_secs_f64(),
        result.tally.describe()
    );
    let failed: Vec<_> = result
        .purchases
        .iter()
        .filter(|p| p.final_outcome != Outcome::Status(201))
        .collect();
    assert!(
        failed.is_empty(),
        "purchases not accepted: {:?}",
        &failed[..failed.len().min(5)]
    );

    // Spread: nginx's log names the replica of every purchase.
    let spread = env.purchases_per_replica();
    say!("purchases per replica (nginx access log): {spread:?}");
    for r in &env.replicas {
        let addr = r.trim_start_matches("http://");
        let n = spread.get(addr).copied().unwrap_or(0);
        assert!(
            n * 10 >= result.purchases.len() / env.replicas.len(),
            "replica {addr} served only {n} of {} purchases",
            result.purchases.len()
        );
    }
    // The request id nginx passed on is the one stored with each order's OrderPlaced.
    let ids: Vec<String> = result
        .purchases
        .iter()
        .filter_map(|p| p.request_id.clone())
        .collect();
    assert_eq!(
        ids.len(),
        result.purchases.len(),
        "every answer echoes X-Request-Id"
    );
    let tagged: i64 = sqlx::query_scalar(
        "select count(*) from events where event_type = 'OrderPlaced' and request_id = any($1)",
    )
    .bind(&ids)
    .fetch_one(&env.db)
    .await
    .unwrap();
    assert_eq!(
        tagged as usize,
        ids.len(),
        "OrderPlaced events carry the request ids"
    );
    say!(
        "each of the {} OrderPlaced events carries the X-Request-Id its answer echoed",
        tagged
    );

    let settled = env
        .wait_settled(coupon.id, Duration::from_secs(30))
        .await
        .expect("every order paid within 30 s");
    say!(
        "all orders settled {:.1}s after the load stopped",
        settled.as_secs_f64()
    );
    let report = env.check_saga(&coupon, &result.accepted()).await;
    assert_eq!(report.paid, result.purchases.len(), "every 201 ends paid");
    assert_eq!(report.unacknowledged, 0);
    // The workers of all replicas shared the work.
    let mut workers = Vec::new();
    for r in &env.replicas {
        workers.push(
            env.metric(r, "coupan_payment_jobs_total", "outcome=\"paid\"")
                .await,
        );
    }
    say!("payments completed per replica's worker (metrics): {workers:?}");
    assert_eq!(
        workers.iter().sum::<f64>() as usize,
        report.paid,
        "each payment completed once"
    );

    // Sessions and tokens: log in through nginx (browser form), then use the cookie and
    // a bearer token on each replica directly.
    let email = "session@ops.example.com";
    let token = env.account(email, "customer", None).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = browser
        .post(format!("{}/sfn/auth/login", env.url))
        .header("origin", &env.url)
        .header("accept", "text/html")
        .header("referer", format!("{}/login", env.url))
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "form login through nginx");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("coupan_session="))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    for r in &env.replicas {
        let me: serde_json::Value = env
            .client
            .get(format!("{r}/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["email"], email, "GET {r}/api/v1/me with the token: {me}");
        let sfn = env
            .client
            .post(format!("{r}/sfn/auth/me"))
            .header("cookie", &cookie)
            // The public origin is nginx's (replicas.sh sets COUPAN_PUBLIC_ORIGIN).
            .header("origin", &env.url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            sfn.contains(email),
            "{r}/sfn/auth/me with the cookie: {sfn}"
        );
        let page = env
            .client
            .get(format!("{r}/mypage"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("data-testid=\"no-orders\""),
            "{r}/mypage with the cookie shows the (empty) order list"
        );
        let anonymous = env
            .client
            .get(format!("{r}/mypage"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !anonymous.contains("data-testid=\"no-orders\""),
            "{r}/mypage without the cookie must not show an order list"
        );
    }
    say!(
        "the session cookie from a form login through nginx and a bearer token both work on each of {} replicas (/api/v1/me, /sfn/auth/me, /mypage)",
        env.replicas.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolling_restart_under_load_fails_no_request() {
    let env = Env::up(3, &[]).await;
    let coupon = env.coupon(100_000, 2000).await;
    let tokens = env.customers(6).await;
    let load = Load::start(LoadPlan {
        base: env.url.clone(),
        coupon: coupon.id,
        tokens,
        buyers: 6,
        readers: 4,
        pace: Duration::from_millis(20),
        retry_for: Duration::ZERO, // every answer counts as it is
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 1..=env.replicas.len() {
        let before = load.counts().values().sum::<u64>();
        ops::script(&["restart", &i.to_string()]).await;
        let after = load.counts().values().sum::<u64>();
        say!(
            "replica {i} restarted (SIGTERM, exit, start, ready); {} requests answered meanwhile",
            after - before
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let result = load.stop().await;
    say!(
        "steady load for {:.1}s during the rolling restart: {}",
        result.duration.as_secs_f64(),
        result.tally.describe()
    );
    let bad: Vec<_> = result
        .tally
        .counts
        .iter()
        .filter(|((_, o), _)| !matches!(o, Outcome::Status(200 | 201 | 409)))
        .collect();
    assert!(
        bad.is_empty(),
        "failed requests during the rolling restart: {bad:?}"
    );
    assert!(
        result
            .tally
            .total("purchase", |o| *o == Outcome::Status(201))
            > 50
    );
    let settled = env
        .wait_settled(coupon.id, Duration::from_secs(30))
        .await
        .expect("every order paid within 30 s");
    say!(
        "all orders settled {:.1}s after the load stopped",
        settled.as_secs_f64()
    );
    let accepted: HashSet<_> = result.accepted();
    let report = env.check_saga(&coupon, &accepted).await;
    assert_eq!(report.paid, accepted.len());
    say!("0 failed requests; every accepted purchase paid once");
}
