//! `/api/v1/coupons`: the catalogue (public) and the owner's registrations.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{CouponPage, repo, service};
use crate::api::doc;
use crate::api::extract::{JsonBody, parse_id};
use crate::auth::guards::require_owner;
use crate::auth::tokens::BearerAuth;
use crate::domain::{Coupon, CouponInput, CouponPatch, CouponStatus};
use crate::error::AppError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update))
}

/// A coupon plus whether it can be bought right now.
#[derive(Serialize, ToSchema)]
#[schema(as = CouponWithStatus)]
pub(crate) struct CouponJson {
    #[serde(flatten)]
    coupon: Coupon,
    status: CouponStatus,
}

impl From<Coupon> for CouponJson {
    fn from(coupon: Coupon) -> Self {
        let status = coupon.status_at(Utc::now());
        CouponJson { coupon, status }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = CouponPage)]
struct PageJson {
    items: Vec<CouponJson>,
    page: u32,
    per_page: u32,
    total: i64,
}

impl From<CouponPage> for PageJson {
    fn from(p: CouponPage) -> Self {
        PageJson {
            items: p.items.into_iter().map(Into::into).collect(),
            page: p.page,
            per_page: p.per_page,
            total: p.total,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Words of the coupon's name or description (at most 100 characters).
    #[serde(default)]
    q: String,
    /// Words of the shop's name (at most 100 characters).
    #[serde(default)]
    shop: String,
    /// One of `Category::ALL`; absent or empty: every category.
    #[serde(default)]
    category: String,
    /// One of `Sort::ALL`; absent or empty: newest first.
    #[serde(default)]
    sort: String,
    /// 1-based.
    page: Option<u32>,
    per_page: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/coupons",
    operation_id = "list_coupons",
    tag = "coupons",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of coupons", body = PageJson),
        doc::BadRequest,
        doc::Invalid,
        doc::Unavailable,
    )
)]
async fn list(
    State(pool): State<PgPool>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PageJson>, AppError> {
    let Query(q) = query.map_err(|_| {
        AppError::BadRequest("page and per_page must be positive whole numbers".into())
    })?;
    let query = service::CatalogueQuery {
        q: &q.q,
        shop: &q.shop,
        category: &q.category,
        sort: &q.sort,
    };
    let page = service::search(
        &pool,
        query,
        q.page.unwrap_or(1),
        q.per_page.unwrap_or(service::DEFAULT_PER_PAGE),
    )
    .await?;
    Ok(Json(page.into()))
}

#[utoipa::path(
    get,
    path = "/coupons/{id}",
    operation_id = "show_coupon",
    tag = "coupons",
    params(("id" = Uuid, Path, description = "The coupon's id")),
    responses(
        (status = 200, description = "The coupon", body = CouponJson),
        doc::NotFound,
        doc::Unavailable,
    )
)]
async fn show(
    State(pool): State<PgPool>,
    Path(id): Path<String>,
) -> Result<Json<CouponJson>, AppError> {
    let id = parse_id(&id)?;
    let mut conn = pool.acquire().await?;
    repo::get(&mut conn, id)
        .await?
        .map(|c| Json(c.into()))
        .ok_or(AppError::NotFound)
}

#[utoipa::path(
    post,
    path = "/coupons",
    tag = "coupons",
    security(("bearer" = [])),
    request_body = CouponInput,
    responses(
        (status = 201, description = "The new coupon", body = CouponJson),
        doc::BadRequest,
        doc::Unauthorized,
        doc::Forbidden,
        doc::Invalid,
        doc::Unavailable,
    )
)]
async fn create(
    State(pool): State<PgPool>,
    auth: BearerAuth,
    JsonBody(input): JsonBody<CouponInput>,
) -> Result<(StatusCode, Json<CouponJson>), AppError> {
    let owner = require_owner(auth.0)?;
    let valid = input.validate().map_err(AppError::Validation)?;
    let coupon = service::create(&pool, owner, valid).await?;
    Ok((StatusCode::CREATED, Json(coupon.into())))
}

#[utoipa::path(
    patch,
    path = "/coupons/{id}",
    tag = "coupons",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The coupon's id")),
    request_body = CouponPatch,
    responses(
        (status = 200, description = "The coupon after the change", body = CouponJson),
        doc::BadRequest,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Invalid,
        doc::Unavailable,
    )
)]
async fn update(
    State(state): State<AppState>,
    auth: BearerAuth,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<CouponPatch>,
) -> Result<Json<CouponJson>, AppError> {
    let owner = require_owner(auth.0)?;
    let id = parse_id(&id)?;
    Ok(Json(
        service::update(&state.pool, state.waitlist, owner, id, patch)
            .await?
            .into(),
    ))
}
