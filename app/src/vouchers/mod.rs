//! Voucher codes: one per paid unit, shown in the customer's wallet (my page), redeemed
//! once by the owner at the shop.

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod reminders;
#[cfg(feature = "ssr")]
pub mod repo;
#[cfg(feature = "ssr")]
pub mod service;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What the owner sees after a successful redemption.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Redeemed {
    pub code: String,
    pub coupon_name: String,
    pub order_id: uuid::Uuid,
    pub redeemed_at: chrono::DateTime<chrono::Utc>,
    pub coupon_id: uuid::Uuid,
    /// The buyer's name, for the counter to check it is theirs.
    pub customer_name: String,
}

/// Normalises a typed code: upper case, no spaces; dashes optional.
pub fn normalise_code(input: &str) -> String {
    let raw: String = input
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    raw.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

#[server(prefix = "/sfn", endpoint = "owner/vouchers/redeem")]
pub async fn redeem_voucher(code: String) -> Result<Redeemed, AppError> {
    use crate::auth::guards::require_owner;
    use crate::auth::sessions::session_user;
    let owner = require_owner(session_user().await?)?;
    let state = crate::state::app_state()?;
    let request_id = crate::request_id::current().await;
    let redeemed = service::redeem(&state.pool, owner, &code, request_id.as_deref()).await?;
    crate::flash::set(
        &state,
        &crate::flash::Flash::Redeemed {
            code: redeemed.code.clone(),
            coupon: redeemed.coupon_name.clone(),
            customer: Some(redeemed.customer_name.clone()),
        },
    );
    Ok(redeemed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn typed_codes_are_normalised() {
        assert_eq!(
            super::normalise_code(" abcd-efgh 2345jkLM "),
            "ABCD-EFGH-2345-JKLM"
        );
        assert_eq!(
            super::normalise_code("ABCDEFGH23456789"),
            "ABCD-EFGH-2345-6789"
        );
    }
}
