//! Live updates over Server-Sent Events (server only): a coupon's stock as it changes
//! (`stock.rs`, public) and a user's notifications (`crate::notifications::api`), both fed
//! by the process's one LISTEN connection (`hub.rs`).

pub mod hub;
pub mod stock;

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use futures::{Stream, StreamExt};
use serde::Serialize;

pub use hub::Hub;

/// A comment line this often keeps proxies from closing a quiet stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One Server-Sent Event: `event:`, `id:` when given, and `data:` the JSON of `data`
/// (one line: JSON text has no raw line breaks).
pub fn frame(event: &str, id: Option<&str>, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|e| {
        // Not for the types sent here (plain structs); said if it ever happens.
        tracing::error!(error = %e, event, "a live event could not be serialised");
        "null".into()
    });
    let mut out = String::with_capacity(json.len() + event.len() + 32);
    out.push_str("event: ");
    out.push_str(event);
    out.push('\n');
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&json);
    out.push_str("\n\n");
    Bytes::from(out)
}

/// The SSE response of `frames` (each a whole event, see [`frame`]), with a comment line
/// every [`KEEP_ALIVE`], ended when `frames` ends or the process starts shutting down;
/// counted in `coupan_live_streams{stream}` while open.
pub fn respond<S>(
    kind: &'static str,
    frames: S,
    closed: impl Future<Output = ()> + Send + 'static,
) -> Response
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    let open = OpenStream::new(kind);
    let keep_alive = futures::stream::unfold((), |()| async {
        tokio::time::sleep(KEEP_ALIVE).await;
        Some((Some(Bytes::from_static(b":\n\n")), ()))
    });
    let frames = frames
        .map(Some)
        .chain(futures::stream::once(async { None }));
    let body = futures::stream::select(frames, keep_alive)
        .take_while(|f| std::future::ready(f.is_some()))
        .filter_map(std::future::ready)
        .take_until(closed)
        .map(move |f| {
            let _counted = &open;
            Ok::<_, Infallible>(f)
        });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        // nginx (and others honouring it) pass events on at once instead of buffering them.
        .header("x-accel-buffering", "no")
        .body(Body::from_stream(body))
        .unwrap_or_default()
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
