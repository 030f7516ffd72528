//! The `mypage` read model is a fold of the event log: after any valid sequence of
//! events, the row the triggers wrote equals the fold computed here from the same events.

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, PartialEq, Default)]
struct Expected {
    status: String,
    payment_status: String,
    paid_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    refunded_at: Option<DateTime<Utc>>,
    vouchers: Vec<(String, Option<DateTime<Utc>>)>,
    issued: i32,
    redeemed: i32,
    quantity: i32,
    amount: i64,
}

fn fold(events: &[(String, Value, DateTime<Utc>)]) -> Expected {
    let mut e = Expected::default();
    for (kind, p, at) in events {
        if let Some(s) = p["status"].as_str() {
            e.status = s.into();
        }
        if let Some(s) = p["payment_status"].as_str() {
            e.payment_status = s.into();
        }
        match kind.as_str() {
            "OrderPlaced" => {
                e.quantity = p["quantity"].as_i64().unwrap() as i32;
                e.amount = p["amount"].as_i64().unwrap();
            }
            "PaymentCompleted" => {
                e.paid_at = Some(*at);
                e.vouchers = p["vouchers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| (c.as_str().unwrap().to_string(), None))
                    .collect();
                e.issued = e.vouchers.len() as i32;
            }
            "OrderCancelled" => e.cancelled_at = Some(*at),
            "PaymentRefunded" => e.refunded_at = Some(*at),
            "VoucherRedeemed" => {
                for v in &mut e.vouchers {
                    if v.0 == p["code"].as_str().unwrap() {
                        v.1 = Some(*at);
                    }
                }
                e.redeemed += 1;
            }
            _ => {}
        }
    }
    e
}

/// A random walk over the saga's state machine, as (event type, payload) pairs.
fn random_sequence(rng: &mut StdRng) -> Vec<(&'static str, Value)> {
    let qty = rng.gen_range(1..4);
    let mut seq = vec![(
        "OrderPlaced",
        json!({ "customer_id": Uuid::new_v4(), "coupon_id": Uuid::new_v4(), "shop_id": Uuid::new_v4(),
                "coupon_name": "C", "shop_name": "S", "quantity": qty, "unit_price": 1000, "amount": 1000 * qty,
                "status": "ordered", "payment_status": "pending" }),
    )];
    let (mut status, mut payment, mut charged) = ("ordered", "pending", false);
    let mut codes: Vec<String> = Vec::new();
    for _ in 0..8 {
        let choice = rng.gen_range(0..3);
        let next: Option<(&str, Value)> = match (status, payment) {
            ("ordered", "pending") => Some(match choice {
                0 => {
                    codes = (0..qty)
                        .map(|i| format!("CODE-{i}-{}", rng.gen_range(0..1_000_000)))
                        .collect();
                    charged = true;
                    (
                        "PaymentCompleted",
                        json!({ "status": "paid", "payment_status": "completed", "vouchers": codes }),
                    )
                }
                1 => (
                    "PaymentFailed",
                    json!({ "status": "payment_failed", "payment_status": "failed" }),
                ),
                _ => (
                    "OrderCancelled",
                    json!({ "status": "cancelled", "payment_status": "refund_pending" }),
                ),
            }),
            ("paid", _) => match choice {
                0 if !codes.is_empty() => {
                    let code = codes.remove(rng.gen_range(0..codes.len()));
                    Some(("VoucherRedeemed", json!({ "code": code })))
                }
                _ => Some((
                    "OrderCancelled",
                    json!({ "status": "cancelled", "payment_status": "refund_pending" }),
                )),
            },
            ("cancelled", "refund_pending") => Some(match choice {
                0 if !charged => {
                    charged = true;
                    (
                        "PaymentCompleted",
                        json!({ "status": "cancelled", "payment_status": "refund_pending", "vouchers": [] }),
                    )
                }
                1 if !charged => (
                    "PaymentVoided",
                    json!({ "status": "cancelled", "payment_status": "voided" }),
                ),
                _ => (
                    "PaymentRefunded",
                    json!({ "status": "cancelled", "payment_status": "refunded" }),
                ),
            }),
            _ => None,
        };
        let Some((kind, payload)) = next else { break };
        status = payload["status"]
            .as_str()
            .map(|s| match s {
                "paid" => "paid",
                "payment_failed" => "payment_failed",
                "cancelled" => "cancelled",
                _ => "ordered",
            })
            .unwrap_or(status);
        payment = payload["payment_status"]
            .as_str()
            .map(|s| match s {
                "completed" => "completed",
                "failed" => "failed",
                "refund_pending" => "refund_pending",
                "refunded" => "refunded",
                "voided" => "voided",
                _ => "pending",
            })
            .unwrap_or(payment);
        seq.push((kind, payload));
    }
    seq
}

#[sqlx::test(migrations = "../migrations")]
async fn mypage_rows_equal_the_fold_of_their_events(pool: PgPool) {
    let mut rng = StdRng::seed_from_u64(20261122);
    for _ in 0..60 {
        let order_id = Uuid::new_v4();
        for (kind, payload) in random_sequence(&mut rng) {
            sqlx::query("insert into events (aggregate_type, aggregate_id, event_type, payload) values ('order', $1, $2, $3)")
                .bind(order_id)
                .bind(kind)
                .bind(&payload)
                .execute(&pool)
                .await
                .unwrap();
        }
        let events: Vec<(String, Value, DateTime<Utc>)> =
            sqlx::query_as("select event_type, payload, occurred_at from events where aggregate_id = $1 order by id")
                .bind(order_id)
                .fetch_all(&pool)
                .await
                .unwrap();
        let expected = fold(&events);
        let row: (String, String, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Value, i32, i32, i32, i64) = sqlx::query_as(
            "select status, payment_status, paid_at, cancelled_at, refunded_at, vouchers, vouchers_issued, vouchers_redeemed, quantity, amount
             from mypage where order_id = $1",
        )
        .bind(order_id)
        .fetch_one(&pool)
        .await
        .unwrap();
        let vouchers: Vec<(String, Option<DateTime<Utc>>)> = row
            .5
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["code"].as_str().unwrap().to_string(),
                    v["redeemed_at"].as_str().map(|t| t.parse().unwrap()),
                )
            })
            .collect();
        let actual = Expected {
            status: row.0,
            payment_status: row.1,
            paid_at: row.2,
            cancelled_at: row.3,
            refunded_at: row.4,
            vouchers,
            issued: row.6,
            redeemed: row.7,
            quantity: row.8,
            amount: row.9,
        };
        assert_eq!(actual, expected, "events: {events:?}");
    }
}
