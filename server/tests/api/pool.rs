//! The connection pool after sqlx's release ping was taken out (`vendor/README.md`): a
//! transaction dropped without commit is rolled back as its connection goes back to the
//! pool, not when that connection is next used, so its locks do not outlive it.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

#[sqlx::test(migrations = "../migrations")]
async fn a_dropped_transaction_lets_go_of_its_locks_at_once(pool: PgPool) {
    sqlx::query("create table pool_probe (n int primary key)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("insert into pool_probe values (1)")
        .execute(&pool)
        .await
        .unwrap();
    // A pool of its own, left idle afterwards: nothing else would flush its connection.
    let idle = PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    {
        let mut tx = idle.begin().await.unwrap();
        sqlx::query("select n from pool_probe where n = 1 for update")
            .execute(&mut *tx)
            .await
            .unwrap();
        // Dropped here without commit: sqlx queues a ROLLBACK on the connection.
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut other = pool.begin().await.unwrap();
    sqlx::query("set local lock_timeout = '2s'")
        .execute(&mut *other)
        .await
        .unwrap();
    let locked = sqlx::query("select n from pool_probe where n = 1 for update")
        .execute(&mut *other)
        .await;
    assert!(
        locked.is_ok(),
        "the row is still locked by the dropped transaction: {locked:?}"
    );
    drop(idle);
}
