//! The owner's dashboard: per-coupon figures, recent orders, sales over time, and the
//! voucher redemption form. Figures come from the `mypage` read model.

pub mod pages;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod repo;

use leptos::prelude::*;

use crate::domain::order::Dashboard;
use crate::error::AppError;

#[server(prefix = "/sfn", endpoint = "owner/dashboard")]
pub async fn owner_dashboard() -> Result<Dashboard, AppError> {
    use crate::auth::guards::require_owner;
    use crate::auth::sessions::session_user;
    let owner = require_owner(session_user().await?)?;
    let state = crate::state::app_state()?;
    repo::dashboard(&state.pool, owner).await
}
