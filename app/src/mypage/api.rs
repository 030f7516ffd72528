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
    Router::new().route("/mypage", get(mypage))
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
