//! SQL for vouchers: issuing codes when a payment completes, redeeming them at the shop.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Redeemed, normalise_code};
use crate::auth::server::Principal;
use crate::error::{AppError, Conflict};
use crate::events;

/// 32 symbols without look-alikes (no 0/O, 1/I): 16 of them carry 80 random bits.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

pub fn new_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let raw: String = (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    normalise_code(&raw)
}

/// Issues codes for paid orders (inside the payment's transaction): for each (order, shop,
/// valid until, count), `count` new codes, returned in the same order.
pub async fn issue(
    conn: &mut PgConnection,
    orders: &[(Uuid, Uuid, Option<DateTime<Utc>>, i32)],
) -> Result<Vec<Vec<String>>, AppError> {
    let codes: Vec<Vec<String>> = orders
        .iter()
        .map(|o| (0..o.3).map(|_| new_code()).collect())
        .collect();
    let (mut all, mut order_ids, mut shop_ids, mut until) = (vec![], vec![], vec![], vec![]);
    for (o, c) in orders.iter().zip(&codes) {
        for code in c {
            all.push(code.clone());
            order_ids.push(o.0);
            shop_ids.push(o.1);
            until.push(o.2);
        }
    }
    sqlx::query!(
        "insert into vouchers (code, order_id, shop_id, valid_until)
         select * from unnest($1::text[], $2::uuid[], $3::uuid[], $4::timestamptz[])",
        &all,
        &order_ids,
        &shop_ids,
        &until as _
    )
    .execute(&mut *conn)
    .await?;
    Ok(codes)
}

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
    // Lock the order first (as cancel does), then the voucher: a cancel and a redemption
    // of the same order are serialised.
    let Some(order_id) = sqlx::query_scalar!("select order_id from vouchers where code = $1", code)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Err(AppError::NotFound);
    };
    let row = sqlx::query!(
        r#"select o.status, c.name as coupon_name, s.owner_id, v.redeemed_at as "redeemed_at: DateTime<Utc>",
                  v.valid_until as "valid_until: DateTime<Utc>"
           from orders o join coupons c on c.id = o.coupon_id join shops s on s.id = c.shop_id
                join vouchers v on v.order_id = o.id and v.code = $2
           where o.id = $1
           for update of o, v"#,
        order_id,
        code
    )
    .fetch_one(&mut *tx)
    .await?;
    let refusal = if row.owner_id != owner.user_id {
        Some(Conflict::VoucherOtherShop)
    } else if row.status == "cancelled" {
        Some(Conflict::VoucherCancelled)
    } else if row.status != "paid" {
        Some(Conflict::VoucherUnpaid)
    } else if row.redeemed_at.is_some() {
        Some(Conflict::VoucherAlreadyRedeemed)
    } else if row.valid_until.is_some_and(|v| v < Utc::now()) {
        Some(Conflict::VoucherExpired)
    } else {
        None
    };
    if let Some(r) = refusal {
        return Err(AppError::Conflict(r));
    }
    let redeemed_at = sqlx::query_scalar!(
        r#"update vouchers set redeemed_at = now() where code = $1 and redeemed_at is null
           returning redeemed_at as "redeemed_at!: DateTime<Utc>""#,
        code
    )
    .fetch_one(&mut *tx)
    .await?;
    events::append_order_event(
        &mut tx,
        order_id,
        events::VOUCHER_REDEEMED,
        json!({ "code": code }),
        request_id,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(order = %order_id, "voucher redeemed");
    Ok(Redeemed {
        code,
        coupon_name: row.coupon_name,
        order_id,
        redeemed_at,
    })
}
