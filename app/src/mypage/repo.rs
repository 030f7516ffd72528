//! Reads of the `mypage` read model (kept by triggers from the event log; never written here).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::OrderStatus;
use crate::domain::history::OrderCursor;
use crate::domain::{CancelledBy, MyPageRow, VoucherStatus, VoucherView};
use crate::error::AppError;
use crate::mypage::MyVoucher;
use crate::orders::repo::{order_status, payment_status};

/// The customer's orders, newest first (`ordered_at desc, order_id`), older than `before`
/// when given (a page of history: `domain::history`), at most `limit` of them.
pub async fn for_customer(
    conn: &mut PgConnection,
    customer_id: Uuid,
    before: Option<OrderCursor>,
    limit: i64,
) -> Result<Vec<MyPageRow>, AppError> {
    let (before_at, before_id) = (before.map(|c| c.ordered_at), before.map(|c| c.order_id));
    let rows = sqlx::query!(
        r#"select order_id, coupon_id, coupon_name, shop_name, quantity, unit_price, amount, status, payment_status,
                  ordered_at as "ordered_at: DateTime<Utc>", cancelled_at as "cancelled_at: DateTime<Utc>",
                  paid_at as "paid_at: DateTime<Utc>", refunded_at as "refunded_at: DateTime<Utc>", cancelled_by, cancel_reason,
                  vouchers_issued, vouchers_redeemed, vouchers as "vouchers: Json<Vec<VoucherView>>",
                  cancelled_quantity, refunded_amount
           from mypage where customer_id = $1
             and ($3::timestamptz is null
                  or ordered_at < $3 or (ordered_at = $3 and order_id > $4))
           order by ordered_at desc, order_id
           limit $2"#,
        customer_id,
        limit,
        before_at as _,
        before_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(MyPageRow {
                order_id: r.order_id,
                coupon_id: r.coupon_id,
                coupon_name: r.coupon_name,
                shop_name: r.shop_name,
                quantity: r.quantity,
                unit_price: r.unit_price,
                amount: r.amount,
                status: order_status(&r.status)?,
                payment_status: payment_status(&r.payment_status)?,
                ordered_at: r.ordered_at,
                cancelled_at: r.cancelled_at,
                paid_at: r.paid_at,
                refunded_at: r.refunded_at,
                cancelled_by: r.cancelled_by.as_deref().and_then(CancelledBy::parse),
                cancel_reason: r.cancel_reason,
                vouchers_issued: r.vouchers_issued,
                vouchers_redeemed: r.vouchers_redeemed,
                // Stored in `VoucherView`'s shape by the trigger.
                vouchers: r.vouchers.0,
                cancelled_quantity: r.cancelled_quantity,
                refunded_amount: r.refunded_amount,
            })
        })
        .collect()
}

/// One of the customer's vouchers (its full-screen page and its QR code): `None` when the
/// code is not one of theirs.
pub async fn voucher_of(
    conn: &mut PgConnection,
    customer_id: Uuid,
    code: &str,
) -> Result<Option<MyVoucher>, AppError> {
    let row = sqlx::query!(
        r#"select v.code, c.name as coupon_name, s.name as shop_name,
                  v.valid_until as "valid_until: DateTime<Utc>", v.redeemed_at as "redeemed_at: DateTime<Utc>",
                  v.cancelled_at as "cancelled_at: DateTime<Utc>", o.status
           from vouchers v join orders o on o.id = v.order_id join coupons c on c.id = o.coupon_id
                join shops s on s.id = v.shop_id
           where v.code = $1 and o.customer_id = $2"#,
        code,
        customer_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        // A voucher of a cancelled order is void too.
        let cancelled =
            r.cancelled_at.is_some() || order_status(&r.status)? == OrderStatus::Cancelled;
        Ok(MyVoucher {
            code: r.code,
            coupon_name: r.coupon_name,
            shop_name: r.shop_name,
            valid_until: r.valid_until,
            status: VoucherStatus::of(r.redeemed_at, cancelled.then_some(Utc::now())),
        })
    })
    .transpose()
}
