//! `/api/v1/auth/*` and `/api/v1/me`: accounts over JSON with bearer tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::accounts::{authenticate, register};
use super::guards::require_user;
use super::repo;
use super::tokens::{BearerAuth, JwtKeys};
use crate::api::doc;
use crate::api::extract::JsonBody;
use crate::domain::{SignupInput, UserView};
use crate::error::AppError;
use crate::limits::AuthRateLimit;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(token))
        .routes(routes!(me))
}

#[derive(Serialize, ToSchema)]
struct SignupResponse {
    user_id: Uuid,
}

/// Creates an account: a customer, or a shop owner with a shop (`shop_name`).
#[utoipa::path(
    post,
    path = "/auth/signup",
    tag = "auth",
    request_body = SignupInput,
    responses(
        (status = 201, description = "The account was created", body = SignupResponse),
        doc::BadRequest,
        doc::Conflict,
        doc::Invalid,
        doc::RateLimited,
        doc::Unavailable,
    )
)]
async fn signup(
    _: AuthRateLimit,
    State(pool): State<PgPool>,
    JsonBody(input): JsonBody<SignupInput>,
) -> Result<(StatusCode, Json<SignupResponse>), AppError> {
    let valid = input.validate().map_err(AppError::Validation)?;
    let p = register(&pool, valid).await?;
    Ok((
        StatusCode::CREATED,
        Json(SignupResponse { user_id: p.user_id }),
    ))
}

#[derive(Deserialize, ToSchema)]
struct TokenRequest {
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
struct TokenResponse {
    /// A JWT for `Authorization: Bearer ...`.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until it expires.
    expires_in: i64,
}

/// Logs in: a bearer token for the API.
#[utoipa::path(
    post,
    path = "/auth/token",
    tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "A token", body = TokenResponse),
        doc::BadRequest,
        doc::Unauthorized,
        doc::RateLimited,
        doc::Unavailable,
    )
)]
async fn token(
    AuthRateLimit(client): AuthRateLimit,
    State(pool): State<PgPool>,
    State(keys): State<Arc<JwtKeys>>,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<Json<TokenResponse>, AppError> {
    let p = authenticate(&pool, &req.email, &req.password, client).await?;
    let (access_token, expires_in) = keys.issue(p)?;
    Ok(Json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
    }))
}

/// The signed-in user.
#[utoipa::path(
    get,
    path = "/me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's user", body = UserView),
        doc::Unauthorized,
        doc::Unavailable,
    )
)]
async fn me(State(pool): State<PgPool>, auth: BearerAuth) -> Result<Json<UserView>, AppError> {
    let p = require_user(auth.0)?;
    let mut conn = pool.acquire().await?;
    // A valid token for a user that no longer exists is no longer valid.
    repo::find_user(&mut conn, p.user_id)
        .await?
        .map(Json)
        .ok_or(AppError::InvalidToken)
}
