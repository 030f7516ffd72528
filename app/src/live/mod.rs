//! Live updates over Server-Sent Events (server only): a coupon's stock as it changes
//! (`stock.rs`, public) and a user's notifications (`crate::notifications::api`), both fed
//! by the process's one LISTEN connection (`hub.rs`).

pub mod hub;
pub mod stock;

use std::time::Duration;

use axum::http::{HeaderValue, header::HeaderName};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};

pub use hub::Hub;

/// A comment line this often keeps proxies from closing a quiet stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The SSE response of `events`, ended when the process starts shutting down; counted in
/// `coupan_live_streams{stream}` while open.
pub fn respond<S>(
    kind: &'static str,
    events: S,
    closed: impl Future<Output = ()> + Send + 'static,
) -> Response
where
    S: Stream<Item = Result<Event, axum::Error>> + Send + 'static,
{
    let open = OpenStream::new(kind);
    let events = events.take_until(closed).map(move |e| {
        let _counted = &open;
        e
    });
    let mut res = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // nginx (and others honouring it) pass events on at once instead of buffering them.
    res.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    res
}

/// Counts an open stream in the gauge for as long as it lives.
struct OpenStream(&'static str);

impl OpenStream {
    fn new(kind: &'static str) -> OpenStream {
        metrics::gauge!("coupan_live_streams", "stream" => kind).increment(1.0);
        OpenStream(kind)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("coupan_live_streams", "stream" => self.0).decrement(1.0);
    }
}
