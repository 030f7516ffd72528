//! Latency histograms (microseconds, 3 significant digits).

use std::time::Duration;

use hdrhistogram::Histogram;

#[derive(Clone)]
pub struct Lat(Histogram<u64>);

impl Default for Lat {
    fn default() -> Self {
        // 1 µs .. 10 min.
        Lat(Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds"))
    }
}

impl Lat {
    pub fn record(&mut self, d: Duration) {
        self.record_us(d.as_micros() as u64);
    }

    pub fn record_us(&mut self, us: u64) {
        self.0.saturating_record(us.max(1));
    }

    pub fn add(&mut self, other: &Lat) {
        self.0.add(&other.0).expect("same bounds");
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The `q` quantile (0..=1) in milliseconds; `None` when empty.
    pub fn ms(&self, q: f64) -> Option<f64> {
        (self.count() > 0).then(|| self.0.value_at_quantile(q) as f64 / 1000.0)
    }

    pub fn max_ms(&self) -> Option<f64> {
        (self.count() > 0).then(|| self.0.max() as f64 / 1000.0)
    }

    /// "p50 / p95 / p99 / max" in ms.
    pub fn summary(&self) -> String {
        format!(
            "{} / {} / {} / {}",
            fmt_ms(self.ms(0.50)),
            fmt_ms(self.ms(0.95)),
            fmt_ms(self.ms(0.99)),
            fmt_ms(self.max_ms())
        )
    }
}

pub fn fmt_ms(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v < 10.0 => format!("{v:.2} ms"),
        Some(v) if v < 100.0 => format!("{v:.1} ms"),
        Some(v) => format!("{v:.0} ms"),
    }
}
