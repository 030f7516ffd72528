//! SQL for coupon pictures. Ownership is in every query that changes something (the
//! coupon's shop's `owner_id`); zero rows means "not yours or not there". Positions stay
//! 0..n-1; changes happen under the coupon's row lock (`coupons::repo::lock_owned`).

use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::CouponImage;
use crate::error::AppError;

/// A picture's row as the coupon queries aggregate it (`json_agg` in `coupons::repo`).
#[derive(Clone, Debug, Deserialize)]
pub struct StoredImage {
    pub id: Uuid,
    pub full_key: String,
    pub thumb_key: String,
    pub width: i32,
    pub height: i32,
}

impl From<StoredImage> for CouponImage {
    fn from(s: StoredImage) -> CouponImage {
        CouponImage {
            id: s.id,
            url: super::url_of(&s.full_key),
            thumb_url: super::url_of(&s.thumb_key),
            width: s.width,
            height: s.height,
        }
    }
}

/// How many pictures the owner's coupon has; `None` when it is not the owner's.
pub async fn count_owned(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    owner_id: Uuid,
) -> Result<Option<i64>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select (select count(*) from coupon_images i where i.coupon_id = c.id) as "n!"
           from coupons c join shops s on s.id = c.shop_id
           where c.id = $1 and s.owner_id = $2"#,
        coupon_id,
        owner_id
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Adds a picture after the others (the caller holds the coupon's lock and checked the
/// count); its position is the number of pictures before it.
pub async fn insert(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    full_key: &str,
    thumb_key: &str,
    width: i32,
    height: i32,
) -> Result<Uuid, AppError> {
    Ok(sqlx::query_scalar!(
        r#"insert into coupon_images (coupon_id, position, width, height, full_key, thumb_key)
           values ($1, (select count(*) from coupon_images where coupon_id = $1), $2, $3, $4, $5)
           returning id"#,
        coupon_id,
        width,
        height,
        full_key,
        thumb_key,
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// The keys of a deleted picture.
pub struct DeletedKeys {
    pub full_key: String,
    pub thumb_key: String,
}

/// Deletes the coupon's picture and closes the gap in the positions; `None` when the
/// coupon has no such picture.
pub async fn delete(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    image_id: Uuid,
) -> Result<Option<DeletedKeys>, AppError> {
    let Some(gone) = sqlx::query!(
        r#"delete from coupon_images where id = $1 and coupon_id = $2
           returning position, full_key, thumb_key"#,
        image_id,
        coupon_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    sqlx::query!(
        "update coupon_images set position = position - 1 where coupon_id = $1 and position > $2",
        coupon_id,
        gone.position
    )
    .execute(&mut *conn)
    .await?;
    Ok(Some(DeletedKeys {
        full_key: gone.full_key,
        thumb_key: gone.thumb_key,
    }))
}

/// Moves the picture to position 0; those before it move one down. `false` when the
/// coupon has no such picture.
pub async fn make_cover(
    conn: &mut PgConnection,
    coupon_id: Uuid,
    image_id: Uuid,
) -> Result<bool, AppError> {
    let done = sqlx::query!(
        r#"update coupon_images i
           set position = case when i.id = $2 then 0 else i.position + 1 end
           from (select position from coupon_images where id = $2 and coupon_id = $1) chosen
           where i.coupon_id = $1 and i.position <= chosen.position"#,
        coupon_id,
        image_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
