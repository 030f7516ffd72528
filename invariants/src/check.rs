//! The checks: a pure function of a [`Snapshot`] and what the caller expects.

use std::collections::{BTreeMap, HashMap, HashSet};

use paygate::{LedgerEntry, LedgerKind};
use uuid::Uuid;

use crate::{Expect, Invariant, Report, Snapshot, Violation};

/// Orders that break a rule, gathered so that each rule is reported once with a count.
#[derive(Default)]
struct Offenders(BTreeMap<(Invariant, String), Vec<String>>);

impl Offenders {
    fn add(&mut self, invariant: Invariant, what: impl Into<String>, id: impl ToString) {
        self.0
            .entry((invariant, what.into()))
            .or_default()
            .push(id.to_string());
    }

    fn into_violations(self) -> impl Iterator<Item = Violation> {
        self.0.into_iter().map(|((invariant, what), ids)| {
            let shown: Vec<&str> = ids.iter().take(3).map(String::as_str).collect();
            let more = if ids.len() > shown.len() { ", ..." } else { "" };
            Violation {
                invariant,
                message: format!("{} {what} (e.g. {}{more})", ids.len(), shown.join(", ")),
            }
        })
    }
}

/// The ledger entries of one order.
#[derive(Default)]
struct Money<'a> {
    charges: Vec<&'a LedgerEntry>,
    refunds: Vec<&'a LedgerEntry>,
}

/// Whether an order's ledger fits its payment status; `None` if it does, else what is
/// wrong. `owed`: what its refunds of cancelled units add up to, if it has any (then it is
/// given back in parts, never more than them; else a refund gives back the whole charge).
fn ledger_rule(payment_status: &str, money: &Money, owed: Option<i64>) -> Option<&'static str> {
    let (c, r) = (money.charges.len(), money.refunds.len());
    let given: i64 = money.refunds.iter().map(|e| e.amount).sum();
    let fits = match (payment_status, owed) {
        ("completed", None) => (c, r) == (1, 0),
        // Parts given back while units remain (or are on their way back).
        ("completed", Some(owed)) => c == 1 && given <= owed,
        ("refunded", None) => (c, r) == (1, 1),
        ("refunded", Some(owed)) => c == 1 && r >= 1 && given == owed,
        ("failed" | "voided", _) => (c, r) == (0, 0),
        // A charge may be on its way; nothing is refunded before the order is cancelled.
        ("pending", _) => c <= 1 && r == 0,
        ("refund_pending", None) => c <= 1 && r <= c,
        ("refund_pending", Some(owed)) => c <= 1 && given <= owed,
        _ => return Some("orders with an unknown payment status"),
    };
    if fits {
        return None;
    }
    Some(match payment_status {
        "completed" if c == 0 => "paid orders without a charge",
        "completed" if c > 1 => "paid orders charged more than once",
        "completed" => "paid orders with a refund beyond their cancelled units",
        "refunded" => "refunded orders without exactly one charge and their refunds",
        "failed" => "failed orders charged or refunded",
        "voided" => "voided orders charged or refunded",
        "pending" => "unpaid orders charged more than once or refunded",
        _ => "orders waiting for a refund charged more than once or refunded more than charged",
    })
}

/// A final (order, payment) status pair: nothing more will happen to the order.
fn is_final(status: &str, payment_status: &str) -> bool {
    matches!(
        (status, payment_status),
        ("paid", "completed")
            | ("payment_failed", "failed")
            | ("cancelled", "refunded")
            | ("cancelled", "voided")
            | ("expired", "voided")
            | ("expired", "refunded")
    )
}

/// Checks every invariant that `expect` allows on `snapshot` (see the crate
/// documentation for the list).
pub fn check(snapshot: &Snapshot, expect: &Expect) -> Report {
    let mut report = Report {
        orders: snapshot.orders.len(),
        stock: snapshot.stock,
        ..Report::default()
    };
    let mut violations = Vec::new();
    let mut bad = Offenders::default();
    let mut violation =
        |invariant, message: String| violations.push(Violation { invariant, message });

    let known: HashSet<Uuid> = snapshot.orders.iter().map(|o| o.id).collect();
    let mut money: HashMap<Uuid, Money> = HashMap::new();
    for e in &snapshot.ledger {
        match e.kind {
            LedgerKind::Charge => report.charges += 1,
            LedgerKind::Refund => report.refunds += 1,
        }
        match e.order_id.parse::<Uuid>() {
            Ok(id) if known.contains(&id) => {
                let slot = money.entry(id).or_default();
                match e.kind {
                    LedgerKind::Charge => slot.charges.push(e),
                    LedgerKind::Refund => slot.refunds.push(e),
                }
            }
            _ => bad.add(
                Invariant::Charges,
                "ledger entries for orders not checked",
                &e.order_id,
            ),
        }
    }

    let no_money = Money::default();
    for o in &snapshot.orders {
        let status = o.status.as_str();
        let payment = o.payment_status.as_str();
        match status {
            "ordered" => report.live_units += o.quantity,
            "paid" => {
                report.live_units += o.quantity;
                report.paid += 1;
                report.paid_units += o.quantity;
            }
            "payment_failed" => report.failed += 1,
            "cancelled" => report.cancelled += 1,
            "expired" => report.expired += 1,
            _ => bad.add(Invariant::Settled, "orders with an unknown status", o.id),
        }

        if o.placed_events != 1 {
            bad.add(
                Invariant::OrderPlaced,
                "orders without exactly one OrderPlaced event",
                o.id,
            );
        }

        let m = money.get(&o.id).unwrap_or(&no_money);
        if let Some(what) = ledger_rule(payment, m, o.refunds_owed) {
            bad.add(Invariant::Charges, what, o.id);
        }
        // A whole refund gives back the charge; refunds of cancelled units add up to no
        // more than it.
        let refunded: i64 = m.refunds.iter().map(|e| e.amount).sum();
        if m.charges.iter().any(|e| e.amount != o.amount)
            || (o.refunds_owed.is_none() && m.refunds.iter().any(|e| e.amount != o.amount))
            || refunded > o.amount
        {
            bad.add(
                Invariant::Charges,
                "orders with a charge or refund of another amount than theirs",
                o.id,
            );
        }
        if matches!(payment, "completed" | "refunded")
            && let [charge] = m.charges.as_slice()
            && o.payment_key.as_deref() != Some(charge.payment_key.as_str())
        {
            bad.add(
                Invariant::Charges,
                "charged orders whose payment key is not their charge's",
                o.id,
            );
        }

        let (event, count) = match payment {
            "completed" => ("PaymentCompleted", o.completed_events),
            "failed" => ("PaymentFailed", o.failed_events),
            "refunded" => ("PaymentRefunded", o.refunded_events),
            _ => ("", 1),
        };
        if count != 1 {
            bad.add(
                Invariant::PaymentEvents,
                format!("`{payment}` orders without exactly one {event} event"),
                o.id,
            );
        }

        match status {
            "paid" if o.vouchers != o.quantity => bad.add(
                Invariant::Vouchers,
                "paid orders without one voucher per unit",
                o.id,
            ),
            "ordered" | "payment_failed" | "expired" if o.vouchers != 0 => {
                bad.add(Invariant::Vouchers, "unpaid orders with vouchers", o.id)
            }
            _ => {}
        }

        if o.mypage_status.as_deref() != Some(status)
            || o.mypage_payment_status.as_deref() != Some(payment)
        {
            bad.add(
                Invariant::ReadModel,
                "orders whose my-page row is missing or disagrees",
                o.id,
            );
        }

        if matches!(payment, "pending" | "refund_pending") && !o.queued {
            bad.add(
                Invariant::PaymentWork,
                "orders whose payment is not final without a payment job",
                o.id,
            );
        }

        if expect.settled {
            if !is_final(status, payment) {
                bad.add(
                    Invariant::Settled,
                    format!("orders still `{status}`/`{payment}`"),
                    o.id,
                );
            }
            if o.queued {
                bad.add(Invariant::Settled, "payment jobs left", o.id);
            }
        }
    }

    if let Some(initial) = expect.initial_stock {
        match snapshot.stock {
            None => violation(
                Invariant::Stock,
                "no coupon stock to check (not a coupon snapshot)".into(),
            ),
            Some(left) => {
                let live = report.live_units;
                let held = snapshot.held.unwrap_or(0);
                if left < 0 || held < 0 {
                    violation(
                        Invariant::Stock,
                        format!("negative stock: {left} (held {held})"),
                    );
                }
                if live > initial {
                    violation(
                        Invariant::Stock,
                        format!("oversold: {live} units sold of {initial}"),
                    );
                }
                if initial != left + held + live {
                    violation(
                        Invariant::Stock,
                        format!(
                            "does not add up: initial {initial} ≠ left {left} + held {held} + live units {live}"
                        ),
                    );
                }
            }
        }
    }

    if let Some(answered) = expect.answered {
        let mut seen = HashSet::new();
        for id in answered {
            if !seen.insert(*id) {
                bad.add(
                    Invariant::Answers,
                    "order ids answered to more than one purchase",
                    id,
                );
            }
            if !known.contains(id) {
                bad.add(
                    Invariant::Answers,
                    "order ids answered 201 that are not orders",
                    id,
                );
            }
        }
        for o in snapshot.orders.iter().filter(|o| !seen.contains(&o.id)) {
            report.unanswered += 1;
            if !expect.unanswered_allowed {
                bad.add(Invariant::Answers, "orders never answered 201", o.id);
            }
        }
    }

    if expect.no_cancellations {
        if report.cancelled > 0 {
            violation(
                Invariant::NoCancellations,
                format!("{} orders cancelled", report.cancelled),
            );
        }
        if report.refunds > 0 {
            violation(
                Invariant::NoCancellations,
                format!("{} refunds in the ledger", report.refunds),
            );
        }
    }

    violations.extend(bad.into_violations());
    report.violations = violations;
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Order;

    fn order(status: &str, payment: &str, quantity: i64) -> Order {
        let paid = status == "paid";
        let final_payment = matches!(payment, "completed" | "refunded");
        Order {
            id: Uuid::new_v4(),
            status: status.into(),
            payment_status: payment.into(),
            quantity,
            amount: 1000 * quantity,
            payment_key: final_payment.then(|| format!("pay_{}", Uuid::new_v4().simple())),
            placed_events: 1,
            completed_events: i64::from(payment == "completed" || payment == "refunded"),
            failed_events: i64::from(payment == "failed"),
            refunded_events: i64::from(payment == "refunded"),
            vouchers: if paid || payment == "refunded" {
                quantity
            } else {
                0
            },
            mypage_status: Some(status.into()),
            mypage_payment_status: Some(payment.into()),
            queued: matches!(payment, "pending" | "refund_pending"),
            refunds_owed: None,
        }
    }

    fn entry(o: &Order, kind: LedgerKind, seq: u64) -> LedgerEntry {
        LedgerEntry {
            seq,
            kind,
            order_id: o.id.to_string(),
            payment_key: o.payment_key.clone().unwrap_or_default(),
            amount: o.amount,
            at: Default::default(),
        }
    }

    /// A coupon of 10 after a run: 2 units paid, 1 failed, 1 refunded, 1 voided, all
    /// settled; 8 left.
    fn settled() -> Snapshot {
        let orders = vec![
            order("paid", "completed", 2),
            order("payment_failed", "failed", 1),
            order("cancelled", "refunded", 1),
            order("cancelled", "voided", 1),
        ];
        let ledger = vec![
            entry(&orders[0], LedgerKind::Charge, 1),
            entry(&orders[2], LedgerKind::Charge, 2),
            entry(&orders[2], LedgerKind::Refund, 3),
        ];
        Snapshot {
            stock: Some(8),
            held: None,
            orders,
            ledger,
        }
    }

    fn ids(s: &Snapshot) -> Vec<Uuid> {
        s.orders.iter().map(|o| o.id).collect()
    }

    fn strict<'a>(answered: &'a [Uuid]) -> Expect<'a> {
        Expect {
            initial_stock: Some(10),
            answered: Some(answered),
            unanswered_allowed: false,
            settled: true,
            no_cancellations: false,
        }
    }

    /// `snapshot` breaks `invariant` and no other.
    #[track_caller]
    fn breaks_only(snapshot: &Snapshot, expect: &Expect, invariant: Invariant) {
        let report = check(snapshot, expect);
        assert!(report.broke(invariant), "{invariant:?} held: {report:?}");
        let others: Vec<_> = report
            .violations
            .iter()
            .filter(|v| v.invariant != invariant)
            .collect();
        assert!(others.is_empty(), "also broken: {others:?}");
    }

    #[test]
    fn a_consistent_run_holds_and_is_counted() {
        let s = settled();
        let answered = ids(&s);
        let report = check(&s, &strict(&answered));
        assert!(report.holds(), "{:?}", report.violations);
        report.assert_holds();
        assert_eq!(
            (report.orders, report.paid, report.failed, report.cancelled),
            (4, 1, 1, 2)
        );
        assert_eq!((report.live_units, report.paid_units), (2, 2));
        assert_eq!(
            (report.charges, report.refunds, report.unanswered),
            (1 + 1, 1, 0)
        );
        assert_eq!(report.stock, Some(8));
    }

    #[test]
    fn expired_orders_are_final_without_vouchers_and_held_units_count() {
        let mut s = settled();
        s.orders.push(order("expired", "voided", 1));
        // A charge that landed while it expired, refunded.
        let mut late = order("expired", "refunded", 1);
        late.vouchers = 0;
        s.ledger.push(entry(&late, LedgerKind::Charge, 4));
        s.ledger.push(entry(&late, LedgerKind::Refund, 5));
        s.orders.push(late);
        // 10 = 7 on sale + 1 held for the waitlist + 2 in live orders.
        s.stock = Some(7);
        s.held = Some(1);
        let answered = ids(&s);
        let report = check(&s, &strict(&answered));
        report.assert_holds();
        assert_eq!(
            (report.expired, report.cancelled, report.refunds),
            (2, 2, 2)
        );

        let mut uncounted = s.clone();
        uncounted.held = Some(0);
        breaks_only(&uncounted, &strict(&answered), Invariant::Stock);
        let mut with_codes = s.clone();
        with_codes.orders.last_mut().unwrap().vouchers = 1;
        breaks_only(&with_codes, &strict(&answered), Invariant::Vouchers);
        let mut charged = s;
        charged.ledger.pop();
        breaks_only(&charged, &strict(&answered), Invariant::Charges);
    }

    #[test]
    #[should_panic(expected = "saga invariants broken")]
    fn assert_holds_panics_on_a_violation() {
        let mut s = settled();
        s.stock = Some(7);
        check(
            &s,
            &Expect {
                initial_stock: Some(10),
                ..Expect::default()
            },
        )
        .assert_holds();
    }

    #[test]
    fn stock_must_add_up() {
        let mut s = settled();
        let answered = ids(&s);
        s.stock = Some(7); // a unit vanished
        breaks_only(&s, &strict(&answered), Invariant::Stock);
        s.stock = Some(9); // a unit appeared
        breaks_only(&s, &strict(&answered), Invariant::Stock);

        // Oversold: more live units than there were, the stock gone negative.
        let mut s = settled();
        s.orders[0].quantity = 12;
        s.orders[0].vouchers = 12;
        s.stock = Some(-2);
        let report = check(
            &s,
            &Expect {
                initial_stock: Some(10),
                ..Expect::default()
            },
        );
        let stock: Vec<_> = report
            .violations
            .iter()
            .filter(|v| v.invariant == Invariant::Stock)
            .map(|v| v.message.as_str())
            .collect();
        assert!(stock.iter().any(|m| m.contains("negative")), "{stock:?}");
        assert!(stock.iter().any(|m| m.contains("oversold")), "{stock:?}");

        // A snapshot without a coupon cannot pass a stock check.
        s.stock = None;
        assert!(
            check(
                &s,
                &Expect {
                    initial_stock: Some(10),
                    ..Expect::default()
                }
            )
            .broke(Invariant::Stock)
        );
    }

    #[test]
    fn orders_must_equal_201_answers() {
        let s = settled();
        let all = ids(&s);
        // An order nobody was told about.
        breaks_only(&s, &strict(&all[1..]), Invariant::Answers);
        // ... unless a fault may have cut the answer: then it is counted.
        let report = check(
            &s,
            &Expect {
                unanswered_allowed: true,
                ..strict(&all[1..])
            },
        );
        assert!(report.holds(), "{:?}", report.violations);
        assert_eq!(report.unanswered, 1);
        // A 201 for an order that does not exist.
        let mut answered = all.clone();
        answered.push(Uuid::new_v4());
        breaks_only(&s, &strict(&answered), Invariant::Answers);
        // Two purchases answered with one order.
        let mut answered = all.clone();
        answered.push(all[0]);
        breaks_only(&s, &strict(&answered), Invariant::Answers);
    }

    #[test]
    fn one_order_placed_event_per_order() {
        for events in [0, 2] {
            let mut s = settled();
            let answered = ids(&s);
            s.orders[1].placed_events = events;
            breaks_only(&s, &strict(&answered), Invariant::OrderPlaced);
        }
    }

    #[test]
    fn one_charge_per_paid_order_and_none_for_the_others() {
        let base = settled();
        let answered = ids(&base);
        let expect = strict(&answered);
        let breaks = |change: &dyn Fn(&mut Snapshot)| {
            let mut s = base.clone();
            change(&mut s);
            breaks_only(&s, &expect, Invariant::Charges);
        };
        // A paid order never charged, or charged twice.
        breaks(&|s| {
            s.ledger.remove(0);
        });
        breaks(&|s| {
            let again = entry(&s.orders[0], LedgerKind::Charge, 9);
            s.ledger.push(again)
        });
        // A failed or voided order charged.
        for i in [1, 3] {
            breaks(&|s| {
                let charge = entry(&s.orders[i], LedgerKind::Charge, 9);
                s.ledger.push(charge)
            });
        }
        // A refunded order without its refund, or refunded twice.
        breaks(&|s| {
            s.ledger.remove(2);
        });
        breaks(&|s| {
            let again = entry(&s.orders[2], LedgerKind::Refund, 9);
            s.ledger.push(again)
        });
        // A paid order refunded.
        breaks(&|s| {
            let refund = entry(&s.orders[0], LedgerKind::Refund, 9);
            s.ledger.push(refund)
        });
        // Units of a paid order cancelled: parts given back, never beyond what they owe.
        let partly = |s: &mut Snapshot, owed: i64, given: i64| {
            s.orders[0].refunds_owed = Some(owed);
            let mut part = entry(&s.orders[0], LedgerKind::Refund, 9);
            part.amount = given;
            s.ledger.push(part);
        };
        let mut fine = base.clone();
        partly(&mut fine, 900, 900);
        assert!(check(&fine, &expect).violations.is_empty());
        breaks(&|s| partly(s, 900, 1000));
        breaks(&|s| partly(s, 5000, 5000));
        // Charged another amount, or under another payment key.
        breaks(&|s| s.ledger[0].amount += 1);
        breaks(&|s| s.ledger[0].payment_key = "pay_other".into());
        breaks(&|s| s.orders[0].payment_key = None);
        // Money moved for an order that is not among those checked.
        breaks(&|s| {
            let mut stray = s.ledger[0].clone();
            stray.order_id = Uuid::new_v4().to_string();
            s.ledger.push(stray)
        });
    }

    #[test]
    fn a_charge_may_be_on_its_way_for_an_unsettled_order() {
        let mut s = settled();
        let pending = order("ordered", "pending", 1);
        s.ledger.push(entry(&pending, LedgerKind::Charge, 9));
        s.orders.push(pending);
        s.stock = Some(7);
        let answered = ids(&s);
        let unsettled = Expect {
            settled: false,
            ..strict(&answered)
        };
        assert!(check(&s, &unsettled).holds());
        // Two charges for it are not.
        let again = entry(&s.orders[4], LedgerKind::Charge, 10);
        s.ledger.push(again);
        breaks_only(&s, &unsettled, Invariant::Charges);
    }

    #[test]
    fn each_final_payment_has_its_event() {
        for (i, field) in [(0, "completed"), (1, "failed"), (2, "refunded")] {
            let mut s = settled();
            let answered = ids(&s);
            let o = &mut s.orders[i];
            match field {
                "completed" => o.completed_events = 0,
                "failed" => o.failed_events = 2,
                _ => o.refunded_events = 0,
            }
            breaks_only(&s, &strict(&answered), Invariant::PaymentEvents);
        }
    }

    #[test]
    fn paid_units_have_vouchers_and_unpaid_ones_none() {
        for (i, vouchers) in [(0, 1), (0, 3), (1, 1)] {
            let mut s = settled();
            let answered = ids(&s);
            s.orders[i].vouchers = vouchers;
            breaks_only(&s, &strict(&answered), Invariant::Vouchers);
        }
    }

    #[test]
    fn the_my_page_row_agrees() {
        for i in 0..2 {
            let mut s = settled();
            let answered = ids(&s);
            if i == 0 {
                s.orders[0].mypage_payment_status = Some("pending".into());
            } else {
                s.orders[1].mypage_status = None;
            }
            breaks_only(&s, &strict(&answered), Invariant::ReadModel);
        }
    }

    #[test]
    fn unfinished_payments_have_a_job() {
        let mut s = settled();
        let mut stuck = order("ordered", "pending", 1);
        stuck.queued = false;
        s.orders.push(stuck);
        s.stock = Some(7);
        let answered = ids(&s);
        breaks_only(
            &s,
            &Expect {
                settled: false,
                ..strict(&answered)
            },
            Invariant::PaymentWork,
        );
    }

    #[test]
    fn settled_means_final_and_no_job_left() {
        let mut s = settled();
        s.orders.push(order("ordered", "pending", 1));
        s.stock = Some(7);
        let answered = ids(&s);
        breaks_only(&s, &strict(&answered), Invariant::Settled);
        let mut s = settled();
        s.orders[0].queued = true;
        let answered = ids(&s);
        breaks_only(&s, &strict(&answered), Invariant::Settled);
        // Not asked: not checked.
        let report = check(&s, &Expect::default());
        assert!(report.holds(), "{:?}", report.violations);
    }

    #[test]
    fn no_cancellations_when_none_were_made() {
        let s = settled();
        let answered = ids(&s);
        let report = check(
            &s,
            &Expect {
                no_cancellations: true,
                ..strict(&answered)
            },
        );
        assert!(report.broke(Invariant::NoCancellations));
        assert_eq!(report.violations.len(), 2, "{:?}", report.violations);
        let mut s = settled();
        s.orders.truncate(2);
        s.ledger.truncate(1);
        let answered = ids(&s);
        let expect = Expect {
            initial_stock: None,
            no_cancellations: true,
            ..strict(&answered)
        };
        assert!(check(&s, &expect).holds());
    }

    #[test]
    fn offenders_are_counted_with_a_few_examples() {
        let mut s = settled();
        for _ in 0..5 {
            let mut o = order("ordered", "pending", 1);
            o.placed_events = 0;
            s.orders.push(o);
        }
        let report = check(&s, &Expect::default());
        assert_eq!(report.violations.len(), 1, "{:?}", report.violations);
        let text = report.violations[0].to_string();
        assert!(
            text.starts_with("one OrderPlaced per order: 5 orders without exactly one"),
            "{text}"
        );
        assert!(text.ends_with(", ...)"), "{text}");
    }
}
