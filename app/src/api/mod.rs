//! The JSON API under `/api/v1`: one router per feature, merged here, documented as it is
//! routed (`doc.rs`: the OpenAPI document, served at `GET /api/v1/openapi.json`).
//!
//! Every handler authenticates with `BearerAuth` + a guard where data is private, and
//! answers errors as `{"error": {"code", "message", "fields"?}}` (see `error.rs`). The
//! extractors the feature routers share are in `extract.rs`.

pub mod doc;
pub mod extract;

use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::AppError;
use crate::state::AppState;

/// The routes of the API, relative to `/api/v1`, each with its documentation: the one
/// list both the router and the document are made of.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(crate::auth::api::router())
        .merge(crate::coupons::api::router())
        .merge(crate::live::stock::router())
        .merge(crate::notifications::api::router())
        .merge(crate::orders::api::router())
        .merge(crate::mypage::api::router())
        .merge(crate::vouchers::api::router())
        .merge(crate::owner::api::router())
        .merge(crate::waitlist::api::router())
        .routes(routes!(openapi_json))
}

/// The router nested at `/api/v1` (the pictures' routes are mounted beside it:
/// `images::api::router`).
pub fn router() -> Router<AppState> {
    let (router, _) = routes().split_for_parts();
    router.fallback(|| async { AppError::NotFound })
}

/// The whole document: [`routes`] under `/api/v1` and the pictures' API routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    OpenApiRouter::with_openapi(doc::ApiDoc::openapi())
        .nest("/api/v1", routes())
        .merge(crate::images::api::api_routes())
        .into_openapi()
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    openapi()
        .to_json()
        .expect("the OpenAPI document serialises")
});

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of `/api/v1`", content_type = "application/json", body = serde_json::Value))
)]
async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}
