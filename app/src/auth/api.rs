//! `/api/v1/auth/*` and `/api/v1/me`: accounts over JSON with bearer tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

use super::accounts::{authenticate, register};
use super::guards::require_user;
use super::repo;
use super::tokens::{BearerAuth, JwtKeys};
use crate::api::extract::JsonBody;
use crate::domain::{SignupInput, UserView};
use crate::error::AppError;
use crate::limits::AuthRateLimit;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/signup", post(signup))
        .route("/auth/token", post(token))
        .route("/me", get(me))
        .route("/me/password", post(change_password))
}

#[derive(Serialize)]
struct SignupResponse {
    user_id: Uuid,
}

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

#[derive(Deserialize)]
struct TokenRequest {
    email: String,
    password: String,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

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

async fn me(State(pool): State<PgPool>, auth: BearerAuth) -> Result<Json<UserView>, AppError> {
    let p = require_user(auth.0)?;
    let mut conn = pool.acquire().await?;
    // A valid token for a user that no longer exists is no longer valid.
    repo::find_user(&mut conn, p.user_id)
        .await?
        .map(Json)
        .ok_or(AppError::InvalidToken)
}

#[derive(Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /api/v1/me/password` -> 204. A wrong current password is 401
/// `invalid_credentials`, a new one that breaks the sign-up rules 422. Every session and
/// token of the old password ends, this token too: the client asks for a new one.
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
