//! The gateway's domain: payments, the ledger of money moved, the runtime mode, and the
//! two decisions it makes (confirm, cancel) as pure functions of what it knows. The HTTP
//! layer turns their outcomes into status codes and bodies; the ledger module stores them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Done,
    /// Part of the amount was given back (`balanceAmount` is what remains).
    PartialCanceled,
    Canceled,
    Aborted,
}

/// The payment object of the API (amounts are integer KRW).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub payment_key: String,
    pub order_id: String,
    pub status: PaymentStatus,
    pub total_amount: i64,
    pub balance_amount: i64,
    pub approved_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
}

impl Payment {
    /// Whether money was taken for it (and perhaps given back): `DONE` or `CANCELED`.
    pub fn was_charged(&self) -> bool {
        matches!(
            self.status,
            PaymentStatus::Done | PaymentStatus::PartialCanceled | PaymentStatus::Canceled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerKind {
    Charge,
    Refund,
}

/// One movement of money: what the tests count to prove "charged once, refunded once".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub seq: u64,
    pub kind: LedgerKind,
    pub order_id: String,
    pub payment_key: String,
    pub amount: i64,
    pub at: DateTime<Utc>,
}

/// Body of `GET /v1/ledger`; the type that every reader of the ledger (the server tests,
/// the benchmark, the operations tests) deserialises.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub entries: Vec<LedgerEntry>,
    pub charges: usize,
    pub refunds: usize,
}

impl Ledger {
    /// The ledger of these entries, with their counts.
    pub fn new(entries: Vec<LedgerEntry>) -> Ledger {
        let count = |kind| entries.iter().filter(|e| e.kind == kind).count();
        Ledger {
            charges: count(LedgerKind::Charge),
            refunds: count(LedgerKind::Refund),
            entries,
        }
    }
}

/// Runtime behaviour switch (`/admin/mode`). Never persisted.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Mode {
    /// Probability that a confirm or cancel answers `503 PROVIDER_ERROR` having done nothing.
    pub failure_rate: f64,
    /// Sleep before answering `/v1/payments/...` requests.
    pub latency_ms: u64,
    /// Every confirm declines.
    pub decline_all: bool,
    /// Confirms of orders whose id starts with this decline (empty: none).
    pub decline_order_prefix: Option<String>,
}

impl Mode {
    /// Whether a confirm of this order declines.
    pub fn declines(&self, order_id: &str) -> bool {
        self.decline_all
            || self
                .decline_order_prefix
                .as_deref()
                .is_some_and(|p| !p.is_empty() && order_id.starts_with(p))
    }

    /// Whether `rate` can be a `failure_rate` (a probability).
    pub fn valid_failure_rate(rate: f64) -> bool {
        rate.is_finite() && (0.0..=1.0).contains(&rate)
    }
}

/// A confirm that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmRequest {
    pub order_id: String,
    /// More than 0.
    pub amount: i64,
}

/// What a confirm comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// The order already has a charged payment (made under another key): that one, nothing
    /// charged; the amount is not compared.
    AlreadyPaid(Payment),
    /// Declined by the mode: an `ABORTED` payment is recorded so that the order lookup
    /// shows it, nothing is charged.
    Declined(Payment),
    /// A new `DONE` payment and its one charge.
    Charged {
        payment: Payment,
        entry: LedgerEntry,
    },
}

/// Decides a confirm. `charged` is the order's charged payment if it has one, `seq` the
/// next ledger number, `payment_key` the key a new payment gets.
pub fn confirm(
    charged: Option<&Payment>,
    mode: &Mode,
    req: ConfirmRequest,
    seq: u64,
    payment_key: String,
    now: DateTime<Utc>,
) -> Confirmed {
    if let Some(existing) = charged {
        return Confirmed::AlreadyPaid(existing.clone());
    }
    if mode.declines(&req.order_id) {
        return Confirmed::Declined(Payment {
            payment_key,
            order_id: req.order_id,
            status: PaymentStatus::Aborted,
            total_amount: req.amount,
            balance_amount: 0,
            approved_at: None,
            canceled_at: None,
        });
    }
    let payment = Payment {
        payment_key: payment_key.clone(),
        order_id: req.order_id.clone(),
        status: PaymentStatus::Done,
        total_amount: req.amount,
        balance_amount: req.amount,
        approved_at: Some(now),
        canceled_at: None,
    };
    let entry = LedgerEntry {
        seq,
        kind: LedgerKind::Charge,
        order_id: req.order_id,
        payment_key,
        amount: req.amount,
        at: now,
    };
    Confirmed::Charged { payment, entry }
}

/// What a cancel of an existing payment comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// Cancelled before: the same payment, nothing refunded again.
    AlreadyCanceled(Payment),
    /// A declined (`ABORTED`) payment: nothing to give back.
    NotCancelable,
    /// The amount asked for is more than the payment's balance: nothing refunded.
    NotCancelableAmount,
    /// The payment, now `CANCELED` (or `PARTIAL_CANCELED` while a balance remains), and the
    /// refund of the amount asked for (the whole balance without one).
    Refunded {
        payment: Payment,
        entry: LedgerEntry,
    },
}

/// Decides a cancel of `payment` of `amount` (more than 0; the whole balance when `None`,
/// as Toss's `cancelAmount`); `seq` is the next ledger number.
pub fn cancel(payment: &Payment, amount: Option<i64>, seq: u64, now: DateTime<Utc>) -> Cancelled {
    match (payment.status, amount) {
        (PaymentStatus::Canceled, None) => Cancelled::AlreadyCanceled(payment.clone()),
        (PaymentStatus::Canceled, Some(_)) => Cancelled::NotCancelableAmount,
        (PaymentStatus::Aborted, _) => Cancelled::NotCancelable,
        (PaymentStatus::Done | PaymentStatus::PartialCanceled, _) => {
            let amount = amount.unwrap_or(payment.balance_amount);
            if amount > payment.balance_amount {
                return Cancelled::NotCancelableAmount;
            }
            let balance = payment.balance_amount - amount;
            Cancelled::Refunded {
                entry: LedgerEntry {
                    seq,
                    kind: LedgerKind::Refund,
                    order_id: payment.order_id.clone(),
                    payment_key: payment.payment_key.clone(),
                    amount,
                    at: now,
                },
                payment: Payment {
                    status: if balance == 0 {
                        PaymentStatus::Canceled
                    } else {
                        PaymentStatus::PartialCanceled
                    },
                    balance_amount: balance,
                    canceled_at: Some(now),
                    ..payment.clone()
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(order_id: &str, amount: i64) -> ConfirmRequest {
        ConfirmRequest {
            order_id: order_id.into(),
            amount,
        }
    }

    fn done(order_id: &str, amount: i64) -> Payment {
        Payment {
            payment_key: "pay_1".into(),
            order_id: order_id.into(),
            status: PaymentStatus::Done,
            total_amount: amount,
            balance_amount: amount,
            approved_at: Some(Utc::now()),
            canceled_at: None,
        }
    }

    #[test]
    fn declines() {
        let mut mode = Mode::default();
        assert!(!mode.declines("o-1"));
        mode.decline_order_prefix = Some("bad-".into());
        assert!(mode.declines("bad-1"));
        assert!(!mode.declines("good-1"));
        mode.decline_order_prefix = Some(String::new());
        assert!(!mode.declines("good-1"));
        mode.decline_all = true;
        assert!(mode.declines("good-1"));
    }

    #[test]
    fn failure_rates() {
        for ok in [0.0, 0.5, 1.0] {
            assert!(Mode::valid_failure_rate(ok), "{ok}");
        }
        for bad in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert!(!Mode::valid_failure_rate(bad), "{bad}");
        }
    }

    #[test]
    fn a_new_confirm_charges_its_amount_once() {
        let now = Utc::now();
        let Confirmed::Charged { payment, entry } = confirm(
            None,
            &Mode::default(),
            request("o-1", 700),
            3,
            "pay_x".into(),
            now,
        ) else {
            panic!("not charged")
        };
        assert_eq!(payment.status, PaymentStatus::Done);
        assert_eq!((payment.total_amount, payment.balance_amount), (700, 700));
        assert_eq!(payment.approved_at, Some(now));
        assert_eq!(payment.canceled_at, None);
        assert_eq!(entry.seq, 3);
        assert_eq!(entry.kind, LedgerKind::Charge);
        assert_eq!((entry.order_id.as_str(), entry.amount), ("o-1", 700));
        assert_eq!(entry.payment_key, payment.payment_key);
    }

    #[test]
    fn a_charged_order_is_not_charged_again_whatever_the_amount() {
        let existing = done("o-1", 700);
        let outcome = confirm(
            Some(&existing),
            &Mode {
                decline_all: true,
                ..Mode::default()
            },
            request("o-1", 1),
            9,
            "pay_new".into(),
            Utc::now(),
        );
        assert_eq!(outcome, Confirmed::AlreadyPaid(existing));
    }

    #[test]
    fn a_declined_confirm_records_an_aborted_payment_without_a_charge() {
        let mode = Mode {
            decline_order_prefix: Some("bad-".into()),
            ..Mode::default()
        };
        let Confirmed::Declined(payment) = confirm(
            None,
            &mode,
            request("bad-1", 500),
            1,
            "pay_x".into(),
            Utc::now(),
        ) else {
            panic!("not declined")
        };
        assert_eq!(payment.status, PaymentStatus::Aborted);
        assert_eq!((payment.total_amount, payment.balance_amount), (500, 0));
        assert_eq!(payment.approved_at, None);
        assert!(!payment.was_charged());
    }

    #[test]
    fn cancel_refunds_the_balance_once() {
        let now = Utc::now();
        let paid = done("o-1", 700);
        let Cancelled::Refunded { payment, entry } = cancel(&paid, None, 2, now) else {
            panic!("not refunded")
        };
        assert_eq!(payment.status, PaymentStatus::Canceled);
        assert_eq!(payment.balance_amount, 0);
        assert_eq!(payment.canceled_at, Some(now));
        assert_eq!(payment.approved_at, paid.approved_at);
        assert_eq!(
            (entry.seq, entry.kind, entry.amount),
            (2, LedgerKind::Refund, 700)
        );
        assert_eq!(
            cancel(&payment, None, 3, now),
            Cancelled::AlreadyCanceled(payment.clone())
        );
        assert_eq!(
            cancel(&payment, Some(1), 3, now),
            Cancelled::NotCancelableAmount
        );
        let aborted = Payment {
            status: PaymentStatus::Aborted,
            ..paid
        };
        assert_eq!(cancel(&aborted, None, 3, now), Cancelled::NotCancelable);
    }

    #[test]
    fn partial_cancels_refund_parts_of_the_balance_never_more() {
        let now = Utc::now();
        let paid = done("o-1", 900);
        let Cancelled::Refunded { payment, entry } = cancel(&paid, Some(300), 2, now) else {
            panic!("not refunded")
        };
        assert_eq!(payment.status, PaymentStatus::PartialCanceled);
        assert_eq!((payment.balance_amount, entry.amount), (600, 300));
        assert!(payment.was_charged());
        assert_eq!(
            cancel(&payment, Some(601), 3, now),
            Cancelled::NotCancelableAmount
        );
        let Cancelled::Refunded { payment, entry } = cancel(&payment, None, 3, now) else {
            panic!("not refunded")
        };
        assert_eq!(payment.status, PaymentStatus::Canceled);
        assert_eq!((payment.balance_amount, entry.amount), (0, 600));
    }

    #[test]
    fn ledger_counts_charges_and_refunds() {
        let at = Utc::now();
        let entry = |seq, kind, order: &str| LedgerEntry {
            seq,
            kind,
            order_id: order.into(),
            payment_key: format!("pay_{order}"),
            amount: 10,
            at,
        };
        let ledger = Ledger::new(vec![
            entry(1, LedgerKind::Charge, "a"),
            entry(2, LedgerKind::Charge, "b"),
            entry(3, LedgerKind::Refund, "a"),
        ]);
        assert_eq!((ledger.charges, ledger.refunds), (2, 1));
        assert_eq!(ledger.entries.len(), 3);
    }
}
