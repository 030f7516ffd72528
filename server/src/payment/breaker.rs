//! A circuit breaker around the payment gateway. After `threshold` failures in a row it
//! opens: calls fail fast (work stays queued) for `open_for`; then one probe is let
//! through (half-open); a success closes it, a failure opens it again. Every change of
//! state is logged and shows in `/metrics` (`coupan_payment_breaker_state`: 0 closed,
//! 1 half-open, 2 open; `coupan_payment_breaker_transitions_total{to}`).

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

impl BreakerState {
    /// The value of the `coupan_payment_breaker_state` gauge.
    pub fn gauge_value(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Open => "open",
        }
    }
}

/// Publishes a change of state to the metrics.
fn transition(to: BreakerState) {
    metrics::gauge!(crate::metrics::BREAKER_STATE).set(to.gauge_value());
    metrics::counter!(crate::metrics::BREAKER_TRANSITIONS, "to" => to.as_str()).increment(1);
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
                    transition(BreakerState::HalfOpen);
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
            transition(BreakerState::Closed);
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
                transition(BreakerState::Open);
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
    fn transitions_show_in_the_metrics() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let value = |name: &str| -> Option<f64> {
            handle
                .render()
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        };
        metrics::with_local_recorder(&recorder, || {
            let b = Breaker::new(1, Duration::from_millis(20));
            b.record_failure();
            assert_eq!(value("coupan_payment_breaker_state "), Some(2.0));
            std::thread::sleep(Duration::from_millis(30));
            assert!(b.allow().is_ok());
            assert_eq!(value("coupan_payment_breaker_state "), Some(1.0));
            b.record_success();
            assert_eq!(value("coupan_payment_breaker_state "), Some(0.0));
            for to in ["open", "half_open", "closed"] {
                assert_eq!(
                    value(&format!(
                        "coupan_payment_breaker_transitions_total{{to=\"{to}\"}}"
                    )),
                    Some(1.0),
                    "{}",
                    handle.render()
                );
            }
        });
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
