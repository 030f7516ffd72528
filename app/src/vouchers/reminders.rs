//! Reminders before a voucher's use-by date (issue 13, section 3): as the Korean FTC's
//! standard terms for mobile vouchers ask, customers are told 30 days and 7 days before
//! their vouchers' use-by date that 90% of the price stays refundable after it. The
//! payment worker's sweep calls [`remind_due`]; each reminder is an event
//! (`VoucherExpiring`), which the notification trigger turns into a `voucher_expiring`
//! notification. At most one per order and threshold: the `voucher_reminders` row is
//! inserted first, and only the transaction that inserted it appends the event.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::refund::{LATE_REFUND_PERCENT, reminder_due};
use crate::error::AppError;
use crate::events::{self, Event, VoucherExpiring};

/// Sends the reminders due now, for up to `max` orders, in one transaction; returns how
/// many were sent. Safe to run in any number of processes at once.
pub async fn remind_due(pool: &PgPool, max: i64) -> Result<usize, AppError> {
    let mut tx = pool.begin().await?;
    // Paid orders with usable vouchers whose use-by date is within 30 days and no reminder
    // yet for the threshold they are at.
    let due = sqlx::query!(
        r#"select o.id as order_id, o.unit_price, count(*) as "units!",
                  min(v.valid_until) as "valid_until!: DateTime<Utc>"
           from vouchers v join orders o on o.id = v.order_id
           where v.redeemed_at is null and v.cancelled_at is null
             and v.valid_until > now() and v.valid_until <= now() + interval '30 days'
             and o.status = 'paid'
           group by o.id
           having not exists (
               select 1 from voucher_reminders r
               where r.order_id = o.id
                 and r.days = case when min(v.valid_until) <= now() + interval '7 days' then 7 else 30 end)
           order by min(v.valid_until)
           limit $1"#,
        max
    )
    .fetch_all(&mut *tx)
    .await?;
    let now = Utc::now();
    let mut sent = 0;
    for d in due {
        let Some(days) = reminder_due(d.valid_until, now) else {
            continue;
        };
        if !claim(&mut tx, d.order_id, days as i32).await? {
            continue;
        }
        let units = d.units as i32;
        let event = Event::VoucherExpiring(VoucherExpiring {
            days: days as i32,
            valid_until: d.valid_until,
            units,
            refundable: i64::from(units) * d.unit_price * LATE_REFUND_PERCENT / 100,
        });
        events::append(&mut tx, d.order_id, &event, None).await?;
        sent += 1;
    }
    tx.commit().await?;
    if sent > 0 {
        tracing::info!(sent, "voucher expiry reminders sent");
    }
    Ok(sent)
}

/// Records the reminder of `days` for the order; `false` if it was sent already.
async fn claim(conn: &mut sqlx::PgConnection, order_id: Uuid, days: i32) -> Result<bool, AppError> {
    Ok(sqlx::query!(
        "insert into voucher_reminders (order_id, days) values ($1, $2) on conflict do nothing",
        order_id,
        days
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}
