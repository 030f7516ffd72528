//! A circuit breaker around the payment gateway. After `threshold` failures in a row it
//! opens: calls fail fast (work stays queued) for `open_for`; then one probe is let
//! through (half-open); a success closes it, a failure opens it again. Every change of
//! state is logged.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

pub struct Breaker {
    inner: Mutex<Inner>,
    threshold: u32,
    open_for: Duration,
}

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            inner: Mutex::new(Inner::Closed { failures: 0 }),
            threshold: threshold.max(1),
            open_for,
        }
    }

    pub fn state(&self) -> BreakerState {
        match *self.inner.lock().unwrap() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// `Ok` if a call may go out now, else how long to wait before asking again.
    pub fn allow(&self) -> Result<(), Duration> {
        let mut inner = self.inner.lock().unwrap();
        match *inner {
            Inner::Closed { .. } => Ok(()),
            Inner::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *inner = Inner::HalfOpen { probing: true };
                    tracing::warn!(
                        breaker = "half_open",
                        "payment gateway circuit half-open: sending one probe"
                    );
                    Ok(())
                } else {
                    Err(until - now)
                }
            }
            Inner::HalfOpen { probing: true } => Err(Duration::from_millis(500)),
            Inner::HalfOpen { probing: false } => {
                *inner = Inner::HalfOpen { probing: true };
                Ok(())
            }
        }
    }

    pub fn record_success(&self) {
        let mut inner = self.inner.lock().unwrap();
        if !matches!(*inner, Inner::Closed { .. }) {
            tracing::info!(breaker = "closed", "payment gateway circuit closed");
        }
        *inner = Inner::Closed { failures: 0 };
    }

    pub fn record_failure(&self) {
        let mut inner = self.inner.lock().unwrap();
        match *inner {
            Inner::Closed { failures } if failures + 1 < self.threshold => {
                *inner = Inner::Closed {
                    failures: failures + 1,
                }
            }
            Inner::Open { .. } => {}
            _ => {
                tracing::warn!(
                    breaker = "open",
                    open_for_ms = self.open_for.as_millis() as u64,
                    "payment gateway circuit opened"
                );
                *inner = Inner::Open {
                    until: Instant::now() + self.open_for,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_probes_and_closes() {
        let b = Breaker::new(3, Duration::from_millis(50));
        for _ in 0..2 {
            b.record_failure();
            assert!(b.allow().is_ok());
        }
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.allow().is_err(), "fails fast while open");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow().is_ok(), "one probe after the pause");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.allow().is_err(), "only one probe at a time");
        b.record_failure();
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "a failed probe opens it again"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow().is_ok());
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::new(2, Duration::from_secs(60));
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
