//! SQL for notifications. Every query names the user: one user never reads or changes
//! another's notifications (zero rows is "not yours or not there").

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{Notification, NotificationKind};
use crate::error::AppError;

struct Row {
    id: i64,
    kind: String,
    order_id: Option<Uuid>,
    coupon_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
    coupon_name: String,
    amount: Option<i64>,
}

impl Row {
    fn into_notification(self) -> Result<Notification, AppError> {
        let kind = NotificationKind::parse(&self.kind).ok_or_else(|| {
            tracing::error!(kind = %self.kind, "a notification kind this code does not know");
            AppError::Internal
        })?;
        Ok(Notification {
            id: self.id,
            kind,
            order_id: self.order_id,
            coupon_id: self.coupon_id,
            created_at: self.created_at,
            read_at: self.read_at,
            coupon_name: self.coupon_name,
            amount: self.amount,
        })
    }
}

fn convert(rows: Vec<Row>) -> Result<Vec<Notification>, AppError> {
    rows.into_iter().map(Row::into_notification).collect()
}

/// The user's notifications older than `before` (all when `None`), newest first.
pub async fn page(
    conn: &mut PgConnection,
    user_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Notification>, AppError> {
    convert(
        sqlx::query_as!(
            Row,
            r#"select id, kind, order_id, coupon_id, created_at as "created_at: DateTime<Utc>",
                      read_at as "read_at: DateTime<Utc>", coupon_name, amount
               from notifications
               where user_id = $1 and ($2::bigint is null or id < $2)
               order by id desc limit $3"#,
            user_id,
            before,
            limit
        )
        .fetch_all(&mut *conn)
        .await?,
    )
}

/// The user's notifications newer than `after`, oldest first (the newest `limit` of them).
pub async fn since(
    conn: &mut PgConnection,
    user_id: Uuid,
    after: i64,
    limit: i64,
) -> Result<Vec<Notification>, AppError> {
    let mut items = convert(
        sqlx::query_as!(
            Row,
            r#"select id, kind, order_id, coupon_id, created_at as "created_at: DateTime<Utc>",
                      read_at as "read_at: DateTime<Utc>", coupon_name, amount
               from notifications
               where user_id = $1 and id > $2
               order by id desc limit $3"#,
            user_id,
            after,
            limit
        )
        .fetch_all(&mut *conn)
        .await?,
    )?;
    items.reverse();
    Ok(items)
}

pub async fn unread(conn: &mut PgConnection, user_id: Uuid) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "n!" from notifications where user_id = $1 and read_at is null"#,
        user_id
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// The id of the user's newest notification (0 when none).
pub async fn latest_id(conn: &mut PgConnection, user_id: Uuid) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select coalesce(max(id), 0) as "id!" from notifications where user_id = $1"#,
        user_id
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Marks one of the user's notifications read; `NotFound` when it is not theirs. Reading
/// it again changes nothing.
pub async fn mark_read(conn: &mut PgConnection, user_id: Uuid, id: i64) -> Result<(), AppError> {
    let done = sqlx::query!(
        "update notifications set read_at = now() where id = $1 and user_id = $2 and read_at is null",
        id,
        user_id
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let theirs = sqlx::query_scalar!(
        r#"select exists (select 1 from notifications where id = $1 and user_id = $2) as "e!""#,
        id,
        user_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if theirs {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

pub async fn mark_all_read(conn: &mut PgConnection, user_id: Uuid) -> Result<(), AppError> {
    sqlx::query!(
        "update notifications set read_at = now() where user_id = $1 and read_at is null",
        user_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
