//! `/api/v1/coupons/{id}/waitlist` (join, leave) and `/api/v1/waitlist` (the customer's
//! places in line). Customers only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{WaitlistEntry, service};
use crate::api::doc;
use crate::api::extract::parse_id;
use crate::auth::guards::require_customer;
use crate::auth::tokens::BearerAuth;
use crate::error::AppError;
use crate::request_id::CurrentRequestId;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join, leave))
        .routes(routes!(list))
}

#[derive(Serialize, ToSchema)]
#[schema(as = WaitlistPlace)]
struct Place {
    coupon_id: Uuid,
    position: i64,
}

/// 201 with the new place at the end of the line; 200 with the same place when already in
/// it; 409 `not_sold_out` while the public can buy the coupon.
#[utoipa::path(
    post,
    path = "/coupons/{id}/waitlist",
    tag = "customers",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The coupon's id")),
    responses(
        (status = 201, description = "In line: the new place", body = Place),
        (status = 200, description = "Already in line: the same place", body = Place),
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
        doc::Unavailable,
    )
)]
async fn join(
    State(state): State<AppState>,
    auth: BearerAuth,
    CurrentRequestId(request_id): CurrentRequestId,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Place>), AppError> {
    let customer = require_customer(auth.0)?;
    let (entry, created) = service::join(
        &state.pool,
        state.waitlist,
        customer,
        parse_id(&id)?,
        request_id.as_deref(),
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(Place {
            coupon_id: entry.coupon_id,
            position: entry.position,
        }),
    ))
}

/// 204, whether or not the customer was in the line.
#[utoipa::path(
    delete,
    path = "/coupons/{id}/waitlist",
    tag = "customers",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The coupon's id")),
    responses(
        (status = 204, description = "Not in line (any more)"),
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Unavailable,
    )
)]
async fn leave(
    State(state): State<AppState>,
    auth: BearerAuth,
    CurrentRequestId(request_id): CurrentRequestId,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let customer = require_customer(auth.0)?;
    service::leave(
        &state.pool,
        state.waitlist,
        customer,
        parse_id(&id)?,
        request_id.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
#[schema(as = Waitlist)]
struct Entries {
    items: Vec<WaitlistEntry>,
}

/// The customer's places in line.
#[utoipa::path(
    get,
    path = "/waitlist",
    operation_id = "list_waitlist",
    tag = "customers",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The customer's places", body = Entries),
        doc::Unauthorized,
        doc::Forbidden,
        doc::Unavailable,
    )
)]
async fn list(State(state): State<AppState>, auth: BearerAuth) -> Result<Json<Entries>, AppError> {
    let customer = require_customer(auth.0)?;
    Ok(Json(Entries {
        items: service::list(&state.pool, customer).await?,
    }))
}
