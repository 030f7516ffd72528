//! What must hold after every purchase run, checked on the database and on the payment
//! gateway's ledger. Any violation fails the benchmark.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use sqlx::PgPool;

use crate::flash::Tally;

#[derive(Clone, Debug, Default)]
pub struct Inv {
    pub remaining: i64,
    /// Units in live (`ordered` or `paid`) orders.
    pub sold: i64,
    pub paid: i64,
    pub failed: i64,
    pub charges: usize,
    pub violations: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LedgerEntry {
    kind: String,
    order_id: String,
    amount: i64,
}

#[derive(Deserialize)]
struct Ledger {
    entries: Vec<LedgerEntry>,
}

async fn ledger(gateway: &str) -> Result<Vec<LedgerEntry>, String> {
    let l: Ledger = reqwest::get(format!("{}/v1/ledger", gateway.trim_end_matches('/')))
        .await
        .map_err(|e| format!("gateway ledger: {e}"))?
        .error_for_status()
        .map_err(|e| format!("gateway ledger: {e}"))?
        .json()
        .await
        .map_err(|e| format!("gateway ledger: {e}"))?;
    Ok(l.entries)
}

fn db(e: sqlx::Error) -> String {
    format!("invariant query: {e}")
}

/// Checks one coupon's run: `initial` units at the start, `tally` the answers the clients got.
pub async fn check(
    pool: &PgPool,
    gateway: &str,
    coupon_id: &str,
    initial: i64,
    tally: &Tally,
) -> Result<Inv, String> {
    let mut v = Vec::new();
    let (remaining,): (i32,) = sqlx::query_as("select stock from coupons where id = $1::uuid")
        .bind(coupon_id)
        .fetch_one(pool)
        .await
        .map_err(db)?;
    let remaining = i64::from(remaining);
    let (orders, sold, paid, failed, open, cancelled): (i64, i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "select count(*),
                    coalesce(sum(quantity) filter (where status in ('ordered', 'paid')), 0)::bigint,
                    count(*) filter (where status = 'paid'),
                    count(*) filter (where status = 'payment_failed'),
                    count(*) filter (where status not in ('paid', 'payment_failed')),
                    count(*) filter (where status = 'cancelled')
             from orders where coupon_id = $1::uuid",
        )
        .bind(coupon_id)
        .fetch_one(pool)
        .await
        .map_err(db)?;

    if remaining < 0 {
        v.push(format!("negative stock: {remaining}"));
    }
    if sold > initial {
        v.push(format!("oversold: {sold} units sold of {initial}"));
    }
    if initial != remaining + sold {
        v.push(format!(
            "stock does not add up: initial {initial} ≠ remaining {remaining} + sold {sold}"
        ));
    }
    if cancelled != 0 {
        v.push(format!(
            "{cancelled} orders cancelled (the bench cancels none)"
        ));
    }
    if open != 0 {
        v.push(format!(
            "{open} orders not terminal (paid or payment_failed) after the drain"
        ));
    }

    // Orders = 201 answers, id for id.
    let returned: HashSet<&str> = tally.ids.iter().map(String::as_str).collect();
    if returned.len() as u64 != tally.created {
        v.push(format!(
            "{} answers were 201 but only {} distinct order ids came back",
            tally.created,
            returned.len()
        ));
    }
    if orders as u64 != tally.created {
        v.push(format!(
            "{orders} orders in the database but {} purchases answered 201",
            tally.created
        ));
    }
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("select id::text, status, amount from orders where coupon_id = $1::uuid")
            .bind(coupon_id)
            .fetch_all(pool)
            .await
            .map_err(db)?;
    let in_db: HashMap<&str, (&str, i64)> = rows
        .iter()
        .map(|(id, s, a)| (id.as_str(), (s.as_str(), *a)))
        .collect();
    let missing = returned
        .iter()
        .filter(|id| !in_db.contains_key(**id))
        .count();
    if missing > 0 {
        v.push(format!(
            "{missing} order ids answered with 201 are not in the database"
        ));
    }
    let unanswered = in_db.keys().filter(|id| !returned.contains(**id)).count();
    if unanswered > 0 {
        v.push(format!(
            "{unanswered} orders in the database were never answered with 201"
        ));
    }

    // Exactly one OrderPlaced event per order.
    let (bad_events,): (i64,) = sqlx::query_as(
        "select count(*) from (
             select o.id from orders o
             left join events e on e.aggregate_id = o.id and e.event_type = 'OrderPlaced'
             where o.coupon_id = $1::uuid group by o.id having count(e.id) <> 1) x",
    )
    .bind(coupon_id)
    .fetch_one(pool)
    .await
    .map_err(db)?;
    if bad_events > 0 {
        v.push(format!(
            "{bad_events} orders without exactly one OrderPlaced event"
        ));
    }
    // The read model agrees with the write side, and no payment work is left.
    let (stale,): (i64,) = sqlx::query_as(
        "select count(*) from orders o left join mypage m on m.order_id = o.id
         where o.coupon_id = $1::uuid and (m.order_id is null or m.status <> o.status
               or m.payment_status <> o.payment_status)",
    )
    .bind(coupon_id)
    .fetch_one(pool)
    .await
    .map_err(db)?;
    if stale > 0 {
        v.push(format!(
            "{stale} orders whose my-page row is missing or disagrees"
        ));
    }
    let (jobs,): (i64,) = sqlx::query_as(
        "select count(*) from payment_jobs j join orders o on o.id = j.order_id where o.coupon_id = $1::uuid",
    )
    .bind(coupon_id)
    .fetch_one(pool)
    .await
    .map_err(db)?;
    if jobs > 0 {
        v.push(format!("{jobs} payment jobs left after the drain"));
    }

    // The ledger: one charge per paid order (for its amount), nothing for the others.
    let mut charges: HashMap<&str, Vec<i64>> = HashMap::new();
    let mut refunds = 0;
    let entries = ledger(gateway).await?;
    for e in &entries {
        if !in_db.contains_key(e.order_id.as_str()) {
            continue;
        }
        match e.kind.as_str() {
            "charge" => charges.entry(&e.order_id).or_default().push(e.amount),
            _ => refunds += 1,
        }
    }
    let mut double = 0;
    let mut uncharged = 0;
    let mut wrong_amount = 0;
    let mut charged_unpaid = 0;
    for (id, (status, amount)) in &in_db {
        let c = charges.get(id).map_or(&[][..], Vec::as_slice);
        match (*status == "paid", c.len()) {
            (true, 1) if c[0] != *amount => wrong_amount += 1,
            (true, 1) => {}
            (true, 0) => uncharged += 1,
            (true, _) => double += 1,
            (false, 0) => {}
            (false, _) => charged_unpaid += 1,
        }
    }
    for (n, what) in [
        (double, "paid orders charged more than once"),
        (uncharged, "paid orders without a charge in the ledger"),
        (
            wrong_amount,
            "charges for a different amount than the order",
        ),
        (charged_unpaid, "orders charged but not paid"),
        (refunds, "refunds (the bench cancels nothing)"),
    ] {
        if n > 0 {
            v.push(format!("ledger: {n} {what}"));
        }
    }
    Ok(Inv {
        remaining,
        sold,
        paid,
        failed,
        charges: charges.values().map(Vec::len).sum(),
        violations: v,
    })
}

/// After all runs: every charge in the ledger belongs to a paid order, and every paid
/// order bought over HTTP has its charge (seeded orders carry request_id 'seed').
pub async fn global(pool: &PgPool, gateway: &str) -> Result<Vec<String>, String> {
    let entries = ledger(gateway).await?;
    let charged: Vec<String> = entries
        .iter()
        .filter(|e| e.kind == "charge")
        .map(|e| e.order_id.clone())
        .collect();
    let mut v = Vec::new();
    let (paid_charged,): (i64,) = sqlx::query_as(
        "select count(*) from orders where id = any($1::text[]::uuid[]) and status = 'paid'",
    )
    .bind(&charged)
    .fetch_one(pool)
    .await
    .map_err(db)?;
    if paid_charged as usize != charged.len() {
        v.push(format!(
            "ledger: {} charges but only {paid_charged} of them for paid orders",
            charged.len()
        ));
    }
    let (paid,): (i64,) = sqlx::query_as(
        "select count(*) from orders where status = 'paid' and request_id is distinct from 'seed'",
    )
    .fetch_one(pool)
    .await
    .map_err(db)?;
    if paid as usize != charged.len() {
        v.push(format!(
            "ledger: {} charges for {paid} paid orders",
            charged.len()
        ));
    }
    let refunds = entries.iter().filter(|e| e.kind != "charge").count();
    if refunds > 0 {
        v.push(format!(
            "ledger: {refunds} refunds (the bench cancels nothing)"
        ));
    }
    Ok(v)
}
