//! `GET /api/v1/mypage?before=<cursor>&limit=<n>` (customer) -> `{"items": [row...],
//! "next": cursor | null}`: the newest orders first, `next` pages further back
//! (`domain::history`); `limit` 1 to 100, default 100.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::OrderHistory;
use crate::api::doc;
use crate::auth::guards::require_customer;
use crate::auth::tokens::BearerAuth;
use crate::domain::history::PageRequest;
use crate::error::AppError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mypage))
        .routes(routes!(voucher_qr))
}

/// The QR code (SVG) of one of the caller's active vouchers: for the `<img>` of my page
/// and of the voucher's full-screen page, so the browser session signs in. Someone else's
/// code, or a void or used one, is 404: only a usable voucher has a code to show.
#[utoipa::path(
    get,
    path = "/mypage/vouchers/{code}/qr.svg",
    tag = "customers",
    description = "Signed in with the browser's session cookie (the page's `<img>`), not a token.",
    params(("code" = String, Path, description = "The voucher's code")),
    responses(
        (status = 200, description = "The QR code of the voucher", content_type = "image/svg+xml", body = String),
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Unavailable,
    )
)]
async fn voucher_qr(
    State(state): State<AppState>,
    session: tower_sessions::Session,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let customer =
        require_customer(crate::auth::sessions::session_principal(&session, &state).await?)?;
    let mut conn = state.pool.acquire().await?;
    let code = crate::vouchers::normalise_code(&code);
    let voucher = super::repo::voucher_of(&mut conn, customer.user_id, &code)
        .await?
        .filter(|v| v.status == crate::domain::VoucherStatus::Active)
        .ok_or(AppError::NotFound)?;
    let svg = super::qr::svg(&voucher.code).ok_or(AppError::Internal)?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CACHE_CONTROL, "private, no-store"),
        ],
        svg,
    )
        .into_response())
}

/// Text, so that a bad value is a 422 naming its field rather than a 400.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// The `next` cursor of the previous page.
    before: Option<String>,
    /// 1 to 100 (default 100).
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/mypage",
    tag = "customers",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "The customer's orders, newest first; `next` pages further back", body = OrderHistory),
        doc::BadRequest,
        doc::Invalid,
        doc::Unauthorized,
        doc::Forbidden,
        doc::Unavailable,
    )
)]
async fn mypage(
    State(pool): State<PgPool>,
    auth: BearerAuth,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<OrderHistory>, AppError> {
    let customer = require_customer(auth.0)?;
    let Query(q) =
        query.map_err(|_| AppError::BadRequest("the query string could not be read".into()))?;
    let request = PageRequest::parse(q.before.as_deref(), q.limit.as_deref())
        .map_err(AppError::Validation)?;
    Ok(Json(super::page(&pool, customer.user_id, request).await?))
}
