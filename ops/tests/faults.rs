//! Fault tests on loopback, each bounded in time: an app process killed with SIGKILL in
//! the middle of a purchase burst, the payment gateway down for a minute, PostgreSQL
//! restarted under load. Each prints what it did and what it checked.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ops::{Env, Load, LoadPlan, Outcome, Tally, say, wait_for_status};

fn plan(env: &Env, coupon: uuid::Uuid, tokens: &[String]) -> LoadPlan {
    LoadPlan {
        base: env.url.clone(),
        coupon,
        tokens: tokens.to_vec(),
        buyers: 8,
        readers: 0,
        pace: Duration::from_millis(10),
        retry_for: Duration::ZERO,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_purchase_bursts_loses_and_doubles_nothing() {
    let env = Env::up(3, &[]).await;
    let coupon = env.coupon(100_000, 5000).await;
    let tokens = env.customers(8).await;
    let mut accepted = HashSet::new();
    let mut all = Tally::default();
    let mut purchases = 0;
    for round in 1..=3 {
        let victim = round;
        // A client that resends with the same Idempotency-Key after a 502/503 or a
        // broken connection, as the buy page does.
        let load = Load::start(LoadPlan {
            buyers: 12,
            retry_for: Duration::from_secs(20),
            ..plan(&env, coupon.id, &tokens)
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        ops::script(&["kill9", &victim.to_string()]).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let result = load.stop().await;
        say!(
            "round {round}: SIGKILL to replica {victim} in a burst of {} purchases: answers {}",
            result.purchases.len(),
            result.tally.describe()
        );
        let not_accepted: Vec<_> = result
            .purchases
            .iter()
            .filter(|p| p.final_outcome != Outcome::Status(201))
            .collect();
        assert!(
            not_accepted.is_empty(),
            "purchases that did not end 201 after retrying with their key: {not_accepted:?}"
        );
        purchases += result.purchases.len();
        accepted.extend(result.accepted());
        for (k, n) in result.tally.counts {
            *all.counts.entry(k).or_default() += n;
        }
        ops::script(&["start", &victim.to_string()]).await;
    }
    let retried = all.total("purchase", |o| *o != Outcome::Status(201));
    say!(
        "3 rounds: {purchases} purchases, {} distinct orders answered 201, {retried} attempts answered otherwise and were resent with the same key ({})",
        accepted.len(),
        all.describe()
    );
    assert_eq!(accepted.len(), purchases, "one order per idempotency key");
    let settled = env
        .wait_settled(coupon.id, Duration::from_secs(30))
        .await
        .expect("every order paid or failed within 30 s");
    say!(
        "all orders settled {:.1}s after the last round",
        settled.as_secs_f64()
    );
    let report = env.check_saga(&coupon, &accepted).await;
    assert_eq!(report.paid + report.failed, report.orders);
    assert_eq!(report.failed, 0, "the gateway declines nothing here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_down_for_a_minute_purchases_go_on_and_are_paid_after() {
    let env = Env::up(3, &[("COUPAN_BREAKER_OPEN_SECS", "2")]).await;
    let coupon = env.coupon(100_000, 7000).await;
    let tokens = env.customers(4).await;
    let open_before = env
        .metric_sum("coupan_payment_breaker_transitions_total", "to=\"open\"")
        .await;
    let load = Load::start(LoadPlan {
        buyers: 4,
        readers: 2,
        pace: Duration::from_millis(100),
        ..plan(&env, coupon.id, &tokens)
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    ops::script(&["gateway-stop"]).await;
    let down_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let unpaid: i64 = sqlx::query_scalar(
        "select count(*) from orders where coupon_id = $1 and status = 'ordered'",
    )
    .bind(coupon.id)
    .fetch_one(&env.db)
    .await
    .unwrap();
    let open_during = env
        .metric_sum("coupan_payment_breaker_transitions_total", "to=\"open\"")
        .await;
    say!(
        "gateway down for {:.0}s: {unpaid} orders waiting for payment; breaker opened {} times over the replicas",
        down_at.elapsed().as_secs_f64(),
        open_during - open_before
    );
    ops::script(&["gateway-start"]).await;
    let back_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let result = load.stop().await;
    say!(
        "load over {:.0}s: {}",
        result.duration.as_secs_f64(),
        result.tally.describe()
    );
    let bad: Vec<_> = result
        .tally
        .counts
        .iter()
        .filter(|((_, o), _)| !matches!(o, Outcome::Status(200 | 201)))
        .collect();
    assert!(
        bad.is_empty(),
        "requests failed while the gateway was down: {bad:?}"
    );
    assert!(
        unpaid > 100,
        "purchases were accepted while the gateway was down"
    );
    env.wait_settled(coupon.id, Duration::from_secs(28))
        .await
        .expect("every order paid within 30 s after the gateway came back");
    let paid_after = back_at.elapsed();
    say!(
        "all orders paid {:.1}s after the gateway came back",
        paid_after.as_secs_f64()
    );
    assert!(paid_after <= Duration::from_secs(30));
    let mut per_replica = Vec::new();
    for r in &env.replicas {
        let open = env
            .metric(r, "coupan_payment_breaker_transitions_total", "to=\"open\"")
            .await;
        let closed = env
            .metric(
                r,
                "coupan_payment_breaker_transitions_total",
                "to=\"closed\"",
            )
            .await;
        let state = env.metric(r, "coupan_payment_breaker_state", "").await;
        per_replica.push((open, closed, state));
    }
    say!("breaker per replica (opened, closed, state now; metrics): {per_replica:?}");
    assert!(
        per_replica
            .iter()
            .all(|(o, c, s)| *o >= 1.0 && *c >= 1.0 && *s == 0.0),
        "each replica's breaker opened, closed, and is closed now"
    );
    let report = env.check_saga(&coupon, &result.accepted()).await;
    assert_eq!(report.paid, result.accepted().len(), "every 201 ends paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_answers_503_meanwhile_and_recovers_without_app_restarts() {
    let env = Env::up(3, &[]).await;
    let coupon = env.coupon(100_000, 3000).await;
    let tokens = env.customers(4).await;
    let pids_before = pids(&env);
    let listening = || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from pg_stat_activity where query ilike 'listen%payment_jobs%'",
        )
        .fetch_one(&env.db)
        .await
        .unwrap_or(-1)
    };
    let listeners_before = listening().await;
    say!("{listeners_before} connections LISTEN for payment work before the restart");
    assert_eq!(listeners_before, env.replicas.len() as i64);

    let load = Load::start(LoadPlan {
        buyers: 4,
        readers: 4,
        pace: Duration::from_millis(50),
        ..plan(&env, coupon.id, &tokens)
    });
    // Readiness of each replica, polled directly.
    let stop_probe = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut probes = Vec::new();
    for r in env.replicas.clone() {
        let stop = stop_probe.clone();
        probes.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let started = Instant::now();
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let s = client
                    .get(format!("{r}/readyz"))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .map(|res| res.status().as_u16())
                    .unwrap_or(0);
                seen.push((started.elapsed(), s));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    ops::script(&["pg-stop"]).await;
    let down_from = load.since_start();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let down_to = load.since_start();
    ops::script(&["pg-start"]).await;
    let up_at = Instant::now();
    // The payment workers' LISTEN connections come back by themselves (same processes).
    let mut listeners_after = 0;
    while up_at.elapsed() < Duration::from_secs(15) {
        listeners_after = listening().await;
        if listeners_after == env.replicas.len() as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    say!(
        "{listeners_after} connections LISTEN for payment work {:.1}s after PostgreSQL was back",
        up_at.elapsed().as_secs_f64()
    );
    assert_eq!(
        listeners_after,
        env.replicas.len() as i64,
        "every worker LISTENs again within 15 s"
    );
    // Serving again: a purchase through nginx is accepted.
    let client = reqwest::Client::new();
    let mut recovered = None;
    while up_at.elapsed() < Duration::from_secs(20) {
        let res = client
            .post(format!("{}/api/v1/orders", env.url))
            .bearer_auth(&tokens[0])
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&serde_json::json!({ "coupon_id": coupon.id, "quantity": 1 }))
            .send()
            .await;
        if res.is_ok_and(|r| r.status() == 201) {
            recovered = Some(up_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recovered = recovered.expect("purchases accepted again within 20 s of PostgreSQL's start");
    say!(
        "first purchase accepted {:.1}s after PostgreSQL was back",
        recovered.as_secs_f64()
    );
    for r in &env.replicas {
        assert!(
            wait_for_status(
                &client,
                &format!("{r}/readyz"),
                200,
                Duration::from_secs(20)
            )
            .await,
            "{r}/readyz ready again"
        );
    }
    // Steady again for a few seconds, then stop.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after_from = load.since_start().as_secs();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let result = load.stop().await;
    stop_probe.store(true, std::sync::atomic::Ordering::Relaxed);
    say!(
        "load over {:.0}s with PostgreSQL down from {:.1}s to {:.1}s: {}",
        result.duration.as_secs_f64(),
        down_from.as_secs_f64(),
        down_to.as_secs_f64(),
        result.tally.describe()
    );
    // While it was down (a second's margin at each end): 503, never 500, never a hang.
    let (lo, hi) = (down_from.as_secs() + 1, down_to.as_secs().saturating_sub(1));
    let mut during = std::collections::BTreeMap::new();
    for ((what, sec, o), n) in &result.tally.timeline {
        if (lo..=hi).contains(sec) {
            *during.entry((what.clone(), o.clone())).or_insert(0u64) += n;
        }
    }
    say!("answers while PostgreSQL was down (s {lo}..={hi}): {during:?}");
    assert!(
        during.keys().all(|(_, o)| *o == Outcome::Status(503)),
        "only 503 while the database is down: {during:?}"
    );
    assert!(
        // Each waits for the pool's acquire timeout (5 s) before its 503: 8 tasks
        // answer a few times in the window.
        during.values().sum::<u64>() >= 4,
        "requests were answered meanwhile"
    );
    let anywhere_bad: Vec<_> = result
        .tally
        .counts
        .iter()
        .filter(|((_, o), _)| !matches!(o, Outcome::Status(200 | 201 | 503)))
        .collect();
    assert!(
        anywhere_bad.is_empty(),
        "no 500, timeout or connection error at any time: {anywhere_bad:?}"
    );
    let after: u64 = result
        .tally
        .timeline
        .iter()
        .filter(|((_, sec, _), _)| *sec >= after_from)
        .map(|(_, n)| n)
        .sum();
    let after_ok: u64 = result
        .tally
        .timeline
        .iter()
        .filter(|((_, sec, o), _)| *sec >= after_from && matches!(o, Outcome::Status(200 | 201)))
        .map(|(_, n)| n)
        .sum();
    say!("after recovery: {after_ok} of {after} answers 2xx");
    assert_eq!(after_ok, after, "every request succeeds after recovery");
    for (r, probe) in env.replicas.iter().zip(probes) {
        let seen = probe.await.unwrap();
        let down: Vec<u16> = seen
            .iter()
            .filter(|(t, _)| *t > down_from + Duration::from_millis(500) && *t < down_to)
            .map(|(_, s)| *s)
            .collect();
        assert!(
            !down.is_empty() && down.iter().all(|s| *s == 503),
            "{r}/readyz while PostgreSQL was down: {down:?}"
        );
        say!(
            "{r}/readyz answered 503 {} times while PostgreSQL was down, 200 after",
            down.len()
        );
    }
    assert_eq!(pids(&env), pids_before, "no app process was restarted");
    // The payment worker resumed: its LISTEN connection is back and every order is paid.
    let settled = env
        .wait_settled(coupon.id, Duration::from_secs(30))
        .await
        .expect("every order paid within 30 s");
    say!(
        "all orders paid {:.1}s after the load stopped",
        settled.as_secs_f64()
    );
    let accepted = result.accepted();
    let report = env.check_saga(&coupon, &accepted).await;
    // The recovery probe's purchase is not in `accepted`; every 503 placed nothing.
    assert_eq!(
        report.unacknowledged, 1,
        "only the recovery probe's order is outside the load"
    );
}

fn pids(env: &Env) -> Vec<String> {
    (1..=env.replicas.len())
        .map(|i| {
            std::fs::read_to_string(env.dir.join(format!("replica-{i}.pid"))).unwrap_or_default()
        })
        .collect()
}
