//! Waitlist use cases: joining and leaving (customers), and giving units that came back
//! to the people in line (called by whatever returns units, in its transaction).

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::WaitlistEntry;
use super::repo::{self, Granted};
use super::settings::WaitlistSettings;
use crate::auth::guards::Principal;
use crate::coupons::repo as coupons;
use crate::domain::CouponStatus;
use crate::error::{AppError, Conflict};
use crate::events::{self, Event, OrderEvent, RestockHeld};
use crate::orders::repo as orders;

/// Joins the coupon's line: `(entry, true)` when the customer was added at its end,
/// `(entry, false)` when they were in it already (their place is kept). Only while the
/// public cannot buy it because it is sold out: `not_sold_out` while it is on sale, the
/// coupon's own refusal when its sale is stopped, not started or over.
pub async fn join(
    pool: &PgPool,
    settings: WaitlistSettings,
    customer: Principal,
    coupon_id: Uuid,
    request_id: Option<&str>,
) -> Result<(WaitlistEntry, bool), AppError> {
    let mut tx = pool.begin().await?;
    // The coupon's lock: the stock cannot come back between the check and the insert
    // (what gives units back locks it too, and then sees this entry).
    if orders::lock_coupon(&mut tx, coupon_id).await?.is_none() {
        return Err(AppError::NotFound);
    }
    if let Some(entry) = own_entry(&mut tx, customer, coupon_id).await? {
        return Ok((entry, false));
    }
    // A hold of theirs that ran out and is not passed on yet: passed on now, and they
    // join at the end like anyone else.
    if let Some(true) = repo::delete(&mut tx, coupon_id, customer.user_id).await? {
        give_back(&mut tx, settings, coupon_id, 1, request_id).await?;
    }
    let coupon = coupons::get(&mut tx, coupon_id)
        .await?
        .ok_or(AppError::NotFound)?;
    match coupon.status_at(chrono::Utc::now()) {
        CouponStatus::SoldOut => {}
        CouponStatus::Available => return Err(AppError::Conflict(Conflict::NotSoldOut)),
        CouponStatus::Stopped => return Err(AppError::Conflict(Conflict::NotOnSale)),
        CouponStatus::NotStarted => return Err(AppError::Conflict(Conflict::SaleNotStarted)),
        CouponStatus::Ended => return Err(AppError::Conflict(Conflict::SaleEnded)),
    }
    repo::insert(&mut tx, coupon_id, customer.user_id).await?;
    let entry = own_entry(&mut tx, customer, coupon_id)
        .await?
        .ok_or(AppError::Internal)?;
    tx.commit().await?;
    tracing::info!(coupon = %coupon_id, position = entry.position, "joined the waitlist");
    Ok((entry, true))
}

async fn own_entry(
    conn: &mut PgConnection,
    customer: Principal,
    coupon_id: Uuid,
) -> Result<Option<WaitlistEntry>, AppError> {
    Ok(repo::entries_of(conn, customer.user_id, Some(coupon_id))
        .await?
        .into_iter()
        .next())
}

/// Leaves the coupon's line (nothing to do if not in it). A unit held for the customer
/// goes to the next in line, or back on sale.
pub async fn leave(
    pool: &PgPool,
    settings: WaitlistSettings,
    customer: Principal,
    coupon_id: Uuid,
    request_id: Option<&str>,
) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    if orders::lock_coupon(&mut tx, coupon_id).await?.is_none() {
        return Err(AppError::NotFound);
    }
    if let Some(true) = repo::delete(&mut tx, coupon_id, customer.user_id).await? {
        give_back(&mut tx, settings, coupon_id, 1, request_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The customer's entries, each with its position.
pub async fn list(pool: &PgPool, customer: Principal) -> Result<Vec<WaitlistEntry>, AppError> {
    let mut conn = pool.acquire().await?;
    repo::entries_of(&mut conn, customer.user_id, None).await
}

/// The customer's entry in the coupon's line, if any.
pub async fn entry(
    pool: &PgPool,
    customer: Principal,
    coupon_id: Uuid,
) -> Result<Option<WaitlistEntry>, AppError> {
    let mut conn = pool.acquire().await?;
    own_entry(&mut conn, customer, coupon_id).await
}

/// `units` of the coupon came back (a cancel, a declined payment, an expired order, a hold
/// given up): held for the people waiting, one each in line order, the rest back on sale.
/// In the caller's transaction; appends a `RestockHeld` per hold. Returns the holds.
pub async fn give_back(
    conn: &mut PgConnection,
    settings: WaitlistSettings,
    coupon_id: Uuid,
    units: i32,
    request_id: Option<&str>,
) -> Result<usize, AppError> {
    let granted = repo::return_units(conn, coupon_id, units, settings.hold).await?;
    record(conn, coupon_id, granted, request_id).await
}

/// The coupon's public stock grew (the owner raised it): held for the people waiting
/// first. In the caller's transaction; returns the holds granted.
pub async fn serve(
    conn: &mut PgConnection,
    settings: WaitlistSettings,
    coupon_id: Uuid,
    request_id: Option<&str>,
) -> Result<usize, AppError> {
    let granted = repo::serve(conn, coupon_id, settings.hold).await?;
    record(conn, coupon_id, granted, request_id).await
}

/// Passes on the holds that ran out, coupon by coupon (one transaction each, at most
/// `max_coupons`); a coupon whose row another transaction holds is left for the next
/// sweep. Returns the holds granted anew.
pub async fn lapse_due(
    pool: &PgPool,
    settings: WaitlistSettings,
    max_coupons: i64,
) -> Result<usize, AppError> {
    let due = {
        let mut conn = pool.acquire().await?;
        repo::coupons_with_lapsed_holds(&mut conn, max_coupons).await?
    };
    let mut n = 0;
    for coupon_id in due {
        let mut tx = pool.begin().await?;
        if !repo::try_lock_coupon(&mut tx, coupon_id).await? {
            tx.rollback().await?;
            continue;
        }
        let granted = repo::lapse(&mut tx, coupon_id, settings.hold).await?;
        n += record(&mut tx, coupon_id, granted, None).await?;
        tx.commit().await?;
    }
    Ok(n)
}

/// A `RestockHeld` event per hold granted.
async fn record(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    granted: Vec<Granted>,
    request_id: Option<&str>,
) -> Result<usize, AppError> {
    let events: Vec<OrderEvent> = granted
        .iter()
        .map(|g| OrderEvent {
            order_id: coupon_id,
            event: Event::RestockHeld(RestockHeld {
                customer_id: g.customer_id,
                hold_until: g.hold_until,
            }),
            request_id: request_id.map(str::to_string),
        })
        .collect();
    events::append_all(conn, &events).await?;
    for g in &granted {
        tracing::info!(coupon = %coupon_id, customer = %g.customer_id, "a unit is held for the next in line");
    }
    Ok(granted.len())
}
