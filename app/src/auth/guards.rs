//! Who is calling, and the guards every private read or write starts with.
//!
//! Two ways in, one set of guards: browser pages and server functions get the caller from
//! the session cookie (`sessions::session_user`), the JSON API from a bearer token
//! (`tokens::BearerAuth`). Either gives an `Option<Principal>`, and the handler or server
//! function begins with `require_user`, `require_owner` or `require_customer`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Role;
use crate::error::AppError;

/// Who is calling: enough to authorise, without a database read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
}

pub fn require_user(p: Option<Principal>) -> Result<Principal, AppError> {
    p.ok_or(AppError::Unauthorized)
}

pub fn require_owner(p: Option<Principal>) -> Result<Principal, AppError> {
    match require_user(p)? {
        p if p.role == Role::Owner => Ok(p),
        _ => Err(AppError::Forbidden),
    }
}

pub fn require_customer(p: Option<Principal>) -> Result<Principal, AppError> {
    match require_user(p)? {
        p if p.role == Role::Customer => Ok(p),
        _ => Err(AppError::Forbidden),
    }
}
