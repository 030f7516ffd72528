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
    /// Goes up with each password change (`auth::versions`).
    pub password_version: i32,
}

pub async fn find_credentials(
    conn: &mut PgConnection,
    email: &str,
) -> Result<Option<Credentials>, AppError> {
    let row = sqlx::query!(
        "select id, role, password_hash, password_version from users where email = $1",
        email
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(Credentials {
            id: r.id,
            role: role_from_db(&r.role)?,
            password_hash: r.password_hash,
            password_version: r.password_version,
        })
    })
    .transpose()
}

/// The credentials of the user `id`.
pub async fn credentials_by_id(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Credentials>, AppError> {
    let row = sqlx::query!(
        "select id, role, password_hash, password_version from users where id = $1",
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(Credentials {
            id: r.id,
            role: role_from_db(&r.role)?,
            password_hash: r.password_hash,
            password_version: r.password_version,
        })
    })
    .transpose()
}

/// Replaces the password of version `checked` (the one whose hash the caller verified):
/// the hash, and the next version (sessions and tokens of the old one end). Returns the
/// new version; `None` when the password changed since it was checked.
pub async fn set_password(
    conn: &mut PgConnection,
    id: Uuid,
    checked: i32,
    password_hash: &str,
) -> Result<Option<i32>, AppError> {
    Ok(sqlx::query_scalar!(
        "update users set password_hash = $3, password_version = password_version + 1
         where id = $1 and password_version = $2 returning password_version",
        id,
        checked,
        password_hash
    )
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn find_user(conn: &mut PgConnection, id: Uuid) -> Result<Option<UserView>, AppError> {
    let row = sqlx::query!(
        r#"select u.id, u.email, u.name, u.role, s.name as "shop_name?",
                  (select count(*) from notifications n
                   where n.user_id = u.id and n.read_at is null) as "unread!"
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
            unread_notifications: r.unread,
        })
    })
    .transpose()
}

/// A log-in attempt for an e-mail from one client, as [`claim_login_attempt`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginClaim {
    /// This client used up its failures for this e-mail: try again in this many seconds.
    Refused { retry_after_secs: u64 },
    /// The attempt is recorded (as a failure until the password proves right), and other
    /// addresses failed this many times for the e-mail within the window.
    Claimed { failures_elsewhere: i64 },
}

/// Counts and records one log-in attempt for (`email`, `client`) in one step, inside the
/// caller's transaction: refused when the newest `max_failures` attempts of this pair are
/// all within the window, else recorded. A transaction-scoped advisory lock per pair makes
/// concurrent claims wait for each other, so they cannot all see room for one more; the
/// row stays (as a failure) unless `clear_login_failures` removes it after a right
/// password.
pub async fn claim_login_attempt(
    tx: &mut PgConnection,
    email: &str,
    client: &str,
    max_failures: i64,
    window_secs: i64,
) -> Result<LoginClaim, AppError> {
    // Not `query!`: the function returns `void`, which the macros cannot describe.
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 0))")
        .bind(email)
        .bind(client)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "delete from login_failures where email = $1 and failed_at < now() - make_interval(secs => $2)",
        email,
        window_secs as f64
    )
    .execute(&mut *tx)
    .await?;
    // The oldest failure among this pair's newest `max_failures` decides when a slot frees.
    let row = sqlx::query!(
        r#"select count(*) as "count!",
                  min(failed_at) as "oldest: chrono::DateTime<chrono::Utc>"
           from (select failed_at from login_failures
                 where email = $1 and client_ip = $2
                 order by failed_at desc limit $3) recent"#,
        email,
        client,
        max_failures,
    )
    .fetch_one(&mut *tx)
    .await?;
    if row.count >= max_failures {
        let oldest = row.oldest.unwrap_or_else(chrono::Utc::now);
        let free_at = oldest + chrono::Duration::seconds(window_secs);
        let retry_after_secs = (free_at - chrono::Utc::now()).num_seconds().max(1) as u64;
        return Ok(LoginClaim::Refused { retry_after_secs });
    }
    let failures_elsewhere = sqlx::query_scalar!(
        r#"select count(*) as "count!" from login_failures
           where email = $1 and client_ip is distinct from $2"#,
        email,
        client,
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into login_failures (email, client_ip) values ($1, $2)",
        email,
        client
    )
    .execute(&mut *tx)
    .await?;
    Ok(LoginClaim::Claimed { failures_elsewhere })
}

/// After a right password: the pair's recorded attempts are forgotten (other addresses'
/// failures for the e-mail stay).
pub async fn clear_login_failures(
    conn: &mut PgConnection,
    email: &str,
    client: &str,
) -> Result<(), AppError> {
    sqlx::query!(
        "delete from login_failures where email = $1 and client_ip = $2",
        email,
        client
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
