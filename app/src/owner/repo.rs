//! Dashboard reads: aggregates of the `mypage` read model for one shop, plus the shop's
//! coupons (by index) for their current stock. Units cancelled out of a paid order are not
//! sold, and money refunded for them is not revenue.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::auth::guards::Principal;
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
