//! Dashboard reads: aggregates of the `mypage` read model for one shop, plus the shop's
//! coupons (by index) for their current stock. Units cancelled out of a paid order are not
//! sold, and money refunded for them is not revenue.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::auth::guards::Principal;
use crate::domain::history::{OrderCursor, OrderFilter, OwnerOrder};
use crate::domain::order::{CouponStats, Dashboard, RecentOrder, SalesPoint};
use crate::error::AppError;
use crate::orders::repo::{order_status, payment_status};

pub async fn dashboard(pool: &PgPool, owner: Principal) -> Result<Dashboard, AppError> {
    let mut conn = pool.acquire().await?;
    let shop = sqlx::query!(
        "select id, name from shops where owner_id = $1",
        owner.user_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let coupons = sqlx::query_as!(
        CouponStats,
        r#"select c.id as coupon_id, c.name, c.stock as stock_left,
                  coalesce(m.sold, 0) as "sold!", coalesce(m.revenue, 0) as "revenue!",
                  coalesce(m.cancelled, 0) as "cancelled!", coalesce(m.refunded, 0) as "refunded!",
                  coalesce(m.redeemed, 0) as "redeemed!"
           from coupons c
           left join (
               select coupon_id,
                      sum(quantity - cancelled_quantity) filter (where status in ('ordered', 'paid'))::bigint as sold,
                      sum(amount - refunded_amount) filter (where status = 'paid')::bigint as revenue,
                      count(*) filter (where status = 'cancelled') as cancelled,
                      count(*) filter (where payment_status = 'refunded') as refunded,
                      sum(vouchers_redeemed)::bigint as redeemed
               from mypage where shop_id = $1 group by coupon_id
           ) m on m.coupon_id = c.id
           where c.shop_id = $1
           order by c.created_at desc"#,
        shop.id
    )
    .fetch_all(&mut *conn)
    .await?;
    let recent = sqlx::query!(
        r#"select order_id, coupon_name, quantity, amount, status, payment_status, ordered_at as "ordered_at: DateTime<Utc>"
           from mypage where shop_id = $1 order by ordered_at desc limit 20"#,
        shop.id
    )
    .fetch_all(&mut *conn)
    .await?;
    let recent_orders = recent
        .into_iter()
        .map(|r| {
            Ok(RecentOrder {
                order_id: r.order_id,
                coupon_name: r.coupon_name,
                quantity: r.quantity,
                amount: r.amount,
                status: order_status(&r.status)?,
                payment_status: payment_status(&r.payment_status)?,
                ordered_at: r.ordered_at,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    // Days in Korean time, the last 14 of them.
    let sales = sqlx::query_as!(
        SalesPoint,
        r#"select (date_trunc('day', ordered_at at time zone 'Asia/Seoul') at time zone 'Asia/Seoul') as "day!: DateTime<Utc>",
                  coalesce(sum(quantity - cancelled_quantity) filter (where status in ('ordered', 'paid')), 0)::bigint as "units!",
                  coalesce(sum(amount - refunded_amount) filter (where status = 'paid'), 0)::bigint as "revenue!"
           from mypage
           where shop_id = $1 and ordered_at > now() - interval '14 days'
           group by 1 order by 1"#,
        shop.id
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Dashboard {
        shop_name: shop.name,
        coupons,
        recent_orders,
        sales,
    })
}

/// The shop of `owner_id`, if they have one.
pub async fn shop_of(
    conn: &mut sqlx::PgConnection,
    owner_id: uuid::Uuid,
) -> Result<Option<uuid::Uuid>, AppError> {
    Ok(
        sqlx::query_scalar!("select id from shops where owner_id = $1", owner_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// A page of the shop's orders matching `filter`, newest first (`ordered_at desc,
/// order_id`, the order of `mypage_shop_order_idx`), older than `before` when given, at
/// most `limit`.
pub async fn orders(
    conn: &mut sqlx::PgConnection,
    shop_id: uuid::Uuid,
    filter: &OrderFilter,
    before: Option<OrderCursor>,
    limit: i64,
) -> Result<Vec<OwnerOrder>, AppError> {
    let rows = sqlx::query!(
        r#"select order_id, coupon_id, coupon_name, quantity, unit_price, amount, status, payment_status,
                  ordered_at as "ordered_at: DateTime<Utc>", paid_at as "paid_at: DateTime<Utc>",
                  cancelled_at as "cancelled_at: DateTime<Utc>", refunded_at as "refunded_at: DateTime<Utc>",
                  vouchers_redeemed
           from mypage
           where shop_id = $1
             and ($2::text is null or status = $2)
             and ($3::timestamptz is null or ordered_at >= $3)
             and ($4::timestamptz is null or ordered_at < $4)
             and ($5::timestamptz is null
                  or ordered_at < $5 or (ordered_at = $5 and order_id > $6))
           order by ordered_at desc, order_id
           limit $7"#,
        shop_id,
        filter.status.map(|s| s.as_str()),
        filter.from as _,
        filter.until as _,
        before.map(|c| c.ordered_at) as _,
        before.map(|c| c.order_id),
        limit,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(OwnerOrder {
                order_id: r.order_id,
                coupon_id: r.coupon_id,
                coupon_name: r.coupon_name,
                quantity: r.quantity,
                unit_price: r.unit_price,
                amount: r.amount,
                status: order_status(&r.status)?,
                payment_status: payment_status(&r.payment_status)?,
                ordered_at: r.ordered_at,
                paid_at: r.paid_at,
                cancelled_at: r.cancelled_at,
                refunded_at: r.refunded_at,
                vouchers_redeemed: r.vouchers_redeemed,
            })
        })
        .collect()
}
