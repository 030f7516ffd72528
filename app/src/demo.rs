//! Demo data for a fresh database: two shops with a few coupons and one customer.
//! Loaded once (only when the database has no users); logins are listed in the README.

use sqlx::PgPool;

use crate::auth::accounts::register;
use crate::coupons::service;
use crate::domain::{CouponInput, SignupInput};
use crate::error::AppError;

pub const DEMO_PASSWORD: &str = "coupan-demo";

fn signup(email: &str, name: &str, role: &str, shop: Option<&str>) -> SignupInput {
    SignupInput {
        email: email.into(),
        password: DEMO_PASSWORD.into(),
        name: name.into(),
        role: role.into(),
        shop_name: shop.map(Into::into),
    }
}

fn coupon(
    name: &str,
    description: &str,
    price: i64,
    stock: i64,
    limit: Option<i64>,
) -> CouponInput {
    CouponInput {
        name: name.into(),
        description: description.into(),
        price,
        stock,
        sale_starts_at: None,
        sale_ends_at: None,
        valid_until: Some(chrono::Utc::now() + chrono::Duration::days(90)),
        per_customer_limit: limit,
    }
}

/// Returns whether data was loaded.
pub async fn seed_if_empty(pool: &PgPool) -> Result<bool, AppError> {
    let users: i64 = sqlx::query_scalar!(r#"select count(*) as "n!" from users"#)
        .fetch_one(pool)
        .await?;
    if users > 0 {
        return Ok(false);
    }
    let shops = [
        (
            signup(
                "cafe@demo.coupan.kr",
                "김민준",
                "owner",
                Some("모닝커피 Morning Coffee"),
            ),
            vec![
                coupon(
                    "아메리카노 Americano",
                    "Hot or iced, any size.",
                    4_500,
                    100,
                    Some(5),
                ),
                coupon(
                    "카페라떼 Cafe Latte",
                    "Fresh milk, double shot.",
                    5_500,
                    50,
                    None,
                ),
                coupon(
                    "케이크 세트 Cake Set",
                    "A slice of cake and a drink.",
                    15_000,
                    3,
                    Some(1),
                ),
            ],
        ),
        (
            signup(
                "bbq@demo.coupan.kr",
                "이서연",
                "owner",
                Some("서울 바베큐 Seoul BBQ"),
            ),
            vec![
                coupon(
                    "삼겹살 2인 Pork Belly for Two",
                    "Grilled at your table.",
                    32_000,
                    20,
                    Some(2),
                ),
                coupon("냉면 Cold Noodles", "Mul-naengmyeon.", 9_000, 0, None),
            ],
        ),
    ];
    for (owner, coupons) in shops {
        let owner = register(pool, owner.validate().map_err(|_| AppError::Internal)?).await?;
        for c in coupons {
            service::create(pool, owner, c.validate().map_err(|_| AppError::Internal)?).await?;
        }
    }
    register(
        pool,
        signup("customer@demo.coupan.kr", "박지훈", "customer", None)
            .validate()
            .map_err(|_| AppError::Internal)?,
    )
    .await?;
    tracing::info!("demo data loaded");
    Ok(true)
}
