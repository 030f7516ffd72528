//! What to do with a payment job: the worker's decisions, pure (no database, no gateway),
//! so that each one is unit-tested below for every combination.
//!
//! Before the call, [`plan`] reads the order as claimed:
//!
//! | order, payment                     | action                                         |
//! |------------------------------------|------------------------------------------------|
//! | ordered, pending; before deadline  | `Charge`                                       |
//! | ordered, pending; past deadline    | `Expire` (no charge is tried any more)         |
//! | cancelled, refund_pending          | `Refund(key)` with a recorded charge, else     |
//! | expired, voided or refund_pending  | `FindCharge`                                   |
//! | anything else                      | `Remove` (the payment is settled already)      |
//!
//! and an action that calls the gateway is `Defer`red while the breaker refuses calls.
//! An expired order keeps its job for one more turn: a charge may have landed at the
//! gateway (a call that timed out, a worker that died after it) and is given back; once
//! the gateway says there is none, the job is gone. The deadline is checked when a charge
//! is planned (a call already on its way when it passes is settled as usual); the worker's
//! sweep (`expire.rs`) expires the overdue orders no worker is about to call for.
//! After the call, [`after_call`] reads the outcome and the order locked again (a cancel
//! may have come in meanwhile); every status it moves to is asked of the status machines.
//!
//! | outcome          | order now | settlement                                        |
//! |------------------|-----------|---------------------------------------------------|
//! | charged          | ordered   | `Paid` (vouchers issued)                          |
//! | charged          | otherwise | `LateCharge` (recorded, a voided payment becomes  |
//! |                  |           | refund_pending; refunded on the next turn)        |
//! | declined         | ordered   | `Fail` (stock back)                               |
//! | declined         | otherwise | `Void`                                            |
//! | refunded         | any       | `Refund`                                          |
//! | nothing charged  | any       | `Void`                                            |
//!
//! A failed call (unreachable, 5xx, timeout, a refused refund) is retried after
//! [`backoff`] of the job's attempts.

use std::time::Duration;

use app::domain::{ForbiddenMove, OrderState, OrderStatus, PaymentStatus};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What a job needs, decided before any call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Charge the order's amount.
    Charge,
    /// Give back the recorded charge with this payment key.
    Refund(String),
    /// No charge is recorded, but one may have gone through before a crash: ask the
    /// gateway, then refund what it found or void the payment.
    FindCharge,
    /// The breaker refuses calls: try again after this.
    Defer(Duration),
    /// Nothing to do (the order's payment is settled already): drop the job.
    Remove,
    /// The order is still unpaid past its payment deadline: expire it (no more charges).
    Expire,
    /// Give back `amount` of the charge `key`: the refund `refund_id` of cancelled units.
    RefundPart {
        refund_id: Uuid,
        key: String,
        amount: i64,
    },
    /// A cancelled order whose refunds were all given back: its payment is `refunded`.
    CloseRefunds,
}

impl Action {
    pub fn calls_gateway(&self) -> bool {
        matches!(
            self,
            Action::Charge | Action::Refund(_) | Action::FindCharge | Action::RefundPart { .. }
        )
    }
}

/// What a gateway call came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Charged (now or by an earlier call): the payment key.
    Charged(String),
    /// The gateway declined the charge: its code.
    Declined(String),
    /// The charge was given back. `found`: its key, when the charge was found at the
    /// gateway and is not recorded on the order yet.
    Refunded { found: Option<String> },
    /// The gateway has no charge for the order: nothing to give back.
    NothingCharged,
    /// The refund `refund_id` of cancelled units was given back.
    PartRefunded { refund_id: Uuid },
}

/// Why a payment is voided (each has its own metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoidReason {
    /// Declined after the order was cancelled.
    Declined,
    /// Cancelled, and the gateway had no charge.
    NothingCharged,
}

/// What the batch records for one job after its call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Charged: the order becomes `OrderState::PAID` and gets its vouchers (with the
    /// batch's other paid orders, set-based).
    Paid { key: String },
    /// Charged after a cancel or an expiry: the charge is recorded, the order becomes
    /// `state` (a voided payment is `refund_pending` again), and it is refunded on the next
    /// turn.
    LateCharge { key: String, state: OrderState },
    /// Declined: the order becomes `state` and its units go back to the stock.
    Fail { code: String, state: OrderState },
    /// Refunded: the order becomes `state`; `found` is recorded as its charge first.
    Refund {
        found: Option<String>,
        state: OrderState,
    },
    /// Nothing was charged: the order becomes `state`.
    Void { why: VoidReason, state: OrderState },
    /// The refund `refund_id` was given back; once none is owed, a cancelled order's
    /// payment becomes `refunded`.
    PartRefunded { refund_id: Uuid },
}

/// The refunds an order owes for cancelled units (its `refunds` rows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refunds {
    /// None: a cancelled order's charge is given back whole ([`plan`]).
    None,
    /// This one is owed (the oldest still owed).
    Owed { id: Uuid, amount: i64 },
    /// Every one was given back.
    AllGiven,
}

/// [`plan`] for an order that may owe refunds of cancelled units: a paid or cancelled
/// order with a refund owed gives it back (`RefundPart`, its amount only: never the whole
/// balance, which after the use-by date is more than the 90% owed); a cancelled one whose
/// refunds were all given back is closed. Without refunds, [`plan`] decides.
pub fn plan_with_refunds(
    state: OrderState,
    payment_key: Option<&str>,
    overdue: bool,
    refunds: &Refunds,
    breaker: impl FnOnce() -> Result<(), Duration>,
) -> Action {
    let paid_or_cancelled = matches!(state.status, OrderStatus::Paid | OrderStatus::Cancelled);
    match (refunds, payment_key) {
        (Refunds::Owed { id, amount }, Some(key)) if paid_or_cancelled => match breaker() {
            Ok(()) => Action::RefundPart {
                refund_id: *id,
                key: key.to_string(),
                amount: *amount,
            },
            Err(wait) => Action::Defer(wait),
        },
        (Refunds::AllGiven, _) if state == OrderState::CANCELLED => Action::CloseRefunds,
        (Refunds::AllGiven, _) if state.status == OrderStatus::Paid => Action::Remove,
        _ => plan(state, payment_key, overdue, breaker),
    }
}

/// An order placed at `ordered_at` is past its payment deadline at `now`, `deadline`
/// after it was placed.
pub fn overdue(ordered_at: DateTime<Utc>, now: DateTime<Utc>, deadline: Duration) -> bool {
    chrono::Duration::from_std(deadline).is_ok_and(|d| now - ordered_at >= d)
}

/// Money may still be held for an order that is over: a cancelled one until its refund or
/// void, an expired one until the gateway was asked (the job's last turn).
fn owes_money_back(state: OrderState) -> bool {
    state == OrderState::CANCELLED
        || (state.status == OrderStatus::Expired
            && matches!(
                state.payment_status,
                PaymentStatus::Voided | PaymentStatus::RefundPending
            ))
}

/// The action for a claimed order in `state` (with its recorded charge `payment_key`),
/// `overdue` when it is past its payment deadline ([`overdue`]); `breaker` is asked only
/// when the action calls the gateway (a half-open breaker lets one call through, so
/// asking takes its permit).
pub fn plan(
    state: OrderState,
    payment_key: Option<&str>,
    overdue: bool,
    breaker: impl FnOnce() -> Result<(), Duration>,
) -> Action {
    let action = if state == OrderState::PLACED {
        if overdue {
            Action::Expire
        } else {
            Action::Charge
        }
    } else if owes_money_back(state) {
        match payment_key {
            Some(key) => Action::Refund(key.to_string()),
            None => Action::FindCharge,
        }
    } else {
        Action::Remove
    };
    if !action.calls_gateway() {
        return action;
    }
    match breaker() {
        Ok(()) => action,
        Err(wait) => Action::Defer(wait),
    }
}

/// What `outcome` means for the order, `now` in state `now` (locked since the call).
pub fn after_call(outcome: Outcome, now: OrderState) -> Result<Settlement, ForbiddenMove> {
    let ordered = now.status == OrderStatus::Ordered;
    Ok(match outcome {
        Outcome::Charged(key) if ordered => {
            now.to(OrderState::PAID)?;
            Settlement::Paid { key }
        }
        Outcome::Charged(key) => Settlement::LateCharge {
            key,
            state: late_charge(now)?,
        },
        Outcome::Declined(code) if ordered => Settlement::Fail {
            code,
            state: now.to(OrderState::PAYMENT_FAILED)?,
        },
        Outcome::Declined(_) => Settlement::Void {
            why: VoidReason::Declined,
            state: now.to(now.with_payment(PaymentStatus::Voided))?,
        },
        Outcome::Refunded { found } => Settlement::Refund {
            found,
            state: now.to(now.with_payment(PaymentStatus::Refunded))?,
        },
        Outcome::NothingCharged => Settlement::Void {
            why: VoidReason::NothingCharged,
            state: now.to(now.with_payment(PaymentStatus::Voided))?,
        },
        Outcome::PartRefunded { refund_id } => Settlement::PartRefunded { refund_id },
    })
}

/// The order's state once a charge that came after it was cancelled or expired is
/// recorded: a voided payment owes the money back again.
fn late_charge(now: OrderState) -> Result<OrderState, ForbiddenMove> {
    if now.payment_status == PaymentStatus::Voided {
        now.to(now.with_payment(PaymentStatus::RefundPending))
    } else {
        Ok(now)
    }
}

/// The payment deadline of an order locked in state `now` has passed: its expired state
/// if it is still waiting for payment (asked of the status machines), `None` when
/// something else happened to it first (paid, declined, cancelled).
pub fn on_deadline(now: OrderState) -> Result<Option<OrderState>, ForbiddenMove> {
    if now == OrderState::PLACED {
        now.to(OrderState::EXPIRED).map(Some)
    } else {
        Ok(None)
    }
}

/// The pause before the next try after `attempts` failed calls: `base` doubled per
/// attempt, at most `max`, times `jitter` (the caller draws it from 0.5..1.5).
pub fn backoff(attempts: i32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempts.clamp(0, 16) as u32);
    exp.min(max).mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_state() -> impl Iterator<Item = OrderState> {
        OrderStatus::ALL.into_iter().flat_map(|s| {
            PaymentStatus::ALL
                .into_iter()
                .map(move |p| OrderState::new(s, p))
        })
    }

    #[test]
    fn refunds_of_cancelled_units_are_given_back_by_their_amount_only() {
        let id = Uuid::nil();
        let owed = Refunds::Owed { id, amount: 900 };
        let part = Action::RefundPart {
            refund_id: id,
            key: "k".into(),
            amount: 900,
        };
        for state in [OrderState::PAID, OrderState::CANCELLED] {
            assert_eq!(
                plan_with_refunds(state, Some("k"), false, &owed, || Ok(())),
                part
            );
            let wait = Duration::from_millis(5);
            assert_eq!(
                plan_with_refunds(state, Some("k"), false, &owed, || Err(wait)),
                Action::Defer(wait)
            );
        }
        // Given back: a cancelled order is closed, never refunded whole (the balance left
        // after a 90% refund is not owed).
        let all = Refunds::AllGiven;
        assert_eq!(
            plan_with_refunds(OrderState::CANCELLED, Some("k"), false, &all, || Ok(())),
            Action::CloseRefunds
        );
        assert_eq!(
            plan_with_refunds(OrderState::PAID, Some("k"), false, &all, || Ok(())),
            Action::Remove
        );
        // Without refunds, `plan` decides.
        assert_eq!(
            plan_with_refunds(
                OrderState::CANCELLED,
                Some("k"),
                false,
                &Refunds::None,
                || Ok(())
            ),
            Action::Refund("k".into())
        );
        assert_eq!(
            after_call(Outcome::PartRefunded { refund_id: id }, OrderState::PAID),
            Ok(Settlement::PartRefunded { refund_id: id })
        );
    }

    #[test]
    fn plan_for_every_state_key_deadline_and_breaker() {
        use PaymentStatus as P;
        let wait = Duration::from_millis(700);
        for state in every_state() {
            for key in [None, Some("pay_1")] {
                for overdue in [false, true] {
                    let refund = || key.map_or(Action::FindCharge, |k| Action::Refund(k.into()));
                    let expected = match (state.status, state.payment_status) {
                        (OrderStatus::Ordered, P::Pending) if overdue => Action::Expire,
                        (OrderStatus::Ordered, P::Pending) => Action::Charge,
                        (OrderStatus::Cancelled, P::RefundPending) => refund(),
                        (OrderStatus::Expired, P::Voided | P::RefundPending) => refund(),
                        _ => Action::Remove,
                    };
                    let mut asked = false;
                    let open = plan(state, key, overdue, || {
                        asked = true;
                        Err(wait)
                    });
                    let case = format!("{state:?} {key:?} overdue={overdue}");
                    assert_eq!(asked, expected.calls_gateway(), "{case}");
                    let want_open = if expected.calls_gateway() {
                        Action::Defer(wait)
                    } else {
                        expected.clone()
                    };
                    assert_eq!(open, want_open, "open breaker, {case}");
                    assert_eq!(plan(state, key, overdue, || Ok(())), expected, "{case}");
                }
            }
        }
        // The deadline only stops charges: an overdue cancelled order is still refunded,
        // and an expired one is asked about once.
        let cancelled = plan(OrderState::CANCELLED, Some("k"), true, || Ok(()));
        assert_eq!(cancelled, Action::Refund("k".into()));
        let expired = plan(OrderState::EXPIRED, None, true, || Ok(()));
        assert_eq!(expired, Action::FindCharge);
        let refunded = OrderState::EXPIRED.with_payment(P::Refunded);
        assert_eq!(plan(refunded, Some("k"), true, || Ok(())), Action::Remove);
    }

    #[test]
    fn overdue_from_the_deadline_on() {
        let placed = Utc::now();
        let deadline = Duration::from_secs(900);
        let at = |secs: i64| placed + chrono::Duration::seconds(secs);
        assert!(!overdue(placed, at(0), deadline));
        assert!(!overdue(placed, at(899), deadline));
        assert!(overdue(placed, at(900), deadline));
        assert!(overdue(placed, at(3600), deadline));
        // A clock that went back is not past anything.
        assert!(!overdue(placed, at(-5), deadline));
    }

    #[test]
    fn only_an_order_still_waiting_for_payment_expires() {
        for now in every_state() {
            let got = on_deadline(now);
            if now == OrderState::PLACED {
                assert_eq!(got, Ok(Some(OrderState::EXPIRED)));
            } else {
                assert_eq!(got, Ok(None), "{now:?}");
            }
        }
    }

    #[test]
    fn after_call_for_every_outcome_and_state() {
        use PaymentStatus as P;
        let outcomes = [
            Outcome::Charged("k".into()),
            Outcome::Declined("REJECT".into()),
            Outcome::Refunded { found: None },
            Outcome::Refunded {
                found: Some("k".into()),
            },
            Outcome::NothingCharged,
            Outcome::PartRefunded {
                refund_id: Uuid::nil(),
            },
        ];
        for now in every_state() {
            for outcome in outcomes.clone() {
                let got = after_call(outcome.clone(), now);
                let ordered = now.status == OrderStatus::Ordered;
                let moved = |next: OrderState| {
                    if now.can_become(next) {
                        Ok(next)
                    } else {
                        Err(ForbiddenMove {
                            from: now,
                            to: next,
                        })
                    }
                };
                let expected = match outcome {
                    Outcome::Charged(key) if ordered => {
                        moved(OrderState::PAID).map(|_| Settlement::Paid { key })
                    }
                    Outcome::Charged(key) if now.payment_status == P::Voided => {
                        moved(now.with_payment(P::RefundPending))
                            .map(|state| Settlement::LateCharge { key, state })
                    }
                    Outcome::Charged(key) => Ok(Settlement::LateCharge { key, state: now }),
                    Outcome::Declined(code) if ordered => moved(OrderState::PAYMENT_FAILED)
                        .map(|state| Settlement::Fail { code, state }),
                    Outcome::Declined(_) => {
                        moved(now.with_payment(P::Voided)).map(|state| Settlement::Void {
                            why: VoidReason::Declined,
                            state,
                        })
                    }
                    Outcome::Refunded { found } => moved(now.with_payment(P::Refunded))
                        .map(|state| Settlement::Refund { found, state }),
                    Outcome::NothingCharged => {
                        moved(now.with_payment(P::Voided)).map(|state| Settlement::Void {
                            why: VoidReason::NothingCharged,
                            state,
                        })
                    }
                    Outcome::PartRefunded { refund_id } => {
                        Ok(Settlement::PartRefunded { refund_id })
                    }
                };
                assert_eq!(got, expected, "{now:?}");
            }
        }
        // The states the saga reaches: what each outcome does there.
        let cancelled = OrderState::CANCELLED;
        let charged = || Outcome::Charged("k".into());
        assert_eq!(
            after_call(charged(), OrderState::PLACED),
            Ok(Settlement::Paid { key: "k".into() })
        );
        assert!(matches!(
            after_call(charged(), cancelled),
            Ok(Settlement::LateCharge { .. })
        ));
        assert!(matches!(
            after_call(Outcome::Declined("X".into()), cancelled),
            Ok(Settlement::Void { state, .. }) if state.payment_status == P::Voided
        ));
        assert!(matches!(
            after_call(Outcome::Refunded { found: None }, cancelled),
            Ok(Settlement::Refund { state, .. }) if state.payment_status == P::Refunded
        ));
        assert!(matches!(
            after_call(charged(), OrderState::PAID),
            Ok(Settlement::LateCharge { .. })
        ));
        assert!(after_call(Outcome::NothingCharged, OrderState::PAID).is_err());
        // A charge landing on an expired order: owed back, refunded on the next turn.
        let expired = OrderState::EXPIRED;
        assert_eq!(
            after_call(charged(), expired),
            Ok(Settlement::LateCharge {
                key: "k".into(),
                state: expired.with_payment(P::RefundPending)
            })
        );
        assert!(matches!(
            after_call(Outcome::Refunded { found: Some("k".into()) }, expired),
            Ok(Settlement::Refund { state, .. }) if state == expired.with_payment(P::Refunded)
        ));
        assert!(matches!(
            after_call(Outcome::NothingCharged, expired),
            Ok(Settlement::Void { state, .. }) if state == expired
        ));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let (base, max) = (Duration::from_millis(500), Duration::from_secs(30));
        assert_eq!(backoff(0, base, max, 1.0), base);
        assert_eq!(backoff(3, base, max, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(40, base, max, 1.0), max);
        assert_eq!(backoff(-2, base, max, 1.0), base);
        assert_eq!(backoff(1, base, max, 0.5), base);
        assert_eq!(backoff(1, base, max, 1.5), Duration::from_millis(1500));
    }
}
