//! `GET /api/v1/mypage` (customer) -> `{"items": [row...]}`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{MYPAGE_LIMIT, repo};
use crate::api::doc;
use crate::auth::guards::require_customer;
use crate::auth::tokens::BearerAuth;
use crate::domain::MyPageRow;
use crate::error::AppError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(mypage))
}

#[derive(Serialize, ToSchema)]
#[schema(as = MyPage)]
struct Items {
    items: Vec<MyPageRow>,
}

/// The customer's orders with their vouchers, newest first.
#[utoipa::path(
    get,
    path = "/mypage",
    tag = "customers",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The customer's orders", body = Items),
        doc::Unauthorized,
        doc::Forbidden,
        doc::Unavailable,
    )
)]
async fn mypage(State(pool): State<PgPool>, auth: BearerAuth) -> Result<Json<Items>, AppError> {
    let customer = require_customer(auth.0)?;
    let mut conn = pool.acquire().await?;
    Ok(Json(Items {
        items: repo::for_customer(&mut conn, customer.user_id, MYPAGE_LIMIT).await?,
    }))
}
