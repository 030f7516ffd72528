//! `GET /api/v1/mypage?before=<cursor>&limit=<n>` (customer) -> `{"items": [row...],
//! "next": cursor | null}`: the newest orders first, `next` pages further back
//! (`domain::history`); `limit` 1 to 100, default 100.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use sqlx::PgPool;

use super::OrderHistory;
use crate::auth::guards::require_customer;
use crate::auth::tokens::BearerAuth;
use crate::domain::history::PageRequest;
use crate::error::AppError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/mypage", get(mypage))
}

/// Text, so that a bad value is a 422 naming its field rather than a 400.
#[derive(Deserialize)]
struct PageQuery {
    before: Option<String>,
    limit: Option<String>,
}

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
