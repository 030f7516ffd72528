//! Demo data for a fresh database: two shops with a few coupons and one customer.
//! Loaded once (only when the database has no users); logins are listed in the README.
//! The coupons' pictures are drawn in code (`images::drawing`) and uploaded through the
//! owners' own path (`images::service::add`).

use sqlx::PgPool;

use crate::auth::accounts::register;
use crate::coupons::service;
use crate::domain::{CouponInput, SignupInput};
use crate::error::AppError;
use crate::images::drawing::{Subject, draw};
use crate::images::store::ImageStore;

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

#[allow(clippy::too_many_arguments)]
fn coupon(
    name: &str,
    description: &str,
    category: &str,
    price: i64,
    list_price: Option<i64>,
    stock: i64,
    limit: Option<i64>,
    pictures: &[Subject],
) -> (CouponInput, Vec<Subject>) {
    let input = CouponInput {
        name: name.into(),
        description: description.into(),
        price,
        stock,
        sale_starts_at: None,
        sale_ends_at: None,
        valid_until: Some(chrono::Utc::now() + chrono::Duration::days(90)),
        per_customer_limit: limit,
        category: Some(category.into()),
        list_price,
    };
    (input, pictures.to_vec())
}

/// Returns whether data was loaded.
pub async fn seed_if_empty(pool: &PgPool, images: &ImageStore) -> Result<bool, AppError> {
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
                    "cafe",
                    4_500,
                    Some(5_000),
                    100,
                    Some(5),
                    &[Subject::Americano, Subject::CoffeeBeans],
                ),
                coupon(
                    "카페라떼 Cafe Latte",
                    "Fresh milk, double shot.",
                    "cafe",
                    5_500,
                    None,
                    50,
                    None,
                    &[Subject::Latte],
                ),
                coupon(
                    "케이크 세트 Cake Set",
                    "A slice of cake and a drink.",
                    "cafe",
                    15_000,
                    Some(19_000),
                    3,
                    Some(1),
                    &[Subject::Cake],
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
                    "food",
                    32_000,
                    Some(40_000),
                    20,
                    Some(2),
                    &[Subject::PorkBelly],
                ),
                coupon(
                    "냉면 Cold Noodles",
                    "Mul-naengmyeon.",
                    "food",
                    9_000,
                    None,
                    0,
                    None,
                    &[Subject::ColdNoodles],
                ),
            ],
        ),
    ];
    for (owner, coupons) in shops {
        let owner = register(pool, owner.validate().map_err(|_| AppError::Internal)?).await?;
        for (c, pictures) in coupons {
            let created =
                service::create(pool, owner, c.validate().map_err(|_| AppError::Internal)?).await?;
            for subject in pictures {
                crate::images::service::add(pool, images, owner, created.id, draw(subject)).await?;
            }
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
