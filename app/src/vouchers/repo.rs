//! SQL for vouchers: issuing codes when a payment completes, redeeming them at the shop
//! (`service::redeem` holds the redemption's transaction).

use chrono::{DateTime, Utc};
use rand::Rng;
use sqlx::PgConnection;
use uuid::Uuid;

use super::normalise_code;
use crate::domain::OrderStatus;
use crate::error::AppError;
use crate::orders::repo::order_status;

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

/// The order `code` belongs to.
pub async fn order_of(conn: &mut PgConnection, code: &str) -> Result<Option<Uuid>, AppError> {
    Ok(
        sqlx::query_scalar!("select order_id from vouchers where code = $1", code)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// What deciding a redemption reads.
pub struct ForRedemption {
    pub status: OrderStatus,
    pub coupon_id: Uuid,
    pub coupon_name: String,
    pub customer_name: String,
    /// The voucher's unit was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    pub owner_id: Uuid,
    pub redeemed_at: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
}

/// The order and its voucher `code`, both locked for the rest of the transaction (the
/// order first, as a cancel locks it: a cancel and a redemption of one order are
/// serialised).
pub async fn lock_for_redemption(
    conn: &mut PgConnection,
    order_id: Uuid,
    code: &str,
) -> Result<ForRedemption, AppError> {
    let row = sqlx::query!(
        r#"select o.status, c.id as coupon_id, c.name as coupon_name, u.name as customer_name, s.owner_id,
                  v.redeemed_at as "redeemed_at: DateTime<Utc>", v.cancelled_at as "cancelled_at: DateTime<Utc>",
                  v.valid_until as "valid_until: DateTime<Utc>"
           from orders o join coupons c on c.id = o.coupon_id join shops s on s.id = c.shop_id
                join users u on u.id = o.customer_id
                join vouchers v on v.order_id = o.id and v.code = $2
           where o.id = $1
           for update of o, v"#,
        order_id,
        code
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(ForRedemption {
        status: order_status(&row.status)?,
        coupon_id: row.coupon_id,
        coupon_name: row.coupon_name,
        customer_name: row.customer_name,
        cancelled_at: row.cancelled_at,
        owner_id: row.owner_id,
        redeemed_at: row.redeemed_at,
        valid_until: row.valid_until,
    })
}

/// Marks `code` redeemed now; returns that time.
pub async fn mark_redeemed(conn: &mut PgConnection, code: &str) -> Result<DateTime<Utc>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"update vouchers set redeemed_at = now() where code = $1 and redeemed_at is null and cancelled_at is null
           returning redeemed_at as "redeemed_at!: DateTime<Utc>""#,
        code
    )
    .fetch_one(&mut *conn)
    .await?)
}
