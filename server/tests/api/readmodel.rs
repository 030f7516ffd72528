//! The event contract against the database. Events are appended through `app::events`
//! (the only writer), and after every event the `mypage` row the trigger wrote equals,
//! column by column, `app::events::fold` of the same events read back from the log: for
//! a sample of every event type and for random valid sequences. The trigger has one
//! branch per (type, version) of the enum's order events and reads exactly the payload's
//! fields; events about another aggregate (a coupon's waitlist hold) have none, and the
//! trigger and the fold both pass over them. Rows in the shape the code wrote before
//! versions were recorded (version 1) still apply.

use std::collections::{BTreeMap, BTreeSet};

use app::domain::{CancelledBy, OrderState, OrderStatus, PaymentStatus};
use app::events::fold::{self, MyPageProjection, Recorded};
use app::events::{
    self, Event, OrderCancelled, OrderExpired, OrderPlaced, PaymentCompleted, PaymentFailed,
    PaymentRefunded, PaymentVoided, RestockHeld, UnitsCancelled, VoucherExpiring, VoucherRedeemed,
};
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// Which variant an event is. A new variant stops this from compiling until it gets the
/// next slot; then `VARIANTS` must grow, and the tests below fail until the samples and
/// the random sequences include it.
fn slot(e: &Event) -> usize {
    match e {
        Event::OrderPlaced(_) => 0,
        Event::PaymentCompleted(_) => 1,
        Event::PaymentFailed(_) => 2,
        Event::OrderCancelled(_) => 3,
        Event::PaymentRefunded(_) => 4,
        Event::PaymentVoided(_) => 5,
        Event::VoucherRedeemed(_) => 6,
        Event::OrderExpired(_) => 7,
        Event::RestockHeld(_) => 8,
        Event::UnitsCancelled(_) => 9,
        Event::VoucherExpiring(_) => 10,
    }
}
const VARIANTS: usize = 11;
/// Of which about another aggregate than an order (no my-page branch).
const NOT_ABOUT_ORDERS: usize = 1;

/// Payload fields the my-page projection does not read (kept for the log: who, why, the
/// charge's key). Every other field must be read by the event's trigger branch.
const NOT_PROJECTED: &[(&str, &[&str])] = &[
    ("PaymentCompleted", &["payment_key"]),
    ("PaymentFailed", &["reason"]),
    ("OrderCancelled", &["quantity"]),
    ("OrderExpired", &["quantity"]),
    ("UnitsCancelled", &["by", "late"]),
    // A reminder: the notification tells it, the row keeps nothing of it.
    (
        "VoucherExpiring",
        &["days", "valid_until", "units", "refundable"],
    ),
];

fn assert_every_variant(events: &[Event], what: &str) {
    let mut seen = [false; VARIANTS];
    for e in events {
        seen[slot(e)] = true;
    }
    assert!(seen.iter().all(|s| *s), "{what} miss a variant: {seen:?}");
}

fn placed(quantity: i32) -> Event {
    Event::OrderPlaced(OrderPlaced {
        customer_id: Uuid::new_v4(),
        coupon_id: Uuid::new_v4(),
        shop_id: Uuid::new_v4(),
        coupon_name: "커피 Coffee".into(),
        shop_name: "S".into(),
        quantity,
        unit_price: 1500,
        amount: 1500 * i64::from(quantity),
        state: OrderState::PLACED,
    })
}

fn completed(state: OrderState, vouchers: Vec<String>) -> Event {
    Event::PaymentCompleted(PaymentCompleted {
        state,
        payment_key: format!("pay_{}", Uuid::new_v4().simple()),
        vouchers,
    })
}

fn cancelled(quantity: i32) -> Event {
    Event::OrderCancelled(OrderCancelled {
        state: OrderState::CANCELLED,
        by: CancelledBy::Customer,
        reason: Some("changed my mind".into()),
        quantity,
    })
}

fn ended(payment: PaymentStatus) -> Event {
    let state = OrderState::CANCELLED.with_payment(payment);
    match payment {
        PaymentStatus::Refunded => Event::PaymentRefunded(PaymentRefunded { state }),
        _ => Event::PaymentVoided(PaymentVoided { state }),
    }
}

fn expired(quantity: i32) -> Event {
    Event::OrderExpired(OrderExpired {
        state: OrderState::EXPIRED,
        quantity,
    })
}

/// After an expiry: the charge that landed meanwhile refunded (`Refunded`), or none found
/// (`Voided`, the state it already had).
fn expiry_settled(payment: PaymentStatus) -> Event {
    let state = OrderState::EXPIRED.with_payment(payment);
    match payment {
        PaymentStatus::Refunded => Event::PaymentRefunded(PaymentRefunded { state }),
        _ => Event::PaymentVoided(PaymentVoided { state }),
    }
}

/// A unit of some coupon held for someone: an event about the coupon, which the my-page
/// projection passes over (appended here with the order's id, to check just that).
fn held() -> Event {
    Event::RestockHeld(RestockHeld {
        customer_id: Uuid::new_v4(),
        hold_until: "2026-11-25T10:00:00Z".parse().unwrap(),
    })
}

/// `codes` (units of a paid order; none of an unpaid one) cancelled, refunding `refund`.
fn units_cancelled(quantity: i32, codes: Vec<String>, refund: i64) -> Event {
    Event::UnitsCancelled(UnitsCancelled {
        by: CancelledBy::Customer,
        quantity,
        refund,
        late: refund % 1500 != 0,
        vouchers: codes,
    })
}

fn expiring(days: i32) -> Event {
    Event::VoucherExpiring(VoucherExpiring {
        days,
        valid_until: "2026-12-31T15:00:00Z".parse().unwrap(),
        units: 2,
        refundable: 2700,
    })
}

/// One sequence per way through the saga; together they hold every variant.
fn samples() -> Vec<Vec<Event>> {
    let codes = vec![
        "AAAA-BBBB-CCCC-DDDD".to_string(),
        "EEEE-FFFF-GGGG-HHHH".into(),
    ];
    let failed = Event::PaymentFailed(PaymentFailed {
        state: OrderState::PAYMENT_FAILED,
        reason: "REJECT_CARD_COMPANY".into(),
    });
    let redeemed = Event::VoucherRedeemed(VoucherRedeemed {
        code: codes[1].clone(),
    });
    vec![
        vec![placed(2), completed(OrderState::PAID, codes), redeemed],
        vec![placed(1), failed],
        // Part of a paid order cancelled (one unit after its use-by date: 90%), one
        // redeemed, reminded; the rest cancelled while a redeemed unit stays: still paid.
        vec![
            placed(3),
            completed(
                OrderState::PAID,
                vec!["P1".into(), "P2".into(), "P3".into()],
            ),
            expiring(30),
            units_cancelled(1, vec!["P3".into()], 1350),
            Event::VoucherRedeemed(VoucherRedeemed { code: "P1".into() }),
            expiring(7),
            units_cancelled(1, vec!["P2".into()], 1500),
        ],
        // All units of a paid order: cancelled, refunded.
        vec![
            placed(1),
            completed(OrderState::PAID, vec!["W1".into()]),
            units_cancelled(1, vec!["W1".into()], 1500),
            cancelled(1),
            ended(PaymentStatus::Refunded),
        ],
        // An unpaid order: its units without vouchers, nothing refunded.
        vec![
            placed(2),
            units_cancelled(2, Vec::new(), 0),
            cancelled(2),
            ended(PaymentStatus::Voided),
        ],
        vec![placed(1), cancelled(1), ended(PaymentStatus::Voided)],
        vec![
            placed(1),
            completed(OrderState::PAID, vec!["JJJJ-KKKK-LLLL-MMMM".into()]),
            cancelled(1),
            ended(PaymentStatus::Refunded),
        ],
        // Charged while the cancel was committed: no vouchers, then refunded.
        vec![
            placed(3),
            cancelled(3),
            held(),
            completed(OrderState::CANCELLED, Vec::new()),
            ended(PaymentStatus::Refunded),
        ],
        // Not paid by the deadline; the gateway had no charge.
        vec![
            placed(1),
            expired(1),
            held(),
            expiry_settled(PaymentStatus::Voided),
        ],
        // Not paid by the deadline, and a charge landed meanwhile: recorded, refunded.
        vec![
            placed(2),
            expired(2),
            completed(
                OrderState::EXPIRED.with_payment(PaymentStatus::RefundPending),
                Vec::new(),
            ),
            expiry_settled(PaymentStatus::Refunded),
        ],
        // ... or found at the gateway and refunded in one turn.
        vec![
            placed(1),
            expired(1),
            expiry_settled(PaymentStatus::Refunded),
        ],
    ]
}

/// A random walk over the saga: from each state, one of the events production can append
/// there, each moving the order only where the status machines allow.
fn random_sequence(rng: &mut StdRng) -> Vec<Event> {
    let quantity = rng.gen_range(1..4);
    let mut seq = vec![placed(quantity)];
    let mut state = OrderState::PLACED;
    let (mut charged, mut redeemed, mut voided) = (false, false, false);
    let mut unused: Vec<String> = Vec::new();
    loop {
        let mut next = Vec::new();
        if state == OrderState::PLACED {
            let codes: Vec<String> = (0..quantity)
                .map(|_| format!("CODE-{:012}", rng.gen_range(0..1_000_000_000_000u64)))
                .collect();
            next.push(completed(OrderState::PAID, codes));
            next.push(Event::PaymentFailed(PaymentFailed {
                state: OrderState::PAYMENT_FAILED,
                reason: "DECLINED".into(),
            }));
            next.push(cancelled(quantity));
            next.push(expired(quantity));
        } else if state == OrderState::EXPIRED && !voided {
            // The job's last turn: a charge that landed, found or not.
            if !charged {
                next.push(completed(
                    OrderState::EXPIRED.with_payment(PaymentStatus::RefundPending),
                    Vec::new(),
                ));
                next.push(expiry_settled(PaymentStatus::Voided));
            }
            next.push(expiry_settled(PaymentStatus::Refunded));
        } else if state == OrderState::EXPIRED.with_payment(PaymentStatus::RefundPending) {
            next.push(expiry_settled(PaymentStatus::Refunded));
        } else if state == OrderState::PAID {
            if !unused.is_empty() {
                let code = unused.remove(rng.gen_range(0..unused.len()));
                next.push(Event::VoucherRedeemed(VoucherRedeemed { code }));
            }
            if !redeemed {
                next.push(cancelled(quantity));
            }
            // Part of the units, while more than one is unused.
            if unused.len() > 1 {
                let code = unused[rng.gen_range(0..unused.len())].clone();
                next.push(units_cancelled(1, vec![code], 1350));
            }
            if rng.gen_bool(0.2) {
                next.push(expiring(7));
            }
        } else if state == OrderState::CANCELLED {
            if !charged {
                next.push(completed(OrderState::CANCELLED, Vec::new()));
                next.push(ended(PaymentStatus::Voided));
            }
            // Also without a recorded charge: the worker may find one at the gateway.
            next.push(ended(PaymentStatus::Refunded));
        }
        if next.is_empty() {
            return seq;
        }
        // Holds of the coupon's waitlist happen at any time; the projection ignores them.
        if rng.gen_bool(0.1) {
            seq.push(held());
        }
        let event = next.swap_remove(rng.gen_range(0..next.len()));
        // The choices above were put back if the walk took another event.
        match &event {
            Event::PaymentCompleted(p) => {
                charged = true;
                unused = p.vouchers.clone();
            }
            Event::VoucherRedeemed(_) => redeemed = true,
            Event::UnitsCancelled(u) => unused.retain(|c| !u.vouchers.contains(c)),
            Event::PaymentVoided(_) => voided = true,
            _ => {}
        }
        if let Some(next_state) = event.state() {
            assert!(state.can_become(next_state), "{state:?} -> {next_state:?}");
            state = next_state;
        }
        seq.push(event);
    }
}

async fn append(pool: &PgPool, order_id: Uuid, event: &Event) {
    let mut conn = pool.acquire().await.unwrap();
    events::append(&mut conn, order_id, event, Some("readmodel-test"))
        .await
        .unwrap();
}

/// The order's events as stored, read back through the contract.
async fn recorded(pool: &PgPool, order_id: Uuid) -> Vec<Recorded> {
    let rows: Vec<(i64, DateTime<Utc>, String, i16, Value)> = sqlx::query_as(
        "select id, occurred_at, event_type, version, payload from events
         where aggregate_id = $1 order by id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(id, occurred_at, event_type, version, payload)| Recorded {
            id,
            order_id,
            occurred_at,
            event: Event::decode(&event_type, version, payload).unwrap(),
        })
        .collect()
}

/// Every column of the order's `mypage` row.
async fn mypage_row(pool: &PgPool, order_id: Uuid) -> Option<MyPageProjection> {
    let r = sqlx::query("select * from mypage where order_id = $1")
        .bind(order_id)
        .fetch_optional(pool)
        .await
        .unwrap()?;
    assert_eq!(
        r.columns().len(),
        23,
        "a new column of mypage: add it here and to the fold"
    );
    let status: String = r.get("status");
    let payment_status: String = r.get("payment_status");
    Some(MyPageProjection {
        order_id: r.get("order_id"),
        customer_id: r.get("customer_id"),
        coupon_id: r.get("coupon_id"),
        shop_id: r.get("shop_id"),
        coupon_name: r.get("coupon_name"),
        shop_name: r.get("shop_name"),
        quantity: r.get("quantity"),
        unit_price: r.get("unit_price"),
        amount: r.get("amount"),
        status: OrderStatus::parse(&status).unwrap(),
        payment_status: PaymentStatus::parse(&payment_status).unwrap(),
        ordered_at: r.get("ordered_at"),
        cancelled_at: r.get("cancelled_at"),
        paid_at: r.get("paid_at"),
        refunded_at: r.get("refunded_at"),
        cancelled_by: r
            .get::<Option<String>, _>("cancelled_by")
            .map(|b| CancelledBy::parse(&b).unwrap()),
        cancel_reason: r.get("cancel_reason"),
        vouchers_issued: r.get("vouchers_issued"),
        vouchers_redeemed: r.get("vouchers_redeemed"),
        vouchers: serde_json::from_value(r.get("vouchers")).unwrap(),
        cancelled_quantity: r.get("cancelled_quantity"),
        refunded_amount: r.get("refunded_amount"),
        last_event_id: r.get("last_event_id"),
    })
}

/// Appends `seq` for a new order, checking the row against the fold after every event.
async fn append_and_compare(pool: &PgPool, seq: &[Event]) {
    let order_id = Uuid::new_v4();
    for event in seq {
        append(pool, order_id, event).await;
        let log = recorded(pool, order_id).await;
        assert_eq!(
            log.last().map(|r| &r.event),
            Some(event),
            "the log reads back what was appended"
        );
        assert_eq!(
            mypage_row(pool, order_id).await,
            fold::fold(&log),
            "after {:?}",
            log.iter().map(|r| r.event.event_type()).collect::<Vec<_>>()
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn every_event_type_projects_as_the_fold_says(pool: PgPool) {
    let samples = samples();
    assert_every_variant(&samples.concat(), "the samples");
    for seq in &samples {
        append_and_compare(&pool, seq).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn random_valid_sequences_project_as_the_fold_says(pool: PgPool) {
    let mut rng = StdRng::seed_from_u64(20261124);
    let sequences: Vec<Vec<Event>> = (0..150).map(|_| random_sequence(&mut rng)).collect();
    assert_every_variant(&sequences.concat(), "the random sequences");
    for seq in &sequences {
        append_and_compare(&pool, seq).await;
    }
}

/// The trigger's branches, `(new.event_type, new.version) = ('Name', N)`, and the payload
/// keys each reads (`p->>'key'`, `p->'key'`).
fn trigger_branches(source: &str) -> BTreeMap<(String, i16), BTreeSet<String>> {
    const MARK: &str = "(new.event_type, new.version) = ('";
    let mut branches = BTreeMap::new();
    let parts: Vec<&str> = source.split(MARK).collect();
    for part in &parts[1..] {
        let (name, rest) = part.split_once("', ").expect("a branch names its type");
        let (version, body) = rest.split_once(')').expect("and its version");
        let mut keys = BTreeSet::new();
        for op in ["p->>'", "p->'"] {
            for (i, _) in body.match_indices(op) {
                let word_before = body[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
                if word_before {
                    continue;
                }
                let key = body[i + op.len()..].split('\'').next().unwrap();
                keys.insert(key.to_string());
            }
        }
        let version: i16 = version.trim().parse().expect("a number");
        branches.insert((name.to_string(), version), keys);
    }
    branches
}

#[sqlx::test(migrations = "../migrations")]
async fn the_trigger_has_a_branch_per_event_reading_exactly_its_fields(pool: PgPool) {
    let source: String =
        sqlx::query_scalar("select prosrc from pg_proc where proname = 'mypage_apply_event'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let branches = trigger_branches(&source);
    let mut expected = BTreeMap::new();
    for event in samples().concat() {
        if event.aggregate_type() != "order" {
            continue;
        }
        let Value::Object(payload) = event.payload() else {
            panic!("{event:?} has no object payload");
        };
        let fields: BTreeSet<String> = payload.keys().cloned().collect();
        let kept: BTreeSet<String> = NOT_PROJECTED
            .iter()
            .filter(|(t, _)| *t == event.event_type())
            .flat_map(|(_, f)| f.iter().map(|f| f.to_string()))
            .collect();
        assert!(
            kept.is_subset(&fields),
            "{}: NOT_PROJECTED names fields it does not have",
            event.event_type()
        );
        let read: BTreeSet<String> = fields.difference(&kept).cloned().collect();
        expected.insert((event.event_type().to_string(), event.version()), read);
    }
    assert_eq!(expected.len(), VARIANTS - NOT_ABOUT_ORDERS);
    // Branches of older versions would be listed here, with the fields they read.
    assert_eq!(
        branches, expected,
        "trigger branches (type, version) -> payload fields read"
    );
}

/// The payloads the code wrote before versions were recorded, as it wrote them (`json!`
/// in the repos and the worker), inserted without a version.
#[sqlx::test(migrations = "../migrations")]
async fn version_1_rows_from_before_the_contract_still_apply(pool: PgPool) {
    let (order_id, customer) = (Uuid::new_v4(), Uuid::new_v4());
    let old = [
        (
            "OrderPlaced",
            json!({ "customer_id": customer, "coupon_id": Uuid::new_v4(), "shop_id": Uuid::new_v4(),
                    "coupon_name": "C", "shop_name": "S", "quantity": 2, "unit_price": 1000,
                    "amount": 2000, "status": "ordered", "payment_status": "pending" }),
        ),
        (
            "PaymentCompleted",
            json!({ "status": "paid", "payment_status": "completed", "payment_key": "pay_1",
                    "vouchers": ["AAAA-BBBB-CCCC-DDDD", "EEEE-FFFF-GGGG-HHHH"] }),
        ),
        ("VoucherRedeemed", json!({ "code": "EEEE-FFFF-GGGG-HHHH" })),
        (
            "OrderCancelled",
            json!({ "status": "cancelled", "payment_status": "refund_pending", "by": "owner",
                    "reason": null, "quantity": 2 }),
        ),
        (
            "PaymentRefunded",
            json!({ "status": "cancelled", "payment_status": "refunded" }),
        ),
    ];
    for (event_type, payload) in old {
        sqlx::query(
            "insert into events (aggregate_type, aggregate_id, event_type, payload, request_id)
             values ('order', $1, $2, $3, 'before-versions')",
        )
        .bind(order_id)
        .bind(event_type)
        .bind(&payload)
        .execute(&pool)
        .await
        .unwrap();
        let log = recorded(&pool, order_id).await;
        assert_eq!(mypage_row(&pool, order_id).await, fold::fold(&log));
    }
    let row = mypage_row(&pool, order_id).await.unwrap();
    assert_eq!(
        (row.status, row.payment_status, row.vouchers_redeemed),
        (OrderStatus::Cancelled, PaymentStatus::Refunded, 1)
    );
    assert!(row.refunded_at.is_some() && row.vouchers[1].redeemed_at.is_some());
    for (event_type, payload) in [
        (
            "PaymentFailed",
            json!({ "status": "payment_failed", "payment_status": "failed", "reason": "X" }),
        ),
        (
            "PaymentVoided",
            json!({ "status": "cancelled", "payment_status": "voided" }),
        ),
    ] {
        let event = Event::decode(event_type, 1, payload).unwrap();
        assert_eq!(event.event_type(), event_type);
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn an_event_type_or_version_without_a_branch_is_refused(pool: PgPool) {
    for (event_type, version) in [("OrderShipped", 1i16), ("OrderPlaced", 2)] {
        let err = sqlx::query(
            "insert into events (aggregate_type, aggregate_id, event_type, version, payload)
             values ('order', $1, $2, $3, '{}')",
        )
        .bind(Uuid::new_v4())
        .bind(event_type)
        .bind(version)
        .execute(&pool)
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("no branch for"),
            "{event_type} v{version}: {err}"
        );
    }
    assert!(Event::decode("OrderShipped", 1, json!({})).is_err());
    assert!(
        Event::decode(
            "PaymentVoided",
            2,
            json!({ "status": "cancelled", "payment_status": "voided" })
        )
        .is_err()
    );
}
