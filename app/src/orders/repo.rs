//! SQL for orders: the coupon row lock and stock, the order rows, the payment work queue.
//! Functions that move a status take the target `OrderState`, which the caller asked the
//! status machines for (`OrderState::to`); no status is written as a literal here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{CancelledBy, Coupon, OrderState, OrderStatus, OrderView, PaymentStatus};
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

/// Locks the coupon's row until the transaction ends: the purchases of one batch, and of
/// other processes' batches, are decided one after the other (and the changes to its
/// waitlist, which lock it too). Returns the units held for its waitlist (`coupons.held`),
/// `None` if there is no such coupon.
///
/// `for no key update`, not `for update`: it excludes the other batches and every stock
/// update, but not the `for key share` locks that foreign-key checks of other transactions
/// take on the row (a payment batch updating an order twice checks `orders.coupon_id`
/// again and holds such a lock until it commits; with `for update` every purchase batch
/// waited for the payment batches in flight).
pub async fn lock_coupon(
    conn: &mut PgConnection,
    coupon_id: Uuid,
) -> Result<Option<i32>, AppError> {
    Ok(sqlx::query_scalar!(
        "select held from coupons where id = $1 for no key update",
        coupon_id
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Units of `coupon_id` each of `customers` holds in live (ordered or paid) orders; a
/// customer holding none is absent.
pub async fn live_quantities(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, i64>, AppError> {
    let rows = sqlx::query!(
        r#"select customer_id, coalesce(sum(quantity), 0)::bigint as "n!" from orders
           where coupon_id = $1 and customer_id = any($2) and status in ('ordered', 'paid')
           group by customer_id"#,
        coupon_id,
        customers
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.customer_id, r.n)).collect())
}

/// The orders already made with these (customer, idempotency key) pairs.
pub async fn find_by_idempotency_keys(
    conn: &mut PgConnection,
    keys: &[(Uuid, String)],
) -> Result<HashMap<(Uuid, String), Uuid>, AppError> {
    let customers: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    let keys: Vec<String> = keys.iter().map(|k| k.1.clone()).collect();
    let rows = sqlx::query!(
        r#"select o.id, o.customer_id, o.idempotency_key as "idempotency_key!"
           from orders o join unnest($1::uuid[], $2::text[]) as k(customer_id, key)
             on o.customer_id = k.customer_id and o.idempotency_key = k.key"#,
        &customers,
        &keys
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.customer_id, r.idempotency_key), r.id))
        .collect())
}

/// An order the admission batch decided to make.
pub struct PlacedOrder {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub quantity: i32,
    pub idempotency_key: Option<String>,
    pub request_id: Option<String>,
}

/// Places the orders of a batch of `coupon` in one statement (one round trip while the
/// batch holds the coupon's row lock): inserts them in `state` (a new order's), takes their
/// units from the stock with one update (not those of `on_hold`: a unit held for its
/// buyer is outside the stock; the `stock >= 0` check of the table refuses anything the
/// caller got wrong; the update fires the live-stock NOTIFY and remembers a sell-out for
/// the `sold_out` notification, which the batch's `OrderPlaced` events then tell), and
/// queues their payment work (the table's trigger wakes the workers). An order whose
/// (customer, idempotency key) another transaction committed first is skipped, takes no
/// stock and gets no payment job; returns the inserted ids with their order time.
pub async fn place_batch(
    conn: &mut PgConnection,
    coupon: &Coupon,
    orders: &[PlacedOrder],
    on_hold: &[Uuid],
    state: OrderState,
) -> Result<HashMap<Uuid, DateTime<Utc>>, AppError> {
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    let customers: Vec<Uuid> = orders.iter().map(|o| o.customer_id).collect();
    let quantities: Vec<i32> = orders.iter().map(|o| o.quantity).collect();
    let keys: Vec<Option<String>> = orders.iter().map(|o| o.idempotency_key.clone()).collect();
    let request_ids: Vec<Option<String>> = orders.iter().map(|o| o.request_id.clone()).collect();
    let rows = sqlx::query!(
        r#"with placed as (
               insert into orders (id, customer_id, coupon_id, quantity, unit_price, amount, idempotency_key, request_id,
                                   status, payment_status)
               select t.id, t.customer_id, $3, t.quantity, $4, $4::bigint * t.quantity, t.key, t.request_id, $8, $9
               from unnest($1::uuid[], $2::uuid[], $5::int[], $6::text[], $7::text[])
                    as t(id, customer_id, quantity, key, request_id)
               on conflict on constraint orders_customer_idempotency_key do nothing
               returning id, quantity, ordered_at
           ), taken as (
               update coupons set stock = stock - t.units
               from (select coalesce(sum(quantity), 0)::int as units from placed where id <> all($10::uuid[])) t
               where coupons.id = $3 and t.units > 0
           ), queued as (
               insert into payment_jobs (order_id) select id from placed on conflict (order_id) do nothing
           )
           select id, ordered_at as "ordered_at: DateTime<Utc>" from placed"#,
        &ids,
        &customers,
        coupon.id,
        coupon.price,
        &quantities,
        &keys as _,
        &request_ids as _,
        state.status.as_str(),
        state.payment_status.as_str(),
        on_hold,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.ordered_at)).collect())
}

/// An order row with everything the saga needs.
#[derive(Clone, Debug)]
pub struct OrderRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub coupon_id: Uuid,
    pub quantity: i32,
    /// Units cancelled so far.
    pub cancelled_quantity: i32,
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
    pub fn state(&self) -> OrderState {
        OrderState::new(self.status, self.payment_status)
    }

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
            cancelled_quantity: r.cancelled_quantity,
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
    Ok(get_many(conn, &[id], lock).await?.into_iter().next())
}

/// The orders with these ids (in no particular order), row-locked for the rest of the
/// transaction when `lock` is set.
pub async fn get_many(
    conn: &mut PgConnection,
    ids: &[Uuid],
    lock: bool,
) -> Result<Vec<OrderRow>, AppError> {
    if lock {
        let rows = sqlx::query!(
            r#"select o.id, o.customer_id, o.coupon_id, o.quantity, o.cancelled_quantity, o.unit_price, o.amount, o.status, o.payment_status,
                      o.payment_key, o.request_id, o.ordered_at as "ordered_at: DateTime<Utc>",
                      o.paid_at as "paid_at: DateTime<Utc>", o.cancelled_at as "cancelled_at: DateTime<Utc>",
                      o.refunded_at as "refunded_at: DateTime<Utc>", c.shop_id, s.owner_id as shop_owner_id,
                      c.valid_until as "valid_until: DateTime<Utc>"
               from orders o join coupons c on c.id = o.coupon_id join shops s on s.id = c.shop_id
               where o.id = any($1) order by o.id for update of o"#,
            ids
        )
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter().map(|r| Ok(order_row!(r))).collect()
    } else {
        let rows = sqlx::query!(
            r#"select o.id, o.customer_id, o.coupon_id, o.quantity, o.cancelled_quantity, o.unit_price, o.amount, o.status, o.payment_status,
                      o.payment_key, o.request_id, o.ordered_at as "ordered_at: DateTime<Utc>",
                      o.paid_at as "paid_at: DateTime<Utc>", o.cancelled_at as "cancelled_at: DateTime<Utc>",
                      o.refunded_at as "refunded_at: DateTime<Utc>", c.shop_id, s.owner_id as shop_owner_id,
                      c.valid_until as "valid_until: DateTime<Utc>"
               from orders o join coupons c on c.id = o.coupon_id join shops s on s.id = c.shop_id
               where o.id = any($1)"#,
            ids
        )
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter().map(|r| Ok(order_row!(r))).collect()
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

/// Cancels the order: `state` (the caller asked the status machines), who and why.
pub async fn mark_cancelled(
    conn: &mut PgConnection,
    id: Uuid,
    state: OrderState,
    by: CancelledBy,
    reason: Option<&str>,
) -> Result<(), AppError> {
    sqlx::query!(
        r#"update orders set status = $2, payment_status = $3, cancelled_at = now(), cancelled_by = $4, cancel_reason = $5
           where id = $1"#,
        id,
        state.status.as_str(),
        state.payment_status.as_str(),
        by.as_str(),
        reason
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Moves the order to `state` (the caller asked the status machines).
pub async fn set_state(
    conn: &mut PgConnection,
    id: Uuid,
    state: OrderState,
) -> Result<(), AppError> {
    sqlx::query!(
        "update orders set status = $2, payment_status = $3 where id = $1",
        id,
        state.status.as_str(),
        state.payment_status.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Orders paid: each charge's key and time, and `state` (the caller asked the status
/// machines for each order), one update per order row (a second update of a row in the
/// same transaction would check its foreign keys again, locking the coupon's row
/// `for key share` until the commit).
pub async fn mark_paid(
    conn: &mut PgConnection,
    paid: &[(Uuid, String)],
    state: OrderState,
) -> Result<(), AppError> {
    let ids: Vec<Uuid> = paid.iter().map(|p| p.0).collect();
    let keys: Vec<String> = paid.iter().map(|p| p.1.clone()).collect();
    sqlx::query!(
        "update orders o set payment_key = v.key, paid_at = now(), status = $3, payment_status = $4
         from unnest($1::uuid[], $2::text[]) as v(id, key)
         where o.id = v.id",
        &ids,
        &keys,
        state.status.as_str(),
        state.payment_status.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a completed charge: its key and time; no status moves.
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

/// Records the refund's time and `state` (the caller asked the status machines).
pub async fn record_refund(
    conn: &mut PgConnection,
    id: Uuid,
    state: OrderState,
) -> Result<(), AppError> {
    sqlx::query!(
        "update orders set status = $2, payment_status = $3, refunded_at = now() where id = $1",
        id,
        state.status.as_str(),
        state.payment_status.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queues payment work for each order (a no-op for an order with work queued already), in
/// one statement; the table's trigger wakes the workers.
pub async fn enqueue_payments(conn: &mut PgConnection, order_ids: &[Uuid]) -> Result<(), AppError> {
    if order_ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "insert into payment_jobs (order_id) select unnest($1::uuid[]) on conflict (order_id) do nothing",
        order_ids
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

/// A voucher of the order that is neither redeemed nor cancelled.
pub struct ActiveVoucher {
    pub code: String,
    pub valid_until: Option<DateTime<Utc>>,
}

/// The units my page offers the customer to cancel in a paid order: its active vouchers
/// as the read model shows them (`MyPageRow::cancellable_units`), so a quote is for the
/// units the page's form sends.
pub async fn cancellable_on_my_page(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> Result<i32, AppError> {
    let n: i64 = sqlx::query_scalar(
        "select count(*) from mypage m cross join lateral jsonb_array_elements(m.vouchers) v
         where m.order_id = $1
           and coalesce(v->>'status', case when v->>'redeemed_at' is null then 'active' end)
               = 'active'",
    )
    .bind(order_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(i32::try_from(n).unwrap_or(i32::MAX))
}

/// The order's vouchers still active (by issue time, then code), locked for the rest of the
/// transaction (a redemption of one of them waits, and then finds it cancelled).
pub async fn active_vouchers(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> Result<Vec<ActiveVoucher>, AppError> {
    let rows = sqlx::query!(
        r#"select code, valid_until as "valid_until: DateTime<Utc>" from vouchers
           where order_id = $1 and redeemed_at is null and cancelled_at is null
           order by issued_at, code for update"#,
        order_id
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ActiveVoucher {
            code: r.code,
            valid_until: r.valid_until,
        })
        .collect())
}

/// Cancels `units` more of the order (the table's check keeps them within its quantity)
/// and voids the vouchers `codes`.
pub async fn cancel_units(
    conn: &mut PgConnection,
    order_id: Uuid,
    units: i32,
    codes: &[String],
) -> Result<(), AppError> {
    sqlx::query!(
        "update orders set cancelled_quantity = cancelled_quantity + $2 where id = $1",
        order_id,
        units
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "update vouchers set cancelled_at = now() where code = any($1) and order_id = $2",
        codes,
        order_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a refund owed for `units` of the order; the payment worker gives it back. The
/// trigger `refunds_within_paid` refuses one that would make the order's refunds add up
/// to more than was paid.
pub async fn insert_refund(
    conn: &mut PgConnection,
    order_id: Uuid,
    units: i32,
    amount: i64,
    late: bool,
) -> Result<Uuid, AppError> {
    let id = Uuid::new_v4();
    sqlx::query!(
        "insert into refunds (id, order_id, quantity, amount, late) values ($1, $2, $3, $4, $5)",
        id,
        order_id,
        units,
        amount,
        late
    )
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// A refund not given back yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRefund {
    pub id: Uuid,
    pub amount: i64,
}

/// Per order: its oldest refund not given back yet (if any), and whether it has refunds
/// at all (an order with refunds is given back through them, never as a whole).
pub async fn refunds_of(
    conn: &mut PgConnection,
    order_ids: &[Uuid],
) -> Result<HashMap<Uuid, Option<PendingRefund>>, AppError> {
    let rows = sqlx::query!(
        r#"select distinct on (order_id) order_id, id, amount, refunded_at is null as "pending!"
           from refunds where order_id = any($1)
           order by order_id, refunded_at is null desc, created_at, id"#,
        order_ids
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let pending = r.pending.then_some(PendingRefund {
                id: r.id,
                amount: r.amount,
            });
            (r.order_id, pending)
        })
        .collect())
}

/// Marks the refund given back; returns how many of the order's refunds are still owed.
pub async fn mark_refund_done(
    conn: &mut PgConnection,
    order_id: Uuid,
    refund_id: Uuid,
) -> Result<i64, AppError> {
    sqlx::query!(
        "update refunds set refunded_at = now() where id = $1 and refunded_at is null",
        refund_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "n!" from refunds where order_id = $1 and refunded_at is null"#,
        order_id
    )
    .fetch_one(&mut *conn)
    .await?)
}
