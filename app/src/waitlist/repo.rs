//! SQL for the waitlist. Functions that change a coupon's line or holds expect the
//! coupon's row to be locked by the caller's transaction (`orders::repo::lock_coupon`), or
//! call a database function that locks it first (`waitlist_serve`, `coupon_return_units`,
//! `waitlist_lapse`, see the waitlist migration).

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::WaitlistEntry;
use crate::error::AppError;

/// A hold just granted: for whom, until when.
#[derive(Clone, Debug, PartialEq)]
pub struct Granted {
    pub customer_id: Uuid,
    pub hold_until: DateTime<Utc>,
}

fn granted(rows: Vec<(Option<Uuid>, Option<DateTime<Utc>>)>) -> Vec<Granted> {
    rows.into_iter()
        .filter_map(|(c, h)| {
            Some(Granted {
                customer_id: c?,
                hold_until: h?,
            })
        })
        .collect()
}

/// The customer's entries, each with its position, in the order they joined. A hold that
/// ran out (the sweep has not removed it yet) is no longer an entry, nor counted ahead.
pub async fn entries_of(
    conn: &mut PgConnection,
    customer_id: Uuid,
    coupon_id: Option<Uuid>,
) -> Result<Vec<WaitlistEntry>, AppError> {
    Ok(sqlx::query_as!(
        WaitlistEntry,
        r#"select w.coupon_id, c.name as coupon_name, w.hold_until as "hold_until: DateTime<Utc>",
                  (select count(*) from waitlist x
                   where x.coupon_id = w.coupon_id and x.seq <= w.seq
                     and (x.hold_until is null or x.hold_until > now())) as "position!"
           from waitlist w join coupons c on c.id = w.coupon_id
           where w.customer_id = $1 and ($2::uuid is null or w.coupon_id = $2)
             and (w.hold_until is null or w.hold_until > now())
           order by w.seq"#,
        customer_id,
        coupon_id
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Puts the customer at the end of the coupon's line; `false` if they are in it already.
pub async fn insert(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    customer_id: Uuid,
) -> Result<bool, AppError> {
    let done = sqlx::query!(
        "insert into waitlist (coupon_id, customer_id) values ($1, $2) on conflict do nothing",
        coupon_id,
        customer_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes the customer out of the coupon's line: `None` if they were not in it, else
/// whether a unit was held for them (even one whose hold ran out: its unit comes back).
pub async fn delete(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    customer_id: Uuid,
) -> Result<Option<bool>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"delete from waitlist where coupon_id = $1 and customer_id = $2
           returning hold_until is not null as "held!""#,
        coupon_id,
        customer_id
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Which of `customers` hold a unit of the coupon now.
pub async fn holders(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    customers: &[Uuid],
) -> Result<HashSet<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        "select customer_id from waitlist
         where coupon_id = $1 and customer_id = any($2) and hold_until > now()",
        coupon_id,
        customers
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect())
}

/// The holds of these customers were used (they bought their unit): they leave the line.
pub async fn consume_holds(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    customers: &[Uuid],
) -> Result<(), AppError> {
    sqlx::query!(
        "delete from waitlist where coupon_id = $1 and customer_id = any($2) and hold_until is not null",
        coupon_id,
        customers
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn interval(d: Duration) -> sqlx::postgres::types::PgInterval {
    sqlx::postgres::types::PgInterval {
        months: 0,
        days: 0,
        microseconds: d.as_micros().min(i64::MAX as u128) as i64,
    }
}

/// `units` come back to the coupon: onto its stock, then held for the people waiting, as
/// far as they go (`coupon_return_units`).
pub async fn return_units(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    units: i32,
    hold: Duration,
) -> Result<Vec<Granted>, AppError> {
    let rows = sqlx::query!(
        r#"select customer_id, hold_until as "hold_until: DateTime<Utc>"
           from coupon_return_units($1, $2, $3)"#,
        coupon_id,
        units,
        interval(hold)
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(granted(
        rows.into_iter()
            .map(|r| (r.customer_id, r.hold_until))
            .collect(),
    ))
}

/// The coupon's public units held for the people waiting, as far as they go
/// (`waitlist_serve`).
pub async fn serve(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    hold: Duration,
) -> Result<Vec<Granted>, AppError> {
    let rows = sqlx::query!(
        r#"select customer_id, hold_until as "hold_until: DateTime<Utc>"
           from waitlist_serve($1, $2)"#,
        coupon_id,
        interval(hold)
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(granted(
        rows.into_iter()
            .map(|r| (r.customer_id, r.hold_until))
            .collect(),
    ))
}

/// The coupon's holds that ran out: removed, their units passed on (`waitlist_lapse`).
pub async fn lapse(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    hold: Duration,
) -> Result<Vec<Granted>, AppError> {
    let rows = sqlx::query!(
        r#"select customer_id, hold_until as "hold_until: DateTime<Utc>"
           from waitlist_lapse($1, $2)"#,
        coupon_id,
        interval(hold)
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(granted(
        rows.into_iter()
            .map(|r| (r.customer_id, r.hold_until))
            .collect(),
    ))
}

/// Coupons with a hold that ran out, at most `limit`.
pub async fn coupons_with_lapsed_holds(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select distinct coupon_id as "coupon_id!" from waitlist
           where hold_until <= now() limit $1"#,
        limit
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Locks the coupon's row like the purchase path does, unless another transaction holds it
/// (then `false`: a sweep comes back later rather than wait behind a sale).
pub async fn try_lock_coupon(conn: &mut PgConnection, coupon_id: Uuid) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(
        "select id from coupons where id = $1 for no key update skip locked",
        coupon_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .is_some())
}
