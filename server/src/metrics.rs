//! Prometheus metrics: `GET /metrics` in the text exposition format, served on a listener
//! of its own (`COUPAN_METRICS_ADDR`, [`router`]), never on the site's port: nothing that
//! reaches the app (the Ingress, a stray pod) reads business counts by accident, and the
//! network policy admits Prometheus to that port only.
//!
//! Code anywhere in the process records through the `metrics` facade (`counter!`,
//! `gauge!`, `histogram!`), which writes to one process-global recorder. That recorder is
//! installed by the process's entry point only, once ([`Metrics::install`]: `main`, and
//! the API tests' harness once per test binary); what it returns, a [`Metrics`] value, is
//! handed to the application, whose `/metrics` renders it. Building an application or a
//! router installs nothing, so several of them in one process (the tests) share the one
//! recorder instead of racing to install their own.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `coupan_http_requests_total` | counter | `method`, `route`, `status` |
//! | `coupan_http_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `coupan_purchases_total` | counter | `outcome` |
//! | `coupan_payment_queue_depth` | gauge | |
//! | `coupan_payment_queue_due` | gauge | |
//! | `coupan_payment_saga_lag_seconds` | gauge | |
//! | `coupan_payment_jobs_total` | counter | `outcome` |
//! | `coupan_payment_breaker_state` | gauge (0 closed, 1 half-open, 2 open) | |
//! | `coupan_payment_breaker_transitions_total` | counter | `to` |
//! | `coupan_db_pool_connections` | gauge | `state` (`open`, `idle`, `in_use`) |
//! | `coupan_db_pool_max_connections` | gauge | |
//!
//! `route` is the route pattern (`/api/v1/orders/{id}/cancel`), never the raw path; what no
//! route matched is `static` (files under `/pkg/` and other paths with an extension) or
//! `other`, so the number of series stays bounded.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

pub const HTTP_REQUESTS: &str = "coupan_http_requests_total";
pub const HTTP_DURATION: &str = "coupan_http_request_duration_seconds";
pub const PURCHASES: &str = "coupan_purchases_total";
pub const QUEUE_DEPTH: &str = "coupan_payment_queue_depth";
pub const QUEUE_DUE: &str = "coupan_payment_queue_due";
pub const SAGA_LAG: &str = "coupan_payment_saga_lag_seconds";
pub const PAYMENT_JOBS: &str = "coupan_payment_jobs_total";
pub const BREAKER_STATE: &str = "coupan_payment_breaker_state";
pub const BREAKER_TRANSITIONS: &str = "coupan_payment_breaker_transitions_total";
pub const POOL_CONNECTIONS: &str = "coupan_db_pool_connections";
pub const POOL_MAX: &str = "coupan_db_pool_max_connections";

/// Latency buckets in seconds: 1 ms .. 10 s.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One scrape at a time: the gauges sampled from a pool and the rendering belong together
/// (several applications in one process, as in the tests, each sample their own pool).
static SCRAPE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The process's metrics recorder, as the application renders it on `/metrics`.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the process-global recorder that the `metrics` macros record into, with
    /// the help texts, the series that show before anything happened, and a thread that
    /// keeps histograms drained. Once per process: a second call fails, because the
    /// facade accepts one recorder only.
    pub fn install() -> Result<Metrics, String> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), DURATION_BUCKETS)
            .map_err(|e| format!("metrics buckets: {e}"))?
            .install_recorder()
            .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
        describe();
        // Histograms are drained into their buckets by the upkeep; a thread keeps it
        // going whether or not anyone scrapes (and whichever runtime is running).
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .map_err(|e| format!("cannot start the metrics upkeep: {e}"))?;
        Ok(Metrics { handle })
    }

    /// A recorder of its own that nothing records into: `/metrics` answers, empty. For
    /// an application built where the process's recorder is not wanted (unit tests).
    pub fn detached() -> Metrics {
        Metrics {
            handle: PrometheusBuilder::new().build_recorder().handle(),
        }
    }

    /// The text exposition of everything recorded so far.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// Help texts, and the series that must show before anything happened.
fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by method, route and status"
    );
    describe_counter!(
        PURCHASES,
        "Purchase attempts by outcome: created, replayed, out_of_stock, limit_exceeded, \
         not_on_sale, shed, rate_limited, error"
    );
    describe_gauge!(
        QUEUE_DEPTH,
        "Payment jobs queued (orders whose payment is not final)"
    );
    describe_gauge!(
        QUEUE_DUE,
        "Payment jobs ready to run now (not waiting out a backoff)"
    );
    describe_gauge!(
        SAGA_LAG,
        Unit::Seconds,
        "Age of the oldest queued payment job (0 when the queue is empty)"
    );
    describe_counter!(
        PAYMENT_JOBS,
        "Payment worker turns by outcome: paid, declined, refunded, voided, continued, \
         retry (gateway failed), deferred (breaker open), removed (nothing to do), error"
    );
    describe_gauge!(
        BREAKER_STATE,
        "Payment gateway circuit breaker: 0 closed, 1 half-open, 2 open"
    );
    describe_counter!(
        BREAKER_TRANSITIONS,
        "Circuit breaker state changes, by new state"
    );
    describe_gauge!(
        POOL_CONNECTIONS,
        "Database pool connections by state: open, idle, in_use"
    );
    describe_gauge!(POOL_MAX, "Configured maximum of database pool connections");

    counter!(PURCHASES, "outcome" => "created").absolute(0);
    gauge!(BREAKER_STATE).set(0.0);
    gauge!(QUEUE_DEPTH).set(0.0);
    gauge!(QUEUE_DUE).set(0.0);
    gauge!(SAGA_LAG).set(0.0);
}

/// The route label of a request: the matched pattern, else `static` or `other`.
pub fn route_label(matched: Option<&MatchedPath>, path: &str) -> String {
    if let Some(m) = matched {
        return m.as_str().to_string();
    }
    let last = path.rsplit('/').next().unwrap_or("");
    if path.starts_with("/pkg/") || last.contains('.') {
        "static".into()
    } else {
        "other".into()
    }
}

fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts every request and observes its latency by method, route, status.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = route_label(req.extensions().get::<MatchedPath>(), req.uri().path());
    let method = method_label(req.method());
    let res = next.run(req).await;
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", res.status().as_u16().to_string()),
    ];
    counter!(HTTP_REQUESTS, &labels[..]).increment(1);
    histogram!(HTTP_DURATION, &labels[..]).record(start.elapsed().as_secs_f64());
    res
}

/// Reads the payment queue and the pool into their gauges.
async fn sample(pool: &PgPool) {
    let size = pool.size() as f64;
    let idle = pool.num_idle() as f64;
    gauge!(POOL_CONNECTIONS, "state" => "open").set(size);
    gauge!(POOL_CONNECTIONS, "state" => "idle").set(idle);
    gauge!(POOL_CONNECTIONS, "state" => "in_use").set((size - idle).max(0.0));
    gauge!(POOL_MAX).set(pool.options().get_max_connections() as f64);

    // One small query; payment_jobs holds only unfinished work.
    let query = sqlx::query_as::<_, (i64, i64, f64)>(
        "select count(*),
                count(*) filter (where run_after <= now()),
                coalesce(extract(epoch from now() - min(created_at))::float8, 0)
         from payment_jobs",
    )
    .fetch_one(pool);
    match tokio::time::timeout(Duration::from_secs(2), query).await {
        Ok(Ok((depth, due, lag))) => {
            gauge!(QUEUE_DEPTH).set(depth as f64);
            gauge!(QUEUE_DUE).set(due as f64);
            gauge!(SAGA_LAG).set(lag.max(0.0));
        }
        // The last values stay; the scrape still answers (the database may be down).
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: cannot read the payment queue"),
        Err(_) => tracing::warn!("metrics: reading the payment queue timed out"),
    }
}

/// The metrics listener's application: `GET /metrics` (everything else 404), sampling
/// `pool`'s gauges at each scrape.
pub fn router(pool: PgPool, metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(endpoint))
        .with_state((pool, metrics))
}

/// `GET /metrics`.
async fn endpoint(State((pool, metrics)): State<(PgPool, Metrics)>) -> Response {
    let body = {
        let _one = SCRAPE.lock().await;
        sample(&pool).await;
        metrics.render()
    };
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmatched_paths_get_bounded_labels() {
        assert_eq!(route_label(None, "/pkg/coupan.wasm"), "static");
        assert_eq!(route_label(None, "/favicon.ico"), "static");
        assert_eq!(route_label(None, "/no/such/page/123"), "other");
        assert_eq!(
            route_label(None, "/coupons/6f1c8c1e-0000-4000-8000-000000000000"),
            "other"
        );
    }
}
