//! Serving with a bounded graceful shutdown.
//!
//! On the stop signal: the caller's `on_signal` runs (readiness turns 503), the listener
//! stops accepting, in-flight requests finish, then the payment workers are told to stop
//! and finish (or release) the job in hand. Everything after the signal shares one deadline
//! (`COUPAN_SHUTDOWN_TIMEOUT_SECS`); what is still running then is cut short and logged,
//! and the caller exits anyway. A job cut short is not lost: a worker holds its claimed
//! jobs only inside an open transaction (`payment::claim`), so when the process ends
//! that transaction rolls back with its connection and the jobs are queued as before, for
//! any worker to claim.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The payment workers: the stop switch and their tasks.
pub struct Workers {
    pub stop: tokio::sync::watch::Sender<bool>,
    pub tasks: Vec<JoinHandle<()>>,
}

/// What the shutdown had to cut short (all zero after a clean one).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Requests still running at the deadline.
    pub requests_cut: usize,
    /// Worker tasks still running at the deadline.
    pub workers_cut: usize,
}

/// Serves `app` until `signal`, then shuts down within `timeout` (see the module notes).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    signal: impl Future<Output = ()> + Send + 'static,
    on_signal: impl FnOnce() + Send + 'static,
    workers: Workers,
    timeout: Duration,
) -> Result<Report, String> {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let app = app.layer(axum::middleware::from_fn({
        let in_flight = in_flight.clone();
        move |req: Request, next: Next| {
            let in_flight = in_flight.clone();
            async move {
                let _counted = Counted::new(&in_flight);
                next.run(req).await
            }
        }
    }));
    let (signalled, signal_seen) = tokio::sync::oneshot::channel::<Instant>();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        signal.await;
        on_signal();
        let _ = signalled.send(Instant::now());
    });
    let mut server = std::pin::pin!(server.into_future());

    // Serve until the signal (or until serving fails). When the signal comes with nothing
    // in flight, the server may finish in the same turn: then it must not be polled again.
    let (deadline, finished) = tokio::select! {
        res = &mut server => {
            res.map_err(|e| format!("server error: {e}"))?;
            (Instant::now() + timeout, true)
        }
        at = signal_seen => (at.unwrap_or_else(|_| Instant::now()) + timeout, false),
    };
    tracing::info!(
        timeout_secs = timeout.as_secs_f64(),
        in_flight = in_flight.load(Ordering::Relaxed),
        "shutting down: no new connections, finishing requests in flight"
    );

    let mut report = Report::default();
    match tokio::time::timeout_at(deadline, async {
        if finished {
            Ok(())
        } else {
            (&mut server).await
        }
    })
    .await
    {
        Ok(res) => res.map_err(|e| format!("server error: {e}"))?,
        Err(_) => {
            report.requests_cut = in_flight.load(Ordering::Relaxed);
            tracing::warn!(
                requests = report.requests_cut,
                "shutdown timeout: requests still in flight are cut short"
            );
        }
    }

    // The workers finish or release the job in hand, within what is left of the time.
    let _ = workers.stop.send(true);
    for task in workers.tasks {
        if tokio::time::timeout_at(deadline, task).await.is_err() {
            report.workers_cut += 1;
        }
    }
    if report.workers_cut > 0 {
        tracing::warn!(
            workers = report.workers_cut,
            "shutdown timeout: payment workers cut short; their uncommitted jobs stay queued"
        );
    }
    if report == Report::default() {
        tracing::info!("shut down cleanly");
    }
    Ok(report)
}

/// Counts a request while it runs.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::Relaxed);
        Counted(n)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_millis(600)).await;
        "done"
    }

    /// Serves a router with a slow route; returns the address, the stop switch and the
    /// running shutdown.
    async fn start(
        worker: JoinHandle<()>,
        stop: tokio::sync::watch::Sender<bool>,
        timeout: Duration,
    ) -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        JoinHandle<Result<Report, String>>,
        Arc<std::sync::atomic::AtomicBool>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/slow", get(slow));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let drained = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = drained.clone();
        let task = tokio::spawn(serve(
            listener,
            app,
            async move {
                let _ = rx.await;
            },
            move || flag.store(true, Ordering::SeqCst),
            Workers {
                stop,
                tasks: vec![worker],
            },
            timeout,
        ));
        (addr, tx, task, drained)
    }

    /// A worker that stops `takes` after being told to.
    fn worker(takes: Duration) -> (JoinHandle<()>, tokio::sync::watch::Sender<bool>) {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(takes).await;
        });
        (task, stop)
    }

    #[tokio::test]
    async fn in_flight_requests_finish_within_the_timeout() {
        let (w, stop) = worker(Duration::from_millis(50));
        let (addr, signal, task, drained) = start(w, stop, Duration::from_secs(5)).await;
        let request = tokio::spawn(reqwest::get(format!("http://{addr}/slow")));
        tokio::time::sleep(Duration::from_millis(150)).await;
        signal.send(()).unwrap();
        let report = task.await.unwrap().unwrap();
        assert_eq!(report, Report::default());
        assert!(drained.load(Ordering::SeqCst), "readiness was told");
        let res = request.await.unwrap().unwrap();
        assert_eq!(res.text().await.unwrap(), "done");
        // No new connections after the shutdown.
        assert!(reqwest::get(format!("http://{addr}/slow")).await.is_err());
    }

    /// With nothing in flight the server can finish in the same turn as the signal is
    /// seen; the shutdown must not poll it again (it panicked once under SIGTERM).
    #[tokio::test]
    async fn an_idle_server_shuts_down_cleanly_every_time() {
        for _ in 0..40 {
            let (w, stop) = worker(Duration::ZERO);
            let (_, signal, task, _) = start(w, stop, Duration::from_secs(5)).await;
            signal.send(()).unwrap();
            assert_eq!(task.await.unwrap().unwrap(), Report::default());
        }
    }

    #[tokio::test]
    async fn the_whole_shutdown_is_bounded() {
        // A request longer than the timeout, and a worker that would take a minute.
        let (w, stop) = worker(Duration::from_secs(60));
        let (addr, signal, task, _) = start(w, stop, Duration::from_millis(300)).await;
        let request = tokio::spawn(async move {
            reqwest::get(format!("http://{addr}/slow"))
                .await
                .map(|_| ())
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        signal.send(()).unwrap();
        let report = task.await.unwrap().unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_millis(600), "took {took:?}");
        assert!(took >= Duration::from_millis(250), "took {took:?}");
        assert_eq!(
            report,
            Report {
                requests_cut: 1,
                workers_cut: 1
            }
        );
        request.abort();
    }
}
