//! Picture use cases shared by the JSON API and the edit page's forms. Callers have run
//! the guard (`require_owner`); ownership is checked here, in the SQL.
//!
//! Files and rows: an upload stores both files first and then inserts the row (under the
//! coupon's lock, which also re-checks the count); if the row cannot be written the files
//! are removed again. A delete removes the row first and then the files, so no row ever
//! points at a missing file; a file left behind by a failed delete is logged.

use std::sync::LazyLock;

use sqlx::PgPool;
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::process::{self, Processed};
use super::store::ImageStore;
use super::{new_keys, repo, url_of};
use crate::auth::guards::Principal;
use crate::coupons::repo as coupons;
use crate::domain::{Coupon, CouponImage, MAX_IMAGES};
use crate::error::{AppError, Conflict};

/// Pictures decoded at once in this process. One: a decode may take up to
/// `process::MAX_DECODED_BYTES` (100 MiB) and the pods have 256 MiB; owners upload rarely,
/// so a second upload waits a moment rather than risking the process. Like password
/// hashing, the work runs on a blocking thread, never on the async runtime.
pub const JOBS: usize = 1;
static DECODING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(JOBS));

/// Decodes and re-encodes one upload off the async runtime (see `JOBS`).
pub async fn process(bytes: Vec<u8>) -> Result<Processed, AppError> {
    let _permit = DECODING.acquire().await.map_err(|_| AppError::Internal)?;
    tokio::task::spawn_blocking(move || process::process(&bytes))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "picture processing task failed");
            AppError::Internal
        })?
        .map_err(AppError::Image)
}

/// Adds a picture (the last position; the first one becomes the cover).
pub async fn add(
    pool: &PgPool,
    store: &ImageStore,
    owner: Principal,
    coupon_id: Uuid,
    bytes: Vec<u8>,
) -> Result<CouponImage, AppError> {
    // The cheap refusals before the expensive decode.
    {
        let mut conn = pool.acquire().await?;
        let count = repo::count_owned(&mut conn, coupon_id, owner.user_id)
            .await?
            .ok_or(AppError::NotFound)?;
        if count >= MAX_IMAGES as i64 {
            return Err(AppError::Conflict(Conflict::TooManyImages));
        }
    }
    let processed = process(bytes).await?;
    let (full_key, thumb_key) = new_keys(processed.format);
    let (width, height) = (processed.full.width as i32, processed.full.height as i32);
    store.put(&full_key, processed.full.bytes).await?;
    if let Err(e) = store.put(&thumb_key, processed.thumb.bytes).await {
        forget(store, &[&full_key]).await;
        return Err(e);
    }
    match record(pool, owner, coupon_id, &full_key, &thumb_key, width, height).await {
        Ok(id) => {
            tracing::info!(coupon = %coupon_id, image = %id, "picture added");
            Ok(CouponImage {
                id,
                url: url_of(&full_key),
                thumb_url: url_of(&thumb_key),
                width,
                height,
            })
        }
        Err(e) => {
            forget(store, &[&full_key, &thumb_key]).await;
            Err(e)
        }
    }
}

async fn record(
    pool: &PgPool,
    owner: Principal,
    coupon_id: Uuid,
    full_key: &str,
    thumb_key: &str,
    width: i32,
    height: i32,
) -> Result<Uuid, AppError> {
    let mut tx = pool.begin().await?;
    if !coupons::lock_owned(&mut tx, coupon_id, owner.user_id).await? {
        return Err(AppError::NotFound);
    }
    // Again under the lock: two uploads may have passed the first check together.
    let count = repo::count_owned(&mut tx, coupon_id, owner.user_id)
        .await?
        .unwrap_or(0);
    if count >= MAX_IMAGES as i64 {
        return Err(AppError::Conflict(Conflict::TooManyImages));
    }
    let id = repo::insert(&mut tx, coupon_id, full_key, thumb_key, width, height).await?;
    tx.commit().await?;
    Ok(id)
}

/// Deletes files, logging (not failing on) what cannot be deleted.
async fn forget(store: &ImageStore, keys: &[&str]) {
    for key in keys {
        if store.delete(key).await.is_err() {
            tracing::warn!(key, "a picture file is left behind in the store");
        }
    }
}

/// Deletes a picture: its row (the next picture becomes the cover if it was the cover),
/// then both files.
pub async fn delete(
    pool: &PgPool,
    store: &ImageStore,
    owner: Principal,
    coupon_id: Uuid,
    image_id: Uuid,
) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    if !coupons::lock_owned(&mut tx, coupon_id, owner.user_id).await? {
        return Err(AppError::NotFound);
    }
    let keys = repo::delete(&mut tx, coupon_id, image_id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    forget(store, &[&keys.full_key, &keys.thumb_key]).await;
    tracing::info!(coupon = %coupon_id, image = %image_id, "picture deleted");
    Ok(())
}

/// Makes a picture the cover (position 0); returns the coupon with its new order.
pub async fn make_cover(
    pool: &PgPool,
    owner: Principal,
    coupon_id: Uuid,
    image_id: Uuid,
) -> Result<Coupon, AppError> {
    let mut tx = pool.begin().await?;
    if !coupons::lock_owned(&mut tx, coupon_id, owner.user_id).await? {
        return Err(AppError::NotFound);
    }
    if !repo::make_cover(&mut tx, coupon_id, image_id).await? {
        return Err(AppError::NotFound);
    }
    let coupon = coupons::get(&mut tx, coupon_id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(coupon)
}
