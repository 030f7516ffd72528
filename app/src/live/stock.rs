//! `GET /api/v1/coupons/{id}/live` and `GET /api/v1/coupons/live?ids=a,b,c` (public):
//! `event: stock` with a coupon's [`LiveStock`], at once and then after every change,
//! at most one per [`MIN_GAP`] per coupon (the latest value when the gap is over; values
//! in between are skipped, never the last). The many-coupon form is what a page with
//! several coupons opens: one connection, the same events, each coupon paced on its own.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tokio::time::Instant;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::hub::{CouponWatch, Frame, Hub};
use crate::api::doc;
use crate::api::extract::parse_id;
use crate::error::AppError;
use crate::state::AppState;

/// Least time between two events of one coupon on one stream: at most 5 per second.
pub const MIN_GAP: Duration = Duration::from_millis(200);
/// Most coupons one stream follows (a catalogue page shows at most 100).
pub const MAX_IDS: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(many))
        .routes(routes!(one))
}

/// A coupon's stock as it changes (Server-Sent Events, never ends by itself).
#[utoipa::path(
    get,
    path = "/coupons/{id}/live",
    tag = "live",
    params(("id" = Uuid, Path, description = "The coupon's id")),
    responses(
        (status = 200, description = "`event: stock` with `data:` a `LiveStock`, at once and after every change (at most 5 a second)", content_type = "text/event-stream", body = doc::StockEvent),
        doc::NotFound,
        doc::Unavailable,
    )
)]
async fn one(State(hub): State<Arc<Hub>>, Path(id): Path<String>) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    open(&hub, &[id]).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Ids {
    /// 1 to 100 coupon ids, comma-separated.
    #[serde(default)]
    ids: String,
}

/// Several coupons' stock on one stream (Server-Sent Events, never ends by itself).
#[utoipa::path(
    get,
    path = "/coupons/live",
    tag = "live",
    params(Ids),
    responses(
        (status = 200, description = "`event: stock` with `data:` a `LiveStock`, per coupon at once and after every change", content_type = "text/event-stream", body = doc::StockEvent),
        doc::BadRequest,
        doc::NotFound,
        doc::Unavailable,
    )
)]
async fn many(
    State(hub): State<Arc<Hub>>,
    query: Result<Query<Ids>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let Query(q) =
        query.map_err(|_| AppError::BadRequest("ids: coupon ids, comma-separated".into()))?;
    let ids = parse_ids(&q.ids)?;
    open(&hub, &ids).await
}

/// `a,b,c` (spaces allowed, repeats dropped): 1 to [`MAX_IDS`] coupon ids.
fn parse_ids(text: &str) -> Result<Vec<Uuid>, AppError> {
    let mut ids = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = Uuid::parse_str(part)
            .map_err(|_| AppError::BadRequest(format!("ids: {part:?} is not a coupon id")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(AppError::BadRequest(format!(
            "ids: 1 to {MAX_IDS} coupon ids, comma-separated"
        )));
    }
    Ok(ids)
}

/// Watches first, then reads the current states (so no change falls in between), then
/// streams; an unknown coupon is a 404 before anything is sent.
async fn open(hub: &Arc<Hub>, ids: &[Uuid]) -> Result<Response, AppError> {
    let watches = hub.watch_coupons(ids);
    hub.load(ids).await?;
    // One coupon (the coupon page, the API's usual case) needs no merging of streams.
    let frames = if let [_] = &watches[..] {
        let w = watches.into_iter().next().expect("one");
        paced(w).map(|f| f.bytes).boxed()
    } else {
        futures::stream::select_all(watches.into_iter().map(|w| paced(w).boxed()))
            .map(|f| f.bytes)
            .boxed()
    };
    Ok(super::respond("stock", frames, hub.closed()))
}

/// Streams that are due within one tick of this are sent together (see [`paced`]).
pub const TICK: Duration = Duration::from_millis(10);

/// One coupon's states: the newest at once, then the newest after every change, no
/// sooner than [`MIN_GAP`] after the previous one.
///
/// The wait ends on the process's next [`TICK`] after the gap, so the streams that are due
/// in the same tick wake together: one timer slot, and their writes in a row (a flash sale
/// with 5,000 open streams sends 25,000 events a second).
pub fn paced(watch: CouponWatch) -> impl Stream<Item = Frame> + Send {
    futures::stream::unfold((watch, None::<Instant>), |(mut watch, last)| async move {
        if let Some(last) = last {
            tokio::time::sleep_until(on_tick(last + MIN_GAP)).await;
            watch.receiver().changed().await.ok()?;
        }
        let frame = watch.receiver().borrow_and_update().clone()?;
        Some((frame, (watch, Some(Instant::now()))))
    })
}

/// The first [`TICK`] of the process at or after `at`.
fn on_tick(at: Instant) -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    let since = at.saturating_duration_since(start).as_micros();
    let tick = TICK.as_micros();
    let ticks = since.div_ceil(tick);
    start + Duration::from_micros(u64::try_from(ticks * tick).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_ends_on_the_next_tick() {
        let at = Instant::now() + Duration::from_millis(7);
        let due = on_tick(at);
        assert!(due >= at && due < at + TICK, "{:?}", due - at);
        assert_eq!(on_tick(due), due);
        assert_eq!(on_tick(due + Duration::from_micros(1)), due + TICK);
    }

    #[test]
    fn ids_are_a_short_list_of_uuids() {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        assert_eq!(parse_ids(&format!("{a}, {b},{a},")).unwrap(), vec![a, b]);
        assert!(parse_ids("").is_err());
        assert!(parse_ids("nope").is_err());
        let many: Vec<String> = (0..=MAX_IDS).map(|_| Uuid::new_v4().to_string()).collect();
        assert!(parse_ids(&many.join(",")).is_err());
    }
}
