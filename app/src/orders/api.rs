//! `/api/v1/orders` (customers) and `/api/v1/owner/orders/{id}/refund` (owners).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use sqlx::PgPool;

use super::service::{self, Canceller};
use crate::api::extract::{JsonBody, parse_id};
use crate::auth::guards::{require_customer, require_owner};
use crate::auth::tokens::BearerAuth;
use crate::domain::order::{parse_idempotency_key, parse_quantity};
use crate::domain::{BuyInput, OrderView};
use crate::error::AppError;
use crate::request_id::CurrentRequestId;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders", post(buy))
        .route("/orders/{id}", get(show))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/owner/orders/{id}/refund", post(refund))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = v
        .to_str()
        .map_err(|_| AppError::BadRequest("Idempotency-Key must be text".into()))?;
    parse_idempotency_key(text)
        .map(Some)
        .map_err(|e| AppError::BadRequest(e.into()))
}

/// 201 with the order; a retry with the same `Idempotency-Key` answers 201 with the same order.
async fn buy(
    State(state): State<AppState>,
    auth: BearerAuth,
    CurrentRequestId(request_id): CurrentRequestId,
    headers: HeaderMap,
    JsonBody(input): JsonBody<BuyInput>,
) -> Result<(StatusCode, Json<OrderView>), AppError> {
    let customer = require_customer(auth.0)?;
    let quantity = parse_quantity(input.quantity).map_err(|e| AppError::field("quantity", e))?;
    let key = idempotency_key(&headers)?;
    let (order, _) = service::place(
        &state,
        customer,
        input.coupon_id,
        quantity,
        key.as_deref(),
        request_id.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(order)))
}

async fn show(
    State(pool): State<PgPool>,
    auth: BearerAuth,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, AppError> {
    let customer = require_customer(auth.0)?;
    Ok(Json(
        service::get_own(&pool, customer, parse_id(&id)?).await?,
    ))
}

/// Body of `POST /orders/{id}/cancel`, optional: `{"quantity": k}` cancels k of the
/// order's unredeemed units; without it (or without `quantity`), all its remaining units.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    #[serde(default)]
    quantity: Option<i64>,
}

/// 200 with the order: `paid` while units remain, `cancelled` when none do. 422 for a
/// quantity below 1 or above the units remaining, 409 `voucher_redeemed` when the units
/// asked for include redeemed ones, 409 `partial_cancel_unpaid` for part of an unpaid
/// order, 409 `refund_period_over` 5 years after the purchase.
async fn cancel(
    State(state): State<AppState>,
    auth: BearerAuth,
    CurrentRequestId(request_id): CurrentRequestId,
    Path(id): Path<String>,
    body: Option<JsonBody<CancelBody>>,
) -> Result<Json<OrderView>, AppError> {
    let customer = require_customer(auth.0)?;
    let quantity = body.and_then(|JsonBody(b)| b.quantity);
    let (order, _) = service::cancel(
        &state.pool,
        state.waitlist,
        Canceller::Customer(customer),
        parse_id(&id)?,
        quantity,
        None,
        request_id.as_deref(),
    )
    .await?;
    Ok(Json(order))
}

#[derive(Deserialize, Default)]
struct RefundBody {
    #[serde(default)]
    reason: Option<String>,
}

async fn refund(
    State(state): State<AppState>,
    auth: BearerAuth,
    CurrentRequestId(request_id): CurrentRequestId,
    Path(id): Path<String>,
    body: Option<Json<RefundBody>>,
) -> Result<Json<OrderView>, AppError> {
    let owner = require_owner(auth.0)?;
    let reason = body.and_then(|Json(b)| b.reason);
    let (order, _) = service::cancel(
        &state.pool,
        state.waitlist,
        Canceller::Owner(owner),
        parse_id(&id)?,
        None,
        reason.as_deref(),
        request_id.as_deref(),
    )
    .await?;
    Ok(Json(order))
}
