//! `/api/v1/notifications` (signed in, the user's own only):
//! - `GET /notifications?before=<id>&limit=` -> `{"items": [...], "unread": N}`, newest first;
//! - `POST /notifications/{id}/read`, `POST /notifications/read-all` -> 204;
//! - `GET /notifications/live` (Bearer token or the browser's session): `event: unread`
//!   `{"unread": N}` first and after every change, `event: notification` with the item of
//!   the list for each new one. Every event carries `id:` the newest notification id the
//!   stream has covered, so a client that reconnects with `Last-Event-ID` (or
//!   `?last_event_id=`) gets what it missed, read again from the table (the newest
//!   [`REPLAY_MAX`] of them), after the first `unread`.

use std::collections::VecDeque;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use sqlx::PgPool;
use tower_sessions::Session;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::repo;
use crate::api::doc;
use crate::auth::guards::{Principal, require_user};
use crate::auth::sessions::session_principal;
use crate::auth::tokens::BearerAuth;
use crate::domain::{Notification, NotificationPage, Unread};
use crate::error::AppError;
use crate::live::hub::UserWatch;
use crate::state::AppState;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;
/// Most notifications one (re)connection replays.
pub const REPLAY_MAX: i64 = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read_all))
        .routes(routes!(live))
        .routes(routes!(read_one))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only notifications older than this id (the last `id` of the previous page).
    before: Option<i64>,
    /// 1 to 100 (default 20).
    limit: Option<i64>,
}

/// A page of the user's notifications and the unread count.
pub async fn page(
    pool: &PgPool,
    user: Principal,
    before: Option<i64>,
    limit: i64,
) -> Result<NotificationPage, AppError> {
    let mut conn = pool.acquire().await?;
    let items = repo::page(&mut conn, user.user_id, before, limit).await?;
    let unread = repo::unread(&mut conn, user.user_id).await?;
    Ok(NotificationPage { items, unread })
}

/// The user's notifications, newest first, and how many are unread.
#[utoipa::path(
    get,
    path = "/notifications",
    operation_id = "list_notifications",
    tag = "notifications",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of notifications", body = NotificationPage),
        doc::BadRequest,
        doc::Unauthorized,
        doc::Unavailable,
    )
)]
async fn list(
    State(pool): State<PgPool>,
    auth: BearerAuth,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<NotificationPage>, AppError> {
    let user = require_user(auth.0)?;
    let Query(q) =
        query.map_err(|_| AppError::BadRequest("before and limit must be whole numbers".into()))?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok(Json(page(&pool, user, q.before, limit).await?))
}

/// Marks one of the user's notifications read (another user's is left alone).
#[utoipa::path(
    post,
    path = "/notifications/{id}/read",
    tag = "notifications",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The notification's id")),
    responses(
        (status = 204, description = "Marked read"),
        doc::Unauthorized,
        doc::NotFound,
        doc::Unavailable,
    )
)]
async fn read_one(
    State(pool): State<PgPool>,
    auth: BearerAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let user = require_user(auth.0)?;
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let mut conn = pool.acquire().await?;
    repo::mark_read(&mut conn, user.user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Marks all the user's notifications read.
#[utoipa::path(
    post,
    path = "/notifications/read-all",
    tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "All marked read"),
        doc::Unauthorized,
        doc::Unavailable,
    )
)]
async fn read_all(State(pool): State<PgPool>, auth: BearerAuth) -> Result<StatusCode, AppError> {
    let user = require_user(auth.0)?;
    let mut conn = pool.acquire().await?;
    repo::mark_all_read(&mut conn, user.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LiveQuery {
    /// The `id:` of the last event seen (as `Last-Event-ID`, for a new `EventSource`).
    last_event_id: Option<String>,
}

/// The user's notifications as they come (Server-Sent Events, never ends by itself); a
/// browser may use its session cookie instead of a token.
#[utoipa::path(
    get,
    path = "/notifications/live",
    tag = "live",
    security(("bearer" = [])),
    params(
        LiveQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The `id:` of the last event seen: what came after it is sent again"),
    ),
    responses(
        (status = 200, description = "`event: unread` `{\"unread\": N}` first and after every change, `event: notification` with a `Notification` for each new one", content_type = "text/event-stream", body = doc::NotificationEvent),
        doc::Unauthorized,
        doc::Unavailable,
    )
)]
async fn live(
    State(state): State<AppState>,
    auth: BearerAuth,
    session: Session,
    headers: HeaderMap,
    Query(query): Query<LiveQuery>,
) -> Result<Response, AppError> {
    let user = match auth.0 {
        Some(p) => p,
        None => require_user(session_principal(&session, &state).await?)?,
    };
    // The header a reconnecting `EventSource` sends, or the same as a query parameter
    // (a page that opens a new `EventSource` cannot set headers).
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(query.last_event_id)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|id| *id >= 0);
    // Watch first, then read: a change in between wakes the stream, which reads it.
    let watch = state.live.watch_user(user.user_id);
    let feed = Feed::open(state.pool.clone(), user.user_id, watch, last_seen).await?;
    let events = futures::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((event, feed))
    });
    Ok(crate::live::respond(
        "notifications",
        events,
        state.live.closed(),
    ))
}

/// One user's notification stream: what is queued to send, and how far it has read.
struct Feed {
    pool: PgPool,
    user_id: Uuid,
    watch: UserWatch,
    /// The newest notification id sent (or skipped as old at the start).
    cursor: i64,
    unread_sent: i64,
    queue: VecDeque<Bytes>,
}

impl Feed {
    async fn open(
        pool: PgPool,
        user_id: Uuid,
        mut watch: UserWatch,
        last_seen: Option<i64>,
    ) -> Result<Feed, AppError> {
        watch.receiver().borrow_and_update();
        let mut conn = pool.acquire().await?;
        let unread = repo::unread(&mut conn, user_id).await?;
        let (cursor, missed) = match last_seen {
            Some(after) => {
                let missed = repo::since(&mut conn, user_id, after, REPLAY_MAX).await?;
                (after, missed)
            }
            None => (repo::latest_id(&mut conn, user_id).await?, Vec::new()),
        };
        drop(conn);
        let mut feed = Feed {
            pool,
            user_id,
            watch,
            cursor,
            unread_sent: unread,
            queue: VecDeque::new(),
        };
        feed.queue_unread(unread);
        for n in missed {
            feed.queue_notification(n);
        }
        Ok(feed)
    }

    fn queue_notification(&mut self, n: Notification) {
        self.cursor = self.cursor.max(n.id);
        let id = n.id.to_string();
        self.queue
            .push_back(crate::live::frame("notification", Some(&id), &n));
    }

    fn queue_unread(&mut self, unread: i64) {
        self.unread_sent = unread;
        let id = self.cursor.to_string();
        self.queue
            .push_back(crate::live::frame("unread", Some(&id), &Unread { unread }));
    }

    /// The next event: what is queued, else what changed after the next wake-up. `None`
    /// when the process is shutting down the hub.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            self.watch.receiver().changed().await.ok()?;
            self.watch.receiver().borrow_and_update();
            // A failed read leaves the cursor where it was: the hub wakes every stream
            // again once the database is back.
            if let Err(e) = self.read_changes().await {
                tracing::warn!(error = %e, "could not read notifications for a stream");
            }
        }
    }

    async fn read_changes(&mut self) -> Result<(), AppError> {
        let mut conn = self.pool.acquire().await?;
        let new = repo::since(&mut conn, self.user_id, self.cursor, REPLAY_MAX).await?;
        let unread = repo::unread(&mut conn, self.user_id).await?;
        drop(conn);
        let any_new = !new.is_empty();
        for n in new {
            self.queue_notification(n);
        }
        if any_new || unread != self.unread_sent {
            self.queue_unread(unread);
        }
        Ok(())
    }
}
