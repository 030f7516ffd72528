//! `GET /api/v1/owner/dashboard` (owner).

use axum::Json;
use axum::extract::State;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::repo;
use crate::api::doc;
use crate::auth::guards::require_owner;
use crate::auth::tokens::BearerAuth;
use crate::domain::order::Dashboard;
use crate::error::AppError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dashboard))
}

/// The owner's shop: figures per coupon, recent orders, sales per day.
#[utoipa::path(
    get,
    path = "/owner/dashboard",
    tag = "owners",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The dashboard", body = Dashboard),
        doc::Unauthorized,
        doc::Forbidden,
        doc::Unavailable,
    )
)]
async fn dashboard(
    State(pool): State<PgPool>,
    auth: BearerAuth,
) -> Result<Json<Dashboard>, AppError> {
    let owner = require_owner(auth.0)?;
    Ok(Json(repo::dashboard(&pool, owner).await?))
}
