//! `/api/v1/coupons/{id}/waitlist` (join, leave) and `/api/v1/waitlist` (the customer's
//! places in line). Customers only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use uuid::Uuid;

use super::{WaitlistEntry, service};
use crate::api::extract::parse_id;
use crate::auth::guards::require_customer;
use crate::auth::tokens::BearerAuth;
use crate::error::AppError;
use crate::request_id::CurrentRequestId;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/coupons/{id}/waitlist", post(join).delete(leave))
        .route("/waitlist", get(list))
}

#[derive(Serialize)]
struct Place {
    coupon_id: Uuid,
    position: i64,
}

/// 201 with the new place at the end of the line; 200 with the same place when already in
/// it; 409 `not_sold_out` while the public can buy the coupon.
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

#[derive(Serialize)]
struct Entries {
    items: Vec<WaitlistEntry>,
}

async fn list(State(state): State<AppState>, auth: BearerAuth) -> Result<Json<Entries>, AppError> {
    let customer = require_customer(auth.0)?;
    Ok(Json(Entries {
        items: service::list(&state.pool, customer).await?,
    }))
}
