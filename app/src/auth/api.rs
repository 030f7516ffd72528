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
        .routes(routes!(change_password))
}

#[derive(Serialize, ToSchema)]
struct SignupResponse {
    user_id: Uuid,
}

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
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

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
    let (p, version) = authenticate(&pool, &req.email, &req.password, client).await?;
    let (access_token, expires_in) = keys.issue(p, version)?;
    Ok(Json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
    }))
}

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

#[derive(Deserialize, ToSchema)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /api/v1/me/password` -> 204. A wrong current password is 401
/// `invalid_credentials`, a new one that breaks the sign-up rules 422. Every session and
/// token of the old password ends, this token too: the client asks for a new one.
#[utoipa::path(
    post,
    path = "/me/password",
    tag = "auth",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed: every session and token of the old password ended"),
        doc::BadRequest,
        doc::Unauthorized,
        doc::Invalid,
        doc::RateLimited,
        doc::Unavailable,
    )
)]
async fn change_password(
    _: AuthRateLimit,
    State(state): State<AppState>,
    auth: BearerAuth,
    JsonBody(body): JsonBody<PasswordChange>,
) -> Result<StatusCode, AppError> {
    let user = require_user(auth.0)?;
    super::accounts::change_password(
        &state.pool,
        &state.versions,
        user,
        &body.current_password,
        &body.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
