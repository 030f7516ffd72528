//! What must hold after every purchase run: the saga invariants of the `invariants` crate
//! (the same checks as the server and operations tests), on the database and the payment
//! gateway's ledger. Any violation fails the benchmark.

use invariants::{Expect, Scope};
use sqlx::PgPool;
use uuid::Uuid;

use crate::flash::Tally;

#[derive(Clone, Debug, Default)]
pub struct Inv {
    pub remaining: i64,
    /// Units in live (`ordered` or `paid`) orders.
    pub sold: i64,
    pub paid: usize,
    pub failed: usize,
    pub charges: usize,
    pub violations: Vec<String>,
}

/// The stand-in gateway: where it is and its secret key (`BENCH_GATEWAY_URL`,
/// `BENCH_GATEWAY_KEY`); its ledger is an admin route, which `scripts/bench.sh` turns on.
#[derive(Clone, Copy, Debug)]
pub struct Gateway<'a> {
    pub url: &'a str,
    pub key: &'a str,
}

/// The gateway's ledger, as `GET /v1/ledger` answers it.
async fn ledger(gateway: Gateway<'_>) -> Result<paygate::Ledger, String> {
    let url = format!(
        "{}{}",
        gateway.url.trim_end_matches('/'),
        paygate::LEDGER_PATH
    );
    reqwest::Client::new()
        .get(url)
        .header("authorization", paygate::basic_authorization(gateway.key))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("gateway ledger: {e}"))?
        .json()
        .await
        .map_err(|e| format!("gateway ledger: {e}"))
}

fn db(e: sqlx::Error) -> String {
    format!("invariant query: {e}")
}

/// Checks one coupon's run after the drain: `initial` units at the start, `tally` the
/// answers the clients got. The bench cancels nothing.
pub async fn check(
    pool: &PgPool,
    gateway: Gateway<'_>,
    coupon_id: &str,
    initial: i64,
    tally: &Tally,
) -> Result<Inv, String> {
    let coupon: Uuid = coupon_id
        .parse()
        .map_err(|e| format!("coupon id {coupon_id:?}: {e}"))?;
    let mut violations = Vec::new();
    let mut answered = Vec::with_capacity(tally.ids.len());
    for id in &tally.ids {
        match id.parse::<Uuid>() {
            Ok(id) => answered.push(id),
            Err(_) => violations.push(format!("a 201 answer's order id {id:?} is not a UUID")),
        }
    }
    if tally.ids.len() as u64 != tally.created {
        violations.push(format!(
            "{} answers were 201 but {} order ids came back",
            tally.created,
            tally.ids.len()
        ));
    }
    let ledger = ledger(gateway).await?;
    let expect = Expect {
        initial_stock: Some(initial),
        answered: Some(&answered),
        unanswered_allowed: false,
        settled: true,
        no_cancellations: true,
    };
    let report = invariants::verify(pool, Scope::Coupon(coupon), &ledger, &expect)
        .await
        .map_err(db)?;
    violations.extend(report.violations.iter().map(ToString::to_string));
    Ok(Inv {
        remaining: report.stock.unwrap_or_default(),
        sold: report.live_units,
        paid: report.paid,
        failed: report.failed,
        charges: report.charges,
        violations,
    })
}

/// After all runs, over every order bought over HTTP (seeded orders carry request_id
/// 'seed' and never went through the gateway): the same invariants, and every entry in the
/// ledger belongs to one of those orders.
pub async fn global(pool: &PgPool, gateway: Gateway<'_>) -> Result<Vec<String>, String> {
    let ledger = ledger(gateway).await?;
    let expect = Expect {
        settled: true,
        no_cancellations: true,
        ..Expect::default()
    };
    let report = invariants::verify(pool, Scope::AllExcept(Some("seed")), &ledger, &expect)
        .await
        .map_err(db)?;
    Ok(report
        .violations
        .iter()
        .map(|v| format!("all orders: {v}"))
        .collect())
}
