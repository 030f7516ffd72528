//! `GET /api/v1/owner/dashboard` (owner).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use sqlx::PgPool;

use super::repo;
use crate::auth::guards::require_owner;
use crate::auth::tokens::BearerAuth;
use crate::domain::order::Dashboard;
use crate::error::AppError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/owner/dashboard", get(dashboard))
}

async fn dashboard(
    State(pool): State<PgPool>,
    auth: BearerAuth,
) -> Result<Json<Dashboard>, AppError> {
    let owner = require_owner(auth.0)?;
    Ok(Json(repo::dashboard(&pool, owner).await?))
}
