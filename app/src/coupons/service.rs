//! Coupon use cases shared by the pages (server functions) and the JSON API.
//! Callers have already run the guard; these functions take the guard's `Principal`.

use sqlx::PgPool;
use uuid::Uuid;

use super::CouponPage;
use super::repo;
use crate::auth::guards::Principal;
use crate::domain::{Coupon, CouponPatch, ValidCoupon};
use crate::error::AppError;
use crate::waitlist::settings::WaitlistSettings;

pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 100;

pub async fn create(
    pool: &PgPool,
    owner: Principal,
    coupon: ValidCoupon,
) -> Result<Coupon, AppError> {
    let mut tx = pool.begin().await?;
    let shop_id = repo::shop_of_owner(&mut tx, owner.user_id)
        .await?
        .ok_or_else(|| {
            tracing::error!(owner = %owner.user_id, "owner without a shop");
            AppError::Internal
        })?;
    let id = repo::insert(&mut tx, shop_id, &coupon).await?;
    let created = repo::get(&mut tx, id).await?.ok_or(AppError::Internal)?;
    tx.commit().await?;
    tracing::info!(coupon = %id, owner = %owner.user_id, "coupon registered");
    Ok(created)
}

/// Applies `patch` to the owner's coupon; another owner's coupon is `NotFound`. Units the
/// owner adds go to the coupon's waitlist first (held for `waitlist.hold`).
pub async fn update(
    pool: &PgPool,
    waitlist: WaitlistSettings,
    owner: Principal,
    id: Uuid,
    patch: CouponPatch,
) -> Result<Coupon, AppError> {
    let mut tx = pool.begin().await?;
    if !repo::lock_owned(&mut tx, id, owner.user_id).await? {
        return Err(AppError::NotFound);
    }
    let current = repo::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let valid = patch.apply(&current).map_err(AppError::Validation)?;
    repo::update_owned(&mut tx, id, owner.user_id, &valid, patch.on_sale).await?;
    if valid.stock > current.stock_left {
        crate::waitlist::service::serve(&mut tx, waitlist, id, None).await?;
    }
    let updated = repo::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(updated)
}

pub async fn set_on_sale(
    pool: &PgPool,
    owner: Principal,
    id: Uuid,
    on_sale: bool,
) -> Result<(), AppError> {
    let mut conn = pool.acquire().await?;
    if repo::set_on_sale(&mut conn, id, owner.user_id, on_sale).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// The catalogue's query: search terms, category and order, as the URL or the API's
/// query string carries them (unchecked text).
#[derive(Clone, Debug, Default)]
pub struct CatalogueQuery<'a> {
    pub q: &'a str,
    pub shop: &'a str,
    pub category: &'a str,
    pub sort: &'a str,
}

/// A page of the catalogue for `query` (checked here, for the API and the pages alike: a
/// 422 names each bad term, category or order).
pub async fn search(
    pool: &PgPool,
    query: CatalogueQuery<'_>,
    page: u32,
    per_page: u32,
) -> Result<CouponPage, AppError> {
    let terms = crate::domain::Search::parse(query.q, query.shop);
    let listing = crate::domain::Listing::parse(query.category, query.sort);
    let (terms, listing) = match (terms, listing) {
        (Ok(t), Ok(l)) => (t, l),
        (t, l) => {
            let mut errors = t.err().unwrap_or_default();
            errors.extend(l.err().unwrap_or_default());
            return Err(AppError::Validation(errors));
        }
    };
    let (q, shop) = (
        terms.text.as_deref().unwrap_or_default(),
        terms.shop.as_deref().unwrap_or_default(),
    );
    let page = page.max(1);
    let per_page = per_page.clamp(1, MAX_PER_PAGE);
    let offset = (page as i64 - 1) * per_page as i64;
    let mut conn = pool.acquire().await?;
    let (items, total) = repo::search(&mut conn, q, shop, listing, per_page as i64, offset).await?;
    Ok(CouponPage {
        items,
        page,
        per_page,
        total,
    })
}
