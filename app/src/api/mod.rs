//! The JSON API under `/api/v1`: one router per feature, merged here.
//!
//! Every handler authenticates with `BearerAuth` + a guard where data is private, and
//! answers errors as `{"error": {"code", "message", "fields"?}}` (see `error.rs`). The
//! extractors the feature routers share are in `extract.rs`.

pub mod extract;

use axum::Router;

use crate::error::AppError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(crate::auth::api::router())
        .merge(crate::coupons::api::router())
        .merge(crate::live::stock::router())
        .merge(crate::notifications::api::router())
        .merge(crate::orders::api::router())
        .merge(crate::mypage::api::router())
        .merge(crate::vouchers::api::router())
        .merge(crate::owner::api::router())
        .merge(crate::waitlist::api::router())
        .fallback(|| async { AppError::NotFound })
}
