//! SQL for orders: the guarded stock decrement, the order rows, the payment work queue.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{OrderStatus, OrderView, PaymentStatus};
use crate::error::AppError;

pub(crate) fn order_status(s: &str) -> Result<OrderStatus, AppError> {
    OrderStatus::parse(s).ok_or_else(|| {
        tracing::error!(s, "unknown order status in the database");
        AppError::Internal
    })
}

pub(crate) fn payment_status(s: &str) -> Result<PaymentStatus, AppError> {
    PaymentStatus::parse(s).ok_or_else(|| {
        tracing::error!(s, "unknown payment status in the database");
        AppError::Internal
    })
}

/// What the purchase needs to know about the coupon it just took stock from.
pub struct TakenStock {
    pub price: i64,
    pub name: String,
    pub shop_id: Uuid,
    pub shop_name: String,
    pub per_customer_limit: Option<i32>,
}

/// Takes `quantity` units if the coupon is on sale now and has them. `None` when it does
/// not (the caller finds out why). The row stays locked until the transaction ends, which
/// also serialises the per-customer limit check that follows.
pub async fn take_stock(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    quantity: i32,
) -> Result<Option<TakenStock>, AppError> {
    Ok(sqlx::query_as!(
        TakenStock,
        r#"update coupons c set stock = c.stock - $2
           from shops s
           where c.id = $1 and s.id = c.shop_id and c.stock >= $2 and c.on_sale
             and (c.sale_starts_at is null or c.sale_starts_at <= now())
             and (c.sale_ends_at is null or c.sale_ends_at > now())
           returning c.price, c.name, c.shop_id, s.name as shop_name, c.per_customer_limit"#,
        coupon_id,
        quantity
    )
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn return_stock(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    quantity: i32,
) -> Result<(), AppError> {
    sqlx::query!(
        "update coupons set stock = stock + $2 where id = $1",
        coupon_id,
        quantity
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Units of `coupon_id` the customer holds in live (ordered or paid) orders.
pub async fn live_quantity(
    conn: &mut PgConnection,
    customer_id: Uuid,
    coupon_id: Uuid,
) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select coalesce(sum(quantity), 0)::bigint as "n!" from orders
           where customer_id = $1 and coupon_id = $2 and status in ('ordered', 'paid')"#,
        customer_id,
        coupon_id
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// An order row with everything the saga needs.
#[derive(Clone, Debug)]
pub struct OrderRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub coupon_id: Uuid,
    pub quantity: i32,
    pub unit_price: i64,
    pub amount: i64,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub payment_key: Option<String>,
    pub request_id: Option<String>,
    pub ordered_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub refunded_at: Option<DateTime<Utc>>,
    pub shop_id: Uuid,
    pub shop_owner_id: Uuid,
    pub valid_until: Option<DateTime<Utc>>,
}

impl OrderRow {
    pub fn view(&self) -> OrderView {
        OrderView {
            id: self.id,
            coupon_id: self.coupon_id,
            quantity: self.quantity,
            unit_price: self.unit_price,
            amount: self.amount,
            status: self.status,
            payment_status: self.payment_status,
            ordered_at: self.ordered_at,
            paid_at: self.paid_at,
            cancelled_at: self.cancelled_at,
            refunded_at: self.refunded_at,
        }
    }
}

macro_rules! order_row {
    ($r:expr) => {{
        let r = $r;
        OrderRow {
            id: r.id,
            customer_id: r.customer_id,
            coupon_id: r.coupon_id,
            quantity: r.quantity,
            unit_price: r.unit_price,
            amount: r.amount,
            status: order_status(&r.status)?,
            payment_status: payment_status(&r.payment_status)?,
            payment_key: r.payment_key,
            request_id: r.request_id,
            ordered_at: r.ordered_at,
            paid_at: r.paid_at,
            cancelled_at: r.cancelled_at,
            refunded_at: r.refunded_at,
            shop_id: r.shop_id,
            shop_owner_id: r.shop_owner_id,
            valid_until: r.valid_until,
        }
    }};
}

/// The order, row-locked for the rest of the transaction when `lock` is set.
pub async fn get(
    conn: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<Option<OrderRow>, AppError> {
    // Two literal queries: `query!` needs the text at compile time.
    if lock {
        let r = sqlx::query!(
            r#"select o.id, o.customer_id, o.coupon_id, o.quantity, o.unit_price, o.amount, o.status, o.payment_status,
                      o.payment_key, o.request_id, o.ordered_at as "ordered_at: DateTime<Utc>",
                      o.paid_at as "paid_at: DateTime<Utc>", o.cancelled_at as "cancelled_at: DateTime<Utc>",
                      o.refunded_at as "refunded_at: DateTime<Utc>", c.shop_id, s.owner_id as shop_owner_id,
                      c.valid_until as "valid_until: DateTime<Utc>"
               from orders o join coupons c on c.id = o.coupon_id join shops s on s.id = c.shop_id
               where o.id = $1 for update of o"#,
            id
        )
        .fetch_optional(&mut *conn)
        .await?;
        r.map(|r| Ok(order_row!(r))).transpose()
    } else {
        let r = sqlx::query!(
            r#"select o.id, o.customer_id, o.coupon_id, o.quantity, o.unit_price, o.amount, o.status, o.payment_status,
                      o.payment_key, o.request_id, o.ordered_at as "ordered_at: DateTime<Utc>",
                      o.paid_at as "paid_at: DateTime<Utc>", o.cancelled_at as "cancelled_at: DateTime<Utc>",
                      o.refunded_at as "refunded_at: DateTime<Utc>", c.shop_id, s.owner_id as shop_owner_id,
                      c.valid_until as "valid_until: DateTime<Utc>"
               from orders o join coupons c on c.id = o.coupon_id join shops s on s.id = c.shop_id
               where o.id = $1"#,
            id
        )
        .fetch_optional(&mut *conn)
        .await?;
        r.map(|r| Ok(order_row!(r))).transpose()
    }
}

pub async fn find_by_idempotency_key(
    conn: &mut PgConnection,
    customer_id: Uuid,
    key: &str,
) -> Result<Option<OrderRow>, AppError> {
    let id = sqlx::query_scalar!(
        "select id from orders where customer_id = $1 and idempotency_key = $2",
        customer_id,
        key
    )
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => get(conn, id, false).await,
        None => Ok(None),
    }
}

pub struct NewOrder<'a> {
    pub customer_id: Uuid,
    pub coupon_id: Uuid,
    pub quantity: i32,
    pub unit_price: i64,
    pub idempotency_key: Option<&'a str>,
    pub request_id: Option<&'a str>,
}

/// Inserts the order; `Ok(None)` when another request with the same idempotency key won.
pub async fn insert(conn: &mut PgConnection, o: &NewOrder<'_>) -> Result<Option<Uuid>, AppError> {
    let res = sqlx::query_scalar!(
        r#"insert into orders (customer_id, coupon_id, quantity, unit_price, amount, idempotency_key, request_id)
           values ($1, $2, $3, $4, $4::bigint * $3::int, $5, $6) returning id"#,
        o.customer_id,
        o.coupon_id,
        o.quantity,
        o.unit_price,
        o.idempotency_key,
        o.request_id,
    )
    .fetch_one(&mut *conn)
    .await;
    match res {
        Ok(id) => Ok(Some(id)),
        Err(sqlx::Error::Database(db))
            if db.constraint() == Some("orders_customer_idempotency_key") =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn mark_cancelled(
    conn: &mut PgConnection,
    id: Uuid,
    payment_status: PaymentStatus,
    by: &str,
    reason: Option<&str>,
) -> Result<(), AppError> {
    sqlx::query!(
        r#"update orders set status = 'cancelled', cancelled_at = now(), payment_status = $2, cancelled_by = $3, cancel_reason = $4
           where id = $1"#,
        id,
        payment_status.as_str(),
        by,
        reason
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn set_statuses(
    conn: &mut PgConnection,
    id: Uuid,
    status: OrderStatus,
    payment: PaymentStatus,
) -> Result<(), AppError> {
    sqlx::query!(
        "update orders set status = $2, payment_status = $3 where id = $1",
        id,
        status.as_str(),
        payment.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a completed charge: its key and time; the statuses are set by the caller.
pub async fn record_charge(
    conn: &mut PgConnection,
    id: Uuid,
    payment_key: &str,
) -> Result<(), AppError> {
    sqlx::query!(
        "update orders set payment_key = $2, paid_at = now() where id = $1",
        id,
        payment_key
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn record_refund(conn: &mut PgConnection, id: Uuid) -> Result<(), AppError> {
    sqlx::query!(
        "update orders set payment_status = 'refunded', refunded_at = now() where id = $1",
        id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queues payment work for the order (a no-op if some is queued already).
pub async fn enqueue_payment(conn: &mut PgConnection, order_id: Uuid) -> Result<(), AppError> {
    sqlx::query!(
        "insert into payment_jobs (order_id) values ($1) on conflict (order_id) do nothing",
        order_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn redeemed_vouchers(conn: &mut PgConnection, order_id: Uuid) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "n!" from vouchers where order_id = $1 and redeemed_at is not null"#,
        order_id
    )
    .fetch_one(&mut *conn)
    .await?)
}
