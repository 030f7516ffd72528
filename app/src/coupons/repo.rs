//! SQL for coupons. Ownership is part of every owner query
//! (`... join shops s ... where s.owner_id = $2`): zero rows means "not yours or not there".

use chrono::{DateTime, Utc};

// Timestamps are read as chrono types explicitly (`as "x: DateTime<Utc>"`): sqlx prefers the
// `time` crate when both are enabled, and the session store enables it.
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::{Category, Coupon, Listing, Sort, ValidCoupon};
use crate::error::AppError;
use crate::images::repo::StoredImage;

/// A coupon as the queries read it: its pictures come as one JSON array (cover first), so
/// a page of the catalogue is still one query.
#[derive(sqlx::FromRow)]
struct CouponRow {
    id: Uuid,
    name: String,
    description: String,
    price: i64,
    stock_left: i32,
    shop_id: Uuid,
    shop_name: String,
    sale_starts_at: Option<DateTime<Utc>>,
    sale_ends_at: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    per_customer_limit: Option<i32>,
    on_sale: bool,
    created_at: DateTime<Utc>,
    category: String,
    list_price: Option<i64>,
    images: Json<Vec<StoredImage>>,
}

impl From<CouponRow> for Coupon {
    fn from(r: CouponRow) -> Coupon {
        Coupon {
            id: r.id,
            name: r.name,
            description: r.description,
            price: r.price,
            stock_left: r.stock_left,
            shop_id: r.shop_id,
            shop_name: r.shop_name,
            sale_starts_at: r.sale_starts_at,
            sale_ends_at: r.sale_ends_at,
            valid_until: r.valid_until,
            per_customer_limit: r.per_customer_limit,
            on_sale: r.on_sale,
            created_at: r.created_at,
            // The database allows only known values (`coupons_category`).
            category: Category::parse(&r.category).unwrap_or_default(),
            list_price: r.list_price,
            images: r.images.0.into_iter().map(Into::into).collect(),
        }
    }
}

pub async fn shop_of_owner(
    conn: &mut PgConnection,
    owner_id: Uuid,
) -> Result<Option<Uuid>, AppError> {
    Ok(
        sqlx::query_scalar!("select id from shops where owner_id = $1", owner_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

pub async fn insert(
    conn: &mut PgConnection,
    shop_id: Uuid,
    c: &ValidCoupon,
) -> Result<Uuid, AppError> {
    Ok(sqlx::query_scalar!(
        r#"insert into coupons (shop_id, name, description, price, stock, sale_starts_at, sale_ends_at,
                                valid_until, per_customer_limit, category, list_price)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           returning id"#,
        shop_id,
        c.name,
        c.description,
        c.price.value(),
        c.stock,
        c.sale_starts_at as _,
        c.sale_ends_at as _,
        c.valid_until as _,
        c.per_customer_limit,
        c.category.as_str(),
        c.list_price,
    )
    .fetch_one(&mut *conn)
    .await?)
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Coupon>, AppError> {
    Ok(sqlx::query_as!(
        CouponRow,
        r#"select c.id, c.name, c.description, c.price, c.stock as stock_left, c.shop_id, s.name as shop_name,
                  c.sale_starts_at as "sale_starts_at: DateTime<Utc>", c.sale_ends_at as "sale_ends_at: DateTime<Utc>",
                  c.valid_until as "valid_until: DateTime<Utc>", c.per_customer_limit, c.on_sale,
                  c.created_at as "created_at: DateTime<Utc>", c.category, c.list_price,
                  coalesce((select json_agg(json_build_object('id', i.id, 'full_key', i.full_key, 'thumb_key', i.thumb_key,
                                                              'width', i.width, 'height', i.height) order by i.position)
                            from coupon_images i where i.coupon_id = c.id), '[]') as "images!: Json<Vec<StoredImage>>"
           from coupons c join shops s on s.id = c.shop_id
           where c.id = $1"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(Coupon::from))
}

/// Locks the coupon's row until the transaction ends and reads it, with the units held for
/// its waitlist (`coupons.held`): what a purchase batch decides against, in one round trip
/// while the lock is held. The lock is the one `orders::repo::lock_coupon` takes (it says
/// why `for no key update`); after waiting for another batch, PostgreSQL returns the row
/// as that batch committed it.
pub async fn lock_and_get(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<(Coupon, i32)>, AppError> {
    /// The coupon's row as every query reads it, and its held units.
    #[derive(sqlx::FromRow)]
    struct Locked {
        #[sqlx(flatten)]
        coupon: CouponRow,
        held: i32,
    }
    // Read as `search` reads rows (by name into `CouponRow`); the query macros cannot
    // fill a struct with a flattened part.
    let row = sqlx::query_as::<_, Locked>(
        r#"select c.id, c.name, c.description, c.price, c.stock as stock_left, c.shop_id, s.name as shop_name,
                  c.sale_starts_at, c.sale_ends_at, c.valid_until, c.per_customer_limit, c.on_sale,
                  c.created_at, c.category, c.list_price, c.held,
                  coalesce((select json_agg(json_build_object('id', i.id, 'full_key', i.full_key, 'thumb_key', i.thumb_key,
                                                              'width', i.width, 'height', i.height) order by i.position)
                            from coupon_images i where i.coupon_id = c.id), '[]') as images
           from coupons c join shops s on s.id = c.shop_id
           where c.id = $1
           for no key update of c"#,
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| (Coupon::from(r.coupon), r.held)))
}

/// The coupon if it belongs to `owner_id`'s shop.
pub async fn get_owned(
    conn: &mut PgConnection,
    id: Uuid,
    owner_id: Uuid,
) -> Result<Option<Coupon>, AppError> {
    Ok(sqlx::query_as!(
        CouponRow,
        r#"select c.id, c.name, c.description, c.price, c.stock as stock_left, c.shop_id, s.name as shop_name,
                  c.sale_starts_at as "sale_starts_at: DateTime<Utc>", c.sale_ends_at as "sale_ends_at: DateTime<Utc>",
                  c.valid_until as "valid_until: DateTime<Utc>", c.per_customer_limit, c.on_sale,
                  c.created_at as "created_at: DateTime<Utc>", c.category, c.list_price,
                  coalesce((select json_agg(json_build_object('id', i.id, 'full_key', i.full_key, 'thumb_key', i.thumb_key,
                                                              'width', i.width, 'height', i.height) order by i.position)
                            from coupon_images i where i.coupon_id = c.id), '[]') as "images!: Json<Vec<StoredImage>>"
           from coupons c join shops s on s.id = c.shop_id
           where c.id = $1 and s.owner_id = $2"#,
        id,
        owner_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(Coupon::from))
}

/// Row-locks the coupon (owner's only) so a concurrent edit cannot interleave.
pub async fn lock_owned(
    conn: &mut PgConnection,
    id: Uuid,
    owner_id: Uuid,
) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select c.id from coupons c join shops s on s.id = c.shop_id
           where c.id = $1 and s.owner_id = $2 for update of c"#,
        id,
        owner_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .is_some())
}

pub async fn update_owned(
    conn: &mut PgConnection,
    id: Uuid,
    owner_id: Uuid,
    c: &ValidCoupon,
    on_sale: Option<bool>,
) -> Result<bool, AppError> {
    let done = sqlx::query!(
        r#"update coupons set name = $3, description = $4, price = $5, stock = $6, sale_starts_at = $7,
                  sale_ends_at = $8, valid_until = $9, per_customer_limit = $10, on_sale = coalesce($11, on_sale),
                  category = $12, list_price = $13
           where id = $1 and shop_id = (select id from shops where owner_id = $2)"#,
        id,
        owner_id,
        c.name,
        c.description,
        c.price.value(),
        c.stock,
        c.sale_starts_at as _,
        c.sale_ends_at as _,
        c.valid_until as _,
        c.per_customer_limit,
        on_sale,
        c.category.as_str(),
        c.list_price,
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_on_sale(
    conn: &mut PgConnection,
    id: Uuid,
    owner_id: Uuid,
    on_sale: bool,
) -> Result<bool, AppError> {
    let done = sqlx::query!(
        "update coupons set on_sale = $3 where id = $1 and shop_id = (select id from shops where owner_id = $2)",
        id,
        owner_id,
        on_sale
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn list_for_owner(
    conn: &mut PgConnection,
    owner_id: Uuid,
) -> Result<Vec<Coupon>, AppError> {
    Ok(sqlx::query_as!(
        CouponRow,
        r#"select c.id, c.name, c.description, c.price, c.stock as stock_left, c.shop_id, s.name as shop_name,
                  c.sale_starts_at as "sale_starts_at: DateTime<Utc>", c.sale_ends_at as "sale_ends_at: DateTime<Utc>",
                  c.valid_until as "valid_until: DateTime<Utc>", c.per_customer_limit, c.on_sale,
                  c.created_at as "created_at: DateTime<Utc>", c.category, c.list_price,
                  coalesce((select json_agg(json_build_object('id', i.id, 'full_key', i.full_key, 'thumb_key', i.thumb_key,
                                                              'width', i.width, 'height', i.height) order by i.position)
                            from coupon_images i where i.coupon_id = c.id), '[]') as "images!: Json<Vec<StoredImage>>"
           from coupons c join shops s on s.id = c.shop_id
           where s.owner_id = $1
           order by c.created_at desc"#,
        owner_id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(Coupon::from)
    .collect())
}

/// `%text%` for ILIKE, with the pattern characters of `text` escaped.
fn contains_pattern(text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let escaped = t
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Some(format!("%{escaped}%"))
}

/// The public catalogue: coupons whose owner has not stopped sales and whose sale has not
/// ended, matching `text` (name, description or shop), `shop` and `listing`'s category,
/// in `listing`'s order (ties newest first); sold-out ones after all others in every
/// order (a shopper sees what can be bought first). No index serves this order on
/// purpose: one on `stock` would cost every purchase its HOT update. `popular` counts the
/// units of the last `POPULAR_DAYS` days' orders that were not cancelled, expired or
/// failed (a `case`: the count runs only for that order).
///
/// Each `ilike` scans one table in a subquery of its own, so that the trigram indexes
/// (migration `*_search_and_login_throttle.sql`) serve it; an `or` across the join would
/// make PostgreSQL read every row.
///
/// The SQL holds only the filters and the order a request uses (a few fixed texts, every
/// value bound): each shape is a prepared statement PostgreSQL can plan once. One text
/// with `$1 is null or ...` for every filter and a `case` per order made it plan again on
/// every execution (its generic plan looks dearer than a custom one): 0.5 ms of
/// PostgreSQL's CPU per catalogue page, more than running the query.
pub async fn search(
    conn: &mut PgConnection,
    text: &str,
    shop: &str,
    listing: Listing,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Coupon>, i64), AppError> {
    let filters = CatalogueFilters {
        text: contains_pattern(text),
        shop: contains_pattern(shop),
        category: listing.category.map(Category::as_str),
    };

    let mut q = QueryBuilder::<Postgres>::new(
        r#"select c.id, c.name, c.description, c.price, c.stock as stock_left, c.shop_id, s.name as shop_name,
                  c.sale_starts_at, c.sale_ends_at, c.valid_until, c.per_customer_limit, c.on_sale,
                  c.created_at, c.category, c.list_price,
                  coalesce((select json_agg(json_build_object('id', i.id, 'full_key', i.full_key, 'thumb_key', i.thumb_key,
                                                              'width', i.width, 'height', i.height) order by i.position)
                            from coupon_images i where i.coupon_id = c.id), '[]') as images"#,
    );
    filters.push(&mut q);
    q.push(" order by c.stock <= 0, ");
    match listing.sort {
        Sort::Newest => {}
        Sort::PriceAsc => {
            q.push("c.price asc, ");
        }
        Sort::PriceDesc => {
            q.push("c.price desc, ");
        }
        Sort::EndingSoon => {
            q.push("c.sale_ends_at asc nulls last, ");
        }
        Sort::Popular => {
            q.push(
                "(select coalesce(sum(o.quantity), 0) from orders o \
                  where o.coupon_id = c.id and o.status in ('ordered', 'paid') \
                    and o.ordered_at > now() - make_interval(days => ",
            )
            .push_bind(crate::domain::coupon::POPULAR_DAYS as i32)
            .push(")) desc, ");
        }
    }
    q.push("c.created_at desc, c.id limit ")
        .push_bind(limit)
        .push(" offset ")
        .push_bind(offset);
    let items = q
        .build_query_as::<CouponRow>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(Coupon::from)
        .collect();

    let mut q = QueryBuilder::<Postgres>::new("select count(*)");
    filters.push(&mut q);
    let total: i64 = q.build_query_scalar().fetch_one(&mut *conn).await?;
    Ok((items, total))
}

/// The catalogue's filters, as SQL that names only the ones given.
struct CatalogueFilters<'a> {
    text: Option<String>,
    shop: Option<String>,
    category: Option<&'a str>,
}

impl CatalogueFilters<'_> {
    /// `from ... where ...` of `search` and of its count.
    fn push(&self, q: &mut QueryBuilder<'_, Postgres>) {
        q.push(
            " from coupons c join shops s on s.id = c.shop_id \
              where c.on_sale and (c.sale_ends_at is null or c.sale_ends_at > now())",
        );
        if let Some(text) = &self.text {
            q.push(" and (c.id in (select id from coupons where name ilike ")
                .push_bind(text.clone())
                .push(" or description ilike ")
                .push_bind(text.clone())
                .push(") or c.shop_id in (select id from shops where name ilike ")
                .push_bind(text.clone())
                .push("))");
        }
        if let Some(shop) = &self.shop {
            q.push(" and c.shop_id in (select id from shops where name ilike ")
                .push_bind(shop.clone())
                .push(")");
        }
        if let Some(category) = self.category {
            q.push(" and c.category = ").push_bind(category.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn search_text_is_escaped() {
        assert_eq!(contains_pattern("  "), None);
        assert_eq!(contains_pattern("50%_off\\").unwrap(), "%50\\%\\_off\\\\%");
    }
}
