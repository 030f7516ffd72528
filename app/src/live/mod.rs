//! Live updates over Server-Sent Events (server only): a coupon's stock as it changes
//! (`stock.rs`, public) and a user's notifications (`crate::notifications::api`), both fed
//! by the process's one LISTEN connection (`hub.rs`).

pub mod hub;
pub mod stock;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use futures::Stream;
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
    let body = SseBody {
        frames: Box::pin(frames),
        keep_alive: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
        closed: Box::pin(closed),
        _open: OpenStream::new(kind),
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        // nginx (and others honouring it) pass events on at once instead of buffering them.
        .header("x-accel-buffering", "no")
        .body(Body::from_stream(body))
        .unwrap_or_default()
}

/// An SSE body: `frames` as they come, a comment line every [`KEEP_ALIVE`], the end when
/// `frames` ends or `closed` resolves. One struct rather than a chain of stream adapters:
/// a flash sale with 5,000 open streams polls it 25,000 times a second.
struct SseBody<S> {
    frames: Pin<Box<S>>,
    keep_alive: Pin<Box<tokio::time::Sleep>>,
    closed: Pin<Box<dyn Future<Output = ()> + Send>>,
    _open: OpenStream,
}

impl<S: Stream<Item = Bytes>> Stream for SseBody<S> {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.closed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        match self.frames.as_mut().poll_next(cx) {
            Poll::Ready(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        if self.keep_alive.as_mut().poll(cx).is_ready() {
            let next = tokio::time::Instant::now() + KEEP_ALIVE;
            self.keep_alive.as_mut().reset(next);
            return Poll::Ready(Some(Ok(Bytes::from_static(b":\n\n"))));
        }
        Poll::Pending
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test(start_paused = true)]
    async fn a_body_sends_frames_keeps_alive_and_ends_when_closed() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        let frames =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
        let (close, closed) = tokio::sync::oneshot::channel::<()>();
        let mut body = SseBody {
            frames: Box::pin(frames),
            keep_alive: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
            closed: Box::pin(async move {
                let _ = closed.await;
            }),
            _open: OpenStream::new("test"),
        };
        tx.send(Bytes::from_static(b"event: a\n\n")).unwrap();
        assert_eq!(body.next().await.unwrap().unwrap(), "event: a\n\n");
        // Nothing to send: a comment line after KEEP_ALIVE, and again after as long.
        let started = tokio::time::Instant::now();
        assert_eq!(body.next().await.unwrap().unwrap(), ":\n\n");
        assert_eq!(started.elapsed(), KEEP_ALIVE);
        assert_eq!(body.next().await.unwrap().unwrap(), ":\n\n");
        assert_eq!(started.elapsed(), KEEP_ALIVE * 2);
        tx.send(Bytes::from_static(b"event: b\n\n")).unwrap();
        assert_eq!(body.next().await.unwrap().unwrap(), "event: b\n\n");
        close.send(()).unwrap();
        assert!(body.next().await.is_none(), "ends when the process closes");
        // And when the frames end.
        let mut ended = SseBody {
            frames: Box::pin(futures::stream::empty::<Bytes>()),
            keep_alive: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
            closed: Box::pin(std::future::pending()),
            _open: OpenStream::new("test"),
        };
        assert!(ended.next().await.is_none());
    }
}
