//! SQL for accounts and login throttling.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{Role, UserView, ValidSignup};
use crate::error::{AppError, Conflict};

pub(crate) fn role_from_db(value: &str) -> Result<Role, AppError> {
    Role::parse(value).map_err(|_| {
        tracing::error!(value, "unknown role in the database");
        AppError::Internal
    })
}

/// Inserts the user (and the owner's shop). A taken e-mail is a 409 `email_taken`.
pub async fn insert_user(
    conn: &mut PgConnection,
    s: &ValidSignup,
    password_hash: &str,
) -> Result<Uuid, AppError> {
    let id = sqlx::query_scalar!(
        r#"insert into users (email, password_hash, name, role) values ($1, $2, $3, $4) returning id"#,
        s.email.as_str(),
        password_hash,
        s.name.as_str(),
        s.role.as_str(),
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("users_email_key") => {
            AppError::Conflict(Conflict::EmailTaken)
        }
        _ => e.into(),
    })?;
    if let Some(shop) = &s.shop_name {
        sqlx::query!(
            "insert into shops (owner_id, name) values ($1, $2)",
            id,
            shop.as_str()
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

pub struct Credentials {
    pub id: Uuid,
    pub role: Role,
    pub password_hash: String,
}

pub async fn find_credentials(
    conn: &mut PgConnection,
    email: &str,
) -> Result<Option<Credentials>, AppError> {
    let row = sqlx::query!(
        "select id, role, password_hash from users where email = $1",
        email
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(Credentials {
            id: r.id,
            role: role_from_db(&r.role)?,
            password_hash: r.password_hash,
        })
    })
    .transpose()
}

pub async fn find_user(conn: &mut PgConnection, id: Uuid) -> Result<Option<UserView>, AppError> {
    let row = sqlx::query!(
        r#"select u.id, u.email, u.name, u.role, s.name as "shop_name?"
           from users u left join shops s on s.owner_id = u.id
           where u.id = $1"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(UserView {
            user_id: r.id,
            email: r.email,
            name: r.name,
            role: role_from_db(&r.role)?,
            shop_name: r.shop_name,
        })
    })
    .transpose()
}

/// Seconds until the next login attempt for `email` is allowed, if it is throttled now.
pub async fn login_retry_after(
    conn: &mut PgConnection,
    email: &str,
    max_failures: i64,
    window_secs: i64,
) -> Result<Option<u64>, AppError> {
    // The oldest failure among the newest `max_failures` decides when a slot frees up.
    let row = sqlx::query!(
        r#"select count(*) as "count!",
                  min(failed_at) as "oldest: chrono::DateTime<chrono::Utc>"
           from (select failed_at from login_failures
                 where email = $1 and failed_at > now() - make_interval(secs => $2)
                 order by failed_at desc limit $3) recent"#,
        email,
        window_secs as f64,
        max_failures,
    )
    .fetch_one(&mut *conn)
    .await?;
    if row.count < max_failures {
        return Ok(None);
    }
    let oldest = row.oldest.unwrap_or_else(chrono::Utc::now);
    let free_at = oldest + chrono::Duration::seconds(window_secs);
    Ok(Some(
        (free_at - chrono::Utc::now()).num_seconds().max(1) as u64
    ))
}

pub async fn record_login_failure(
    conn: &mut PgConnection,
    email: &str,
    window_secs: i64,
) -> Result<(), AppError> {
    sqlx::query!(
        "delete from login_failures where email = $1 and failed_at < now() - make_interval(secs => $2)",
        email,
        window_secs as f64
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("insert into login_failures (email) values ($1)", email)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn clear_login_failures(conn: &mut PgConnection, email: &str) -> Result<(), AppError> {
    sqlx::query!("delete from login_failures where email = $1", email)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
