//! `/api/v1/orders` (customers) and `/api/v1/owner/orders/{id}/refund` (owners).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{self, Canceller};
use crate::api::doc;
use crate::api::extract::{JsonBody, parse_id};
use crate::auth::guards::{require_customer, require_owner};
use crate::auth::tokens::BearerAuth;
use crate::domain::order::{parse_idempotency_key, parse_quantity};
use crate::domain::{BuyInput, OrderView};
use crate::error::AppError;
use crate::request_id::CurrentRequestId;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(buy))
        .routes(routes!(show))
        .routes(routes!(cancel))
        .routes(routes!(refund))
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
#[utoipa::path(
    post,
    path = "/orders",
    tag = "orders",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 100 characters: a retry with the same key and body answers the same order")),
    request_body = BuyInput,
    responses(
        (status = 201, description = "The order, waiting for its payment (or the earlier order of this `Idempotency-Key`)", body = OrderView),
        doc::BadRequest,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
        doc::Invalid,
        doc::RateLimited,
        doc::Unavailable,
    )
)]
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

#[utoipa::path(
    get,
    path = "/orders/{id}",
    operation_id = "show_order",
    tag = "orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderView),
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Unavailable,
    )
)]
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
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    /// Units to cancel (1 to those remaining); absent: all of them.
    #[serde(default)]
    quantity: Option<i64>,
}

/// 200 with the order: `paid` while units remain, `cancelled` when none do. 422 for a
/// quantity below 1 or above the units remaining, 409 `voucher_redeemed` when the units
/// asked for include redeemed ones, 409 `partial_cancel_unpaid` for part of an unpaid
/// order, 409 `refund_period_over` 5 years after the purchase.
#[utoipa::path(
    post,
    path = "/orders/{id}/cancel",
    tag = "orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order's id")),
    request_body(content = Option<CancelBody>, description = "Optional"),
    responses(
        (status = 200, description = "The order after the cancel: `paid` while units remain, `cancelled` when none do", body = OrderView),
        doc::BadRequest,
        doc::Invalid,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
        doc::Unavailable,
    )
)]
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

#[derive(Deserialize, Default, ToSchema)]
struct RefundBody {
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(
    post,
    path = "/owner/orders/{id}/refund",
    tag = "orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order's id")),
    request_body(content = Option<RefundBody>, description = "Optional"),
    responses(
        (status = 200, description = "The cancelled order", body = OrderView),
        doc::BadRequest,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
        doc::Invalid,
        doc::Unavailable,
    )
)]
async fn refund(
    State(state): State<AppState>,
    auth: BearerAuth,
    CurrentRequestId(request_id): CurrentRequestId,
    Path(id): Path<String>,
    body: Option<JsonBody<RefundBody>>,
) -> Result<Json<OrderView>, AppError> {
    let owner = require_owner(auth.0)?;
    let reason = body.and_then(|JsonBody(b)| b.reason);
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
