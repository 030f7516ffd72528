//! Redeeming a voucher at the shop: the transaction, its decision and its event. Callers
//! ran the guard already and pass its `Principal`.

use chrono::Utc;
use sqlx::PgPool;

use super::{Redeemed, normalise_code, repo};
use crate::auth::guards::Principal;
use crate::domain::OrderStatus;
use crate::error::{AppError, Conflict};
use crate::events::{self, Event, VoucherRedeemed};

/// Redeems `code` at `owner`'s shop: valid once, only for a paid, unexpired order of this
/// shop. Each refusal has its own code; a refused redemption changes nothing.
pub async fn redeem(
    pool: &PgPool,
    owner: Principal,
    code: &str,
    request_id: Option<&str>,
) -> Result<Redeemed, AppError> {
    let code = normalise_code(code);
    let mut tx = pool.begin().await?;
    let order_id = repo::order_of(&mut tx, &code)
        .await?
        .ok_or(AppError::NotFound)?;
    let v = repo::lock_for_redemption(&mut tx, order_id, &code).await?;
    let refusal = if v.owner_id != owner.user_id {
        Some(Conflict::VoucherOtherShop)
    } else if v.status == OrderStatus::Cancelled || v.cancelled_at.is_some() {
        Some(Conflict::VoucherCancelled)
    } else if v.status != OrderStatus::Paid {
        Some(Conflict::VoucherUnpaid)
    } else if v.redeemed_at.is_some() {
        Some(Conflict::VoucherAlreadyRedeemed)
    } else if v.valid_until.is_some_and(|until| until < Utc::now()) {
        Some(Conflict::VoucherExpired)
    } else {
        None
    };
    if let Some(r) = refusal {
        return Err(AppError::Conflict(r));
    }
    let redeemed_at = repo::mark_redeemed(&mut tx, &code).await?;
    let redeemed = Event::VoucherRedeemed(VoucherRedeemed { code: code.clone() });
    events::append(&mut tx, order_id, &redeemed, request_id).await?;
    tx.commit().await?;
    tracing::info!(order = %order_id, "voucher redeemed");
    Ok(Redeemed {
        code,
        coupon_name: v.coupon_name,
        order_id,
        redeemed_at,
        coupon_id: v.coupon_id,
        customer_name: v.customer_name,
    })
}
