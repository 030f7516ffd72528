//! `GET /api/v1/mypage` (customer) -> `{"items": [row...]}`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use sqlx::PgPool;

use super::{MYPAGE_LIMIT, repo};
use crate::auth::guards::require_customer;
use crate::auth::tokens::BearerAuth;
use crate::domain::MyPageRow;
use crate::error::AppError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mypage", get(mypage))
        .route("/mypage/vouchers/{code}/qr.svg", get(voucher_qr))
}

/// The QR code (SVG) of one of the caller's active vouchers: for the `<img>` of my page
/// and of the voucher's full-screen page, so the browser session signs in. Someone else's code, or a void or used one, is 404: only a usable voucher has a
/// code to show.
async fn voucher_qr(
    State(pool): State<PgPool>,
    session: tower_sessions::Session,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let customer = require_customer(crate::auth::sessions::session_principal(&session).await?)?;
    let mut conn = pool.acquire().await?;
    let code = crate::vouchers::normalise_code(&code);
    let voucher = repo::voucher_of(&mut conn, customer.user_id, &code)
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

#[derive(Serialize)]
struct Items {
    items: Vec<MyPageRow>,
}

async fn mypage(State(pool): State<PgPool>, auth: BearerAuth) -> Result<Json<Items>, AppError> {
    let customer = require_customer(auth.0)?;
    let mut conn = pool.acquire().await?;
    Ok(Json(Items {
        items: repo::for_customer(&mut conn, customer.user_id, MYPAGE_LIMIT).await?,
    }))
}
