//! Least privilege in the database (issue 14 §5): the app runs as a role that may read and
//! write rows, nothing more. It cannot change the schema, truncate, rewrite or delete
//! events, or disable a trigger; the app refuses to start as a superuser or an owner, or
//! on a database without its migrations, which run as the migrator (at start or with
//! `server migrate`). And sqlx can talk TLS to PostgreSQL.

use reqwest::StatusCode;
use server::metrics::Metrics;
use server::startup::Application;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{Executor, PgPool};

use crate::helpers::{NewCoupon, RUNTIME_USER, TestApp, admin_password, runtime_pool, test_config};

/// The test database's URL as `user` (with the password of the tests' `DATABASE_URL`).
fn database_url(pool: &PgPool, user: Option<&str>) -> String {
    let mut url = reqwest::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    if let Some(user) = user {
        url.set_username(user).unwrap();
    }
    url.set_path(pool.connect_options().get_database().unwrap());
    url.to_string()
}

/// Runs `sql` as the app's role; the error it must fail with (SQLSTATE 42501, and a
/// message that says which privilege was missing).
async fn refused(app_pool: &PgPool, sql: &str, message: &str) {
    let err = app_pool
        .execute(sql)
        .await
        .err()
        .unwrap_or_else(|| panic!("the app's role may run: {sql}"));
    let db = err
        .as_database_error()
        .unwrap_or_else(|| panic!("{sql}: {err}"));
    assert_eq!(db.code().as_deref(), Some("42501"), "{sql}: {db}");
    assert!(db.message().contains(message), "{sql}: {db}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_app_role_cannot_change_the_schema_the_log_or_the_triggers(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    // Some events, written as the app writes them.
    let coupon = NewCoupon::named("Logged")
        .create_in_new_shop(&app, "Log Shop")
        .await
        .id;
    let token = app.customer("c@example.com").await;
    assert_eq!(
        app.buy(&token, &coupon, 1, None).await.status(),
        StatusCode::CREATED
    );
    let app_pool = &app.app_pool;
    let (user, superuser): (String, bool) = sqlx::query_as(
        "select current_user::text, rolsuper from pg_roles where rolname = current_user",
    )
    .fetch_one(app_pool)
    .await
    .unwrap();
    assert_eq!((user.as_str(), superuser), (RUNTIME_USER, false));
    let events: i64 = sqlx::query_scalar("select count(*) from events")
        .fetch_one(app_pool)
        .await
        .unwrap();
    assert!(events >= 1, "the app reads the log");

    // The log: no rewriting, no deleting, no truncating (refused for the privilege, before
    // the append-only trigger is even reached).
    let events_denied = "permission denied for table events";
    refused(app_pool, "update events set payload = '{}'", events_denied).await;
    refused(app_pool, "delete from events", events_denied).await;
    refused(app_pool, "truncate events", events_denied).await;
    // Its triggers stay on: only an owner may disable them, only a superuser may skip them.
    refused(
        app_pool,
        "alter table events disable trigger events_append_only",
        "must be owner of table events",
    )
    .await;
    refused(
        app_pool,
        "alter table events disable trigger all",
        "must be owner of table events",
    )
    .await;
    refused(
        app_pool,
        "set session_replication_role = replica",
        "permission denied to set parameter",
    )
    .await;
    refused(
        app_pool,
        "alter table orders disable trigger orders_check_transition",
        "must be owner of table orders",
    )
    .await;
    // No DDL, no TRUNCATE anywhere, no writing the migrations' bookkeeping.
    refused(
        app_pool,
        "alter table events add column note text",
        "must be owner of table events",
    )
    .await;
    refused(
        app_pool,
        "drop table events",
        "must be owner of table events",
    )
    .await;
    refused(
        app_pool,
        "create table scratch (x int)",
        "permission denied for schema public",
    )
    .await;
    refused(
        app_pool,
        "create function f() returns int language sql as 'select 1'",
        "permission denied for schema public",
    )
    .await;
    refused(
        app_pool,
        "truncate orders",
        "permission denied for table orders",
    )
    .await;
    refused(
        app_pool,
        "delete from _sqlx_migrations",
        "permission denied for table _sqlx_migrations",
    )
    .await;
    refused(
        app_pool,
        "create trigger t before insert on orders for each row execute function events_append_only()",
        "permission denied for table orders",
    )
    .await;

    // Nothing changed: the log is whole and its trigger on.
    let after: i64 = sqlx::query_scalar("select count(*) from events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(after, events);
    let enabled: String = sqlx::query_scalar(
        "select tgenabled::text from pg_trigger where tgname = 'events_append_only'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(enabled, "O");
}

/// A table a later migration creates (as the same owner) gets the app's row privileges by
/// itself (`alter default privileges`), still without TRUNCATE or DDL.
#[sqlx::test(migrations = "../migrations")]
async fn tables_of_later_migrations_get_row_privileges_only(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    pool.execute("create table later_feature (id int primary key, note text)")
        .await
        .unwrap();
    let app_pool = &app.app_pool;
    for sql in [
        "insert into later_feature values (1, 'a')",
        "update later_feature set note = 'b'",
        "select * from later_feature",
        "delete from later_feature",
    ] {
        app_pool
            .execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    refused(
        app_pool,
        "truncate later_feature",
        "permission denied for table later_feature",
    )
    .await;
    refused(
        app_pool,
        "alter table later_feature add column x int",
        "must be owner of table later_feature",
    )
    .await;
}

/// The app will not serve as a superuser, or as a role that owns its tables (an owner may
/// disable triggers, truncate, drop).
#[sqlx::test(migrations = "../migrations")]
async fn the_app_refuses_a_superuser_or_an_owner(pool: PgPool) {
    let err = Application::build_with_pool(test_config(), Metrics::detached(), pool.clone())
        .await
        .err()
        .expect("the app refuses the superuser");
    assert!(err.contains("is a superuser"), "{err}");
    assert!(err.contains("DATABASE_URL connects as"), "{err}");

    // A role that owns one table of the app.
    let owner = "coupan_test_owner";
    let password = admin_password();
    pool.execute(
        format!(
            "do $$ begin create role {owner} login; \
             exception when duplicate_object or unique_violation then null; end $$"
        )
        .as_str(),
    )
    .await
    .unwrap();
    if let Some(p) = &password {
        pool.execute(format!("alter role {owner} password '{}'", p.replace('\'', "''")).as_str())
            .await
            .unwrap();
    }
    pool.execute(format!("alter table vouchers owner to {owner}").as_str())
        .await
        .unwrap();
    let owner_pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&database_url(&pool, Some(owner)))
        .await
        .unwrap();
    let err = Application::build_with_pool(test_config(), Metrics::detached(), owner_pool.clone())
        .await
        .err()
        .expect("the app refuses an owner");
    assert!(
        err.contains("owns tables of the app (public.vouchers"),
        "{err}"
    );
    owner_pool.close().await;
}

/// On an empty database the app as its role refuses to start ("not migrated"); with
/// `COUPAN_MIGRATE_DATABASE_URL` it first migrates as that role and then serves as its own.
#[sqlx::test(migrations = false)]
async fn the_app_migrates_as_the_migrator_and_serves_as_its_role(pool: PgPool) {
    let config = test_config();
    let app_pool = runtime_pool(&pool, &config).await;
    let err = Application::build_with_pool(config.clone(), Metrics::detached(), app_pool.clone())
        .await
        .err()
        .expect("an unmigrated database is refused");
    assert!(err.contains("the database is not migrated"), "{err}");
    app_pool.close().await;

    let mut config = test_config();
    config.database_url = database_url(&pool, Some(RUNTIME_USER));
    config.migrate_database_url = Some(database_url(&pool, None));
    config.metrics_addr = None;
    let application = Application::build(config, Metrics::detached())
        .await
        .expect("migrates, then starts as the app's role");
    let base = format!("http://{}", application.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, server::db::MIGRATOR.iter().count());
    let app_sessions: i64 = sqlx::query_scalar(
        "select count(*) from pg_stat_activity where datname = current_database() and usename = $1",
    )
    .bind(RUNTIME_USER)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(app_sessions >= 1, "the app is connected as {RUNTIME_USER}");
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    // The app's own pool (its session cleanup keeps a handle): let the database go.
    sqlx::query(
        "select pg_terminate_backend(pid) from pg_stat_activity
         where datname = current_database() and usename = $1",
    )
    .bind(RUNTIME_USER)
    .execute(&pool)
    .await
    .unwrap();
}

/// `server migrate` applies the migrations with `COUPAN_MIGRATE_DATABASE_URL` and nothing
/// else (no JWT secret, no payment key); without it, it says what is missing.
#[sqlx::test(migrations = false)]
async fn the_migrate_command(pool: PgPool) {
    let run = |url: Option<String>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_server"));
        cmd.arg("migrate").env_clear().env("PATH", "/usr/bin:/bin");
        if let Some(url) = url {
            cmd.env("COUPAN_MIGRATE_DATABASE_URL", url);
        }
        cmd.output().unwrap()
    };
    let missing = tokio::task::spawn_blocking(move || run(None))
        .await
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let text = String::from_utf8_lossy(&missing.stderr);
    assert!(
        text.contains("COUPAN_MIGRATE_DATABASE_URL is not set"),
        "{text}"
    );

    let url = database_url(&pool, None);
    let done = tokio::task::spawn_blocking(move || run(Some(url)))
        .await
        .unwrap();
    let out =
        String::from_utf8_lossy(&done.stdout).to_string() + &String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{out}");
    assert!(
        !out.contains("postgres://"),
        "the URL is never printed: {out}"
    );
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, server::db::MIGRATOR.iter().count());
}

/// sqlx is built with TLS (rustls): with `sslmode=require` it asks the server for TLS and
/// then starts a TLS handshake. A fake server that says yes records the handshake.
#[tokio::test]
async fn sqlx_talks_tls_to_postgres() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 8];
        socket.read_exact(&mut request).await.unwrap();
        socket.write_all(b"S").await.unwrap();
        let mut head = [0u8; 5];
        socket.read_exact(&mut head).await.unwrap();
        (request, head)
    });
    let options = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username("nobody")
        .database("nothing")
        .ssl_mode(PgSslMode::Require);
    let attempt = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        sqlx::ConnectOptions::connect(&options),
    )
    .await;
    assert!(
        !matches!(attempt, Ok(Ok(_))),
        "no real server: the connection cannot succeed"
    );
    let (request, head) = tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("sqlx sent the TLS request and a handshake")
        .unwrap();
    // SSLRequest: length 8, code 80877103.
    assert_eq!(request, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    // A TLS handshake record.
    assert_eq!((head[0], head[1]), (0x16, 0x03), "{head:?}");
}
