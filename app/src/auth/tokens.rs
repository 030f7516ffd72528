//! Bearer tokens for the JSON API: HS256 JWTs issued at `/api/v1/auth/token`, checked by
//! the `BearerAuth` extractor. A token carries the password version it was issued under
//! (`pwv`): after a password change it is refused (`auth::versions`).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use chrono::{Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::guards::Principal;
use super::versions::PasswordVersions;
use crate::domain::Role;
use crate::error::AppError;
use crate::request_span::record_user;

pub const JWT_ISSUER: &str = "coupan";
pub const JWT_AUDIENCE: &str = "coupan-api";
/// Token lifetime: one hour.
pub const JWT_TTL_SECS: i64 = 3600;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    role: Role,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
    /// The user's password version at issue (absent in tokens issued before versions
    /// existed: 0, every user's first version).
    #[serde(default)]
    pwv: i32,
}

/// HS256 keys from the configured secret. The algorithm is pinned: a token that names
/// another one (`none`, RS256, ...) is refused.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> JwtKeys {
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_issuer(&[JWT_ISSUER]);
        validation.set_audience(&[JWT_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A token for `p` under password version `password_version`, and its lifetime in
    /// seconds.
    pub fn issue(&self, p: Principal, password_version: i32) -> Result<(String, i64), AppError> {
        let now = Utc::now();
        let claims = Claims {
            sub: p.user_id,
            role: p.role,
            iss: JWT_ISSUER.into(),
            aud: JWT_AUDIENCE.into(),
            iat: now.timestamp(),
            exp: (now + Duration::seconds(JWT_TTL_SECS)).timestamp(),
            pwv: password_version,
        };
        let token = encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &self.encoding,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "could not sign a token");
            AppError::Internal
        })?;
        Ok((token, JWT_TTL_SECS))
    }

    /// The token's caller and the password version it was issued under.
    pub fn verify(&self, token: &str) -> Result<(Principal, i32), AppError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AppError::InvalidToken)?;
        let principal = Principal {
            user_id: data.claims.sub,
            role: data.claims.role,
        };
        Ok((principal, data.claims.pwv))
    }
}

/// The caller of an API request: `None` without an `Authorization` header; a present but
/// bad token (or one from before a password change) is refused (401 `invalid_token`)
/// rather than treated as anonymous.
pub struct BearerAuth(pub Option<Principal>);

impl<S> FromRequestParts<S> for BearerAuth
where
    Arc<JwtKeys>: FromRef<S>,
    Arc<PasswordVersions>: FromRef<S>,
    sqlx::PgPool: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(BearerAuth(None));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(AppError::InvalidToken)?;
        let keys = Arc::<JwtKeys>::from_ref(state);
        let (principal, version) = keys.verify(token.trim())?;
        let versions = Arc::<PasswordVersions>::from_ref(state);
        let pool = sqlx::PgPool::from_ref(state);
        if !versions
            .is_current(&pool, principal.user_id, version)
            .await?
        {
            return Err(AppError::InvalidToken);
        }
        record_user(Some(&parts.extensions), principal.user_id);
        Ok(BearerAuth(Some(principal)))
    }
}
