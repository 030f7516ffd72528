//! The restock waitlist: customers line up for a sold-out coupon and take a queue number;
//! units that come back are held for the people in line, in order, one each, for
//! `WaitlistSettings::hold`; only the holder can buy a held unit (quantity 1, the usual
//! purchase) until then, after which it passes to the next in line, or back on public
//! sale when nobody is left.
//!
//! The database decides (`migrations/*_waitlist.sql`): every change to a coupon's line or
//! its holds locks the coupon's row first, as the purchase batches do, so joins, leaves,
//! holds, their expiry and purchases of one coupon happen one after the other, on every
//! replica. Where units come back: `service::give_back` (cancel, declined payment,
//! expired order, a hold given up), `service::serve` (the owner raised the stock),
//! `service::lapse_due` (holds that ran out, from the worker's sweep). Each hold granted
//! appends a `RestockHeld` event (the `restock_hold` notification).

pub mod pages;
pub mod settings;

pub use settings::WaitlistSettings;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod repo;
#[cfg(feature = "ssr")]
pub mod service;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

/// A customer's place in one coupon's line (an item of `GET /api/v1/waitlist`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WaitlistEntry {
    pub coupon_id: Uuid,
    pub coupon_name: String,
    /// 1-based; the people ahead are those who joined earlier and are still in line
    /// (holding a unit or waiting).
    pub position: i64,
    /// Set while a unit is held for this customer: theirs to buy until then.
    pub hold_until: Option<DateTime<Utc>>,
}

impl WaitlistEntry {
    /// A unit is held for the customer at `now`.
    pub fn holds_at(&self, now: DateTime<Utc>) -> bool {
        self.hold_until.is_some_and(|h| h > now)
    }
}

/// The signed-in customer's place in the coupon's line; `None` when not in it (or not a
/// signed-in customer: the coupon page asks for everyone).
#[server(prefix = "/sfn", endpoint = "waitlist/entry")]
pub async fn my_waitlist_entry(coupon_id: Uuid) -> Result<Option<WaitlistEntry>, AppError> {
    use crate::auth::sessions::session_user;
    use crate::domain::Role;
    let Some(user) = session_user().await?.filter(|u| u.role == Role::Customer) else {
        return Ok(None);
    };
    let state = crate::state::app_state()?;
    service::entry(&state.pool, user, coupon_id).await
}

/// Joins the sold-out coupon's line (again: the same place).
#[server(prefix = "/sfn", endpoint = "waitlist/join")]
pub async fn join_waitlist(coupon_id: Uuid) -> Result<WaitlistEntry, AppError> {
    use crate::auth::guards::require_customer;
    use crate::auth::sessions::session_user;
    let customer = require_customer(session_user().await?)?;
    let state = crate::state::app_state()?;
    let request_id = crate::request_id::current().await;
    let (entry, _) = service::join(
        &state.pool,
        state.waitlist,
        customer,
        coupon_id,
        request_id.as_deref(),
    )
    .await?;
    Ok(entry)
}

/// Leaves the coupon's line; a unit held for the customer passes to the next.
#[server(prefix = "/sfn", endpoint = "waitlist/leave")]
pub async fn leave_waitlist(coupon_id: Uuid) -> Result<(), AppError> {
    use crate::auth::guards::require_customer;
    use crate::auth::sessions::session_user;
    let customer = require_customer(session_user().await?)?;
    let state = crate::state::app_state()?;
    let request_id = crate::request_id::current().await;
    service::leave(
        &state.pool,
        state.waitlist,
        customer,
        coupon_id,
        request_id.as_deref(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_counts_until_its_time() {
        let now = Utc::now();
        let mut e = WaitlistEntry {
            coupon_id: Uuid::nil(),
            coupon_name: "C".into(),
            position: 1,
            hold_until: None,
        };
        assert!(!e.holds_at(now));
        e.hold_until = Some(now + chrono::Duration::seconds(5));
        assert!(e.holds_at(now));
        assert!(!e.holds_at(now + chrono::Duration::seconds(5)));
    }
}
