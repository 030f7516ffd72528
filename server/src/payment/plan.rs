//! What to do with a payment job: the worker's decisions, pure (no database, no gateway),
//! so that each one is unit-tested below for every combination.
//!
//! Before the call, [`plan`] reads the order as claimed:
//!
//! | order, payment            | action                                                  |
//! |---------------------------|---------------------------------------------------------|
//! | ordered, pending          | `Charge`                                                |
//! | cancelled, refund_pending | `Refund(key)` with a recorded charge, else `FindCharge` |
//! | anything else             | `Remove` (the payment is settled already)               |
//!
//! and an action that calls the gateway is `Defer`red while the breaker refuses calls.
//! After the call, [`after_call`] reads the outcome and the order locked again (a cancel
//! may have come in meanwhile); every status it moves to is asked of the status machines.
//!
//! | outcome          | order now | settlement                                        |
//! |------------------|-----------|---------------------------------------------------|
//! | charged          | ordered   | `Paid` (vouchers issued)                          |
//! | charged          | otherwise | `LateCharge` (recorded; refunded on the next turn)|
//! | declined         | ordered   | `Fail` (stock back)                               |
//! | declined         | otherwise | `Void`                                            |
//! | refunded         | any       | `Refund`                                          |
//! | nothing charged  | any       | `Void`                                            |
//!
//! A failed call (unreachable, 5xx, timeout, a refused refund) is retried after
//! [`backoff`] of the job's attempts.

use std::time::Duration;

use app::domain::{ForbiddenMove, OrderState, OrderStatus, PaymentStatus};

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
}

impl Action {
    pub fn calls_gateway(&self) -> bool {
        matches!(
            self,
            Action::Charge | Action::Refund(_) | Action::FindCharge
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
    /// Charged after a cancel: the charge is recorded (no status moves) and refunded on
    /// the next turn.
    LateCharge { key: String },
    /// Declined: the order becomes `state` and its units go back to the stock.
    Fail { code: String, state: OrderState },
    /// Refunded: the order becomes `state`; `found` is recorded as its charge first.
    Refund {
        found: Option<String>,
        state: OrderState,
    },
    /// Nothing was charged: the order becomes `state`.
    Void { why: VoidReason, state: OrderState },
}

/// The action for a claimed order in `state` (with its recorded charge `payment_key`);
/// `breaker` is asked only when the action calls the gateway (a half-open breaker lets one
/// call through, so asking takes its permit).
pub fn plan(
    state: OrderState,
    payment_key: Option<&str>,
    breaker: impl FnOnce() -> Result<(), Duration>,
) -> Action {
    let action = if state == OrderState::PLACED {
        Action::Charge
    } else if state == OrderState::CANCELLED {
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
        Outcome::Charged(key) => Settlement::LateCharge { key },
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
    })
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
    fn plan_for_every_state_key_and_breaker() {
        let wait = Duration::from_millis(700);
        for state in every_state() {
            for key in [None, Some("pay_1")] {
                let expected = if state == OrderState::PLACED {
                    Action::Charge
                } else if state == OrderState::CANCELLED {
                    key.map_or(Action::FindCharge, |k| Action::Refund(k.into()))
                } else {
                    Action::Remove
                };
                let mut asked = false;
                let open = plan(state, key, || {
                    asked = true;
                    Err(wait)
                });
                assert_eq!(asked, expected.calls_gateway(), "{state:?} {key:?}");
                let want_open = if expected.calls_gateway() {
                    Action::Defer(wait)
                } else {
                    expected.clone()
                };
                assert_eq!(open, want_open, "open breaker, {state:?} {key:?}");
                assert_eq!(plan(state, key, || Ok(())), expected, "{state:?} {key:?}");
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
                    Outcome::Charged(key) => Ok(Settlement::LateCharge { key }),
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
