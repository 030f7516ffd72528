//! `POST /api/v1/vouchers/redeem` (owner) `{code}`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Redeemed, service};
use crate::api::doc;
use crate::api::extract::JsonBody;
use crate::auth::guards::require_owner;
use crate::auth::tokens::BearerAuth;
use crate::error::AppError;
use crate::request_id::CurrentRequestId;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(redeem))
}

#[derive(Deserialize, ToSchema)]
struct RedeemBody {
    /// The voucher's code as the customer shows it (dashes and spaces optional).
    code: String,
}

/// The shop's owner redeems a voucher of one of its coupons.
#[utoipa::path(
    post,
    path = "/vouchers/redeem",
    tag = "owners",
    security(("bearer" = [])),
    request_body = RedeemBody,
    responses(
        (status = 200, description = "Redeemed", body = Redeemed),
        doc::BadRequest,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
        doc::Unavailable,
    )
)]
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
