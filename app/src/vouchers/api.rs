//! `POST /api/v1/vouchers/redeem` (owner) `{code}`.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use sqlx::PgPool;

use super::{Redeemed, service};
use crate::api::extract::JsonBody;
use crate::auth::guards::require_owner;
use crate::auth::tokens::BearerAuth;
use crate::error::AppError;
use crate::request_id::CurrentRequestId;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/vouchers/redeem", post(redeem))
}

#[derive(Deserialize)]
struct RedeemBody {
    code: String,
}

async fn redeem(
    State(pool): State<PgPool>,
    auth: BearerAuth,
    CurrentRequestId(request_id): CurrentRequestId,
    JsonBody(body): JsonBody<RedeemBody>,
) -> Result<Json<Redeemed>, AppError> {
    let owner = require_owner(auth.0)?;
    Ok(Json(
        service::redeem(&pool, owner, &body.code, request_id.as_deref()).await?,
    ))
}
