//! Coupons: owners register and edit them, everyone browses them.

pub mod owner_pages;
pub mod pages;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod repo;
#[cfg(feature = "ssr")]
pub mod service;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Coupon;
#[cfg(feature = "ssr")]
use crate::domain::CouponForm;
use crate::error::AppError;

/// One page of the catalogue (also the body of `GET /api/v1/coupons`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CouponPage {
    pub items: Vec<Coupon>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

/// A page of the catalogue; `category` and `sort` as in the URL (empty or absent: all
/// categories, newest first).
#[server(prefix = "/sfn", endpoint = "coupons/list")]
pub async fn list_coupons(
    q: String,
    shop: String,
    page: u32,
    category: Option<String>,
    sort: Option<String>,
) -> Result<CouponPage, AppError> {
    let state = crate::state::app_state()?;
    let query = service::CatalogueQuery {
        q: &q,
        shop: &shop,
        category: category.as_deref().unwrap_or_default(),
        sort: sort.as_deref().unwrap_or_default(),
    };
    service::search(&state.pool, query, page, service::DEFAULT_PER_PAGE).await
}

#[server(prefix = "/sfn", endpoint = "coupons/get")]
pub async fn get_coupon(id: Uuid) -> Result<Coupon, AppError> {
    let state = crate::state::app_state()?;
    let mut conn = state.pool.acquire().await?;
    repo::get(&mut conn, id).await?.ok_or(AppError::NotFound)
}

#[server(prefix = "/sfn", endpoint = "owner/coupons")]
pub async fn my_coupons() -> Result<Vec<Coupon>, AppError> {
    use crate::auth::guards::require_owner;
    use crate::auth::sessions::session_user;
    let owner = require_owner(session_user().await?)?;
    let state = crate::state::app_state()?;
    let mut conn = state.pool.acquire().await?;
    repo::list_for_owner(&mut conn, owner.user_id).await
}

#[server(prefix = "/sfn", endpoint = "owner/coupons/get")]
pub async fn get_my_coupon(id: Uuid) -> Result<Coupon, AppError> {
    use crate::auth::guards::require_owner;
    use crate::auth::sessions::session_user;
    let owner = require_owner(session_user().await?)?;
    let state = crate::state::app_state()?;
    let mut conn = state.pool.acquire().await?;
    repo::get_owned(&mut conn, id, owner.user_id)
        .await?
        .ok_or(AppError::NotFound)
}

#[allow(clippy::too_many_arguments)]
#[server(prefix = "/sfn", endpoint = "owner/coupons/create")]
pub async fn create_coupon(
    name: String,
    description: String,
    price: String,
    stock: String,
    sale_starts_at: String,
    sale_ends_at: String,
    valid_until: String,
    per_customer_limit: String,
    category: Option<String>,
    list_price: Option<String>,
) -> Result<Coupon, AppError> {
    use crate::auth::guards::require_owner;
    use crate::auth::sessions::session_user;
    let owner = require_owner(session_user().await?)?;
    let form = CouponForm {
        name,
        description,
        price,
        stock,
        sale_starts_at,
        sale_ends_at,
        valid_until,
        per_customer_limit,
        category: category.unwrap_or_default(),
        list_price: list_price.unwrap_or_default(),
    };
    let valid = form.validate().map_err(AppError::Validation)?;
    let state = crate::state::app_state()?;
    let coupon = service::create(&state.pool, owner, valid).await?;
    crate::flash::set(
        &state,
        &crate::flash::Flash::CouponCreated {
            name: coupon.name.clone(),
        },
    );
    leptos_axum::redirect("/owner/coupons");
    Ok(coupon)
}

#[allow(clippy::too_many_arguments)]
#[server(prefix = "/sfn", endpoint = "owner/coupons/update")]
pub async fn update_coupon(
    id: Uuid,
    name: String,
    description: String,
    price: String,
    stock: String,
    sale_starts_at: String,
    sale_ends_at: String,
    valid_until: String,
    per_customer_limit: String,
    category: Option<String>,
    list_price: Option<String>,
) -> Result<Coupon, AppError> {
    use crate::auth::guards::require_owner;
    use crate::auth::sessions::session_user;
    use crate::domain::CouponPatch;
    let owner = require_owner(session_user().await?)?;
    let form = CouponForm {
        name,
        description,
        price,
        stock,
        sale_starts_at,
        sale_ends_at,
        valid_until,
        per_customer_limit,
        category: category.unwrap_or_default(),
        list_price: list_price.unwrap_or_default(),
    };
    let v = form.validate().map_err(AppError::Validation)?;
    // The form always sends every field: a full replacement expressed as a patch.
    let patch = CouponPatch {
        name: Some(v.name),
        description: Some(v.description),
        price: Some(v.price.value()),
        stock: Some(v.stock as i64),
        sale_starts_at: Some(v.sale_starts_at),
        sale_ends_at: Some(v.sale_ends_at),
        valid_until: Some(v.valid_until),
        per_customer_limit: Some(v.per_customer_limit.map(i64::from)),
        on_sale: None,
        category: Some(v.category.as_str().to_string()),
        list_price: Some(v.list_price),
    };
    let state = crate::state::app_state()?;
    let coupon = service::update(&state.pool, state.waitlist, owner, id, patch).await?;
    crate::flash::set(
        &state,
        &crate::flash::Flash::CouponSaved {
            name: coupon.name.clone(),
        },
    );
    leptos_axum::redirect("/owner/coupons");
    Ok(coupon)
}

#[server(prefix = "/sfn", endpoint = "owner/coupons/on-sale")]
pub async fn set_coupon_on_sale(id: Uuid, on_sale: bool) -> Result<(), AppError> {
    use crate::auth::guards::require_owner;
    use crate::auth::sessions::session_user;
    let owner = require_owner(session_user().await?)?;
    let state = crate::state::app_state()?;
    service::set_on_sale(&state.pool, owner, id, on_sale).await?;
    let mut conn = state.pool.acquire().await?;
    if let Some(c) = repo::get_owned(&mut conn, id, owner.user_id).await? {
        let name = c.name;
        let flash = if on_sale {
            crate::flash::Flash::SalesResumed { name }
        } else {
            crate::flash::Flash::SalesStopped { name }
        };
        crate::flash::set(&state, &flash);
    }
    Ok(())
}
