//! Waking the worker loops as soon as payment work is queued: the `payment_jobs` table's
//! trigger sends `NOTIFY payment_jobs`; the loops also poll, so a lost notification only
//! delays work.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, watch};

/// Wakes the worker loops on `NOTIFY payment_jobs`. The LISTEN connection is opened again
/// whenever it breaks (PostgreSQL restarted, the connection was killed): right away by
/// sqlx when the database answers, else here, with a pause growing from 0.5 s to 5 s;
/// until then the loops poll. Once listening again the loops are woken, so that work
/// queued meanwhile does not wait for the next poll.
pub async fn listen(pool: PgPool, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    const FIRST_PAUSE: Duration = Duration::from_millis(500);
    const MAX_PAUSE: Duration = Duration::from_secs(5);
    let mut pause = FIRST_PAUSE;
    let mut lost = false;
    while !*shutdown.borrow() {
        let connect = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen("payment_jobs").await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match connect.await {
            Ok(l) => l,
            Err(e) => {
                if !lost {
                    tracing::warn!(error = %e, "cannot LISTEN for payment work; polling");
                    lost = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => return,
                }
                pause = (pause * 2).min(MAX_PAUSE);
                continue;
            }
        };
        if lost {
            tracing::info!("listening for payment work again");
        }
        pause = FIRST_PAUSE;
        wake.notify_waiters();
        loop {
            tokio::select! {
                n = listener.recv() => match n {
                    Ok(_) => wake.notify_waiters(),
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the LISTEN connection; polling until it is back");
                        lost = true;
                        break;
                    }
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}
