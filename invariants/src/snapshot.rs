//! The state the invariants are checked on, and how it is read from PostgreSQL.

use paygate::{Ledger, LedgerEntry};
use sqlx::PgPool;
use uuid::Uuid;

/// One order as the checks see it: its row, and what other tables hold about it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Order {
    pub id: Uuid,
    pub status: String,
    pub payment_status: String,
    /// Its units not cancelled.
    pub quantity: i64,
    pub amount: i64,
    pub payment_key: Option<String>,
    /// Events of the order, by type.
    pub placed_events: i64,
    pub completed_events: i64,
    pub failed_events: i64,
    pub refunded_events: i64,
    /// Its vouchers not cancelled.
    pub vouchers: i64,
    /// The statuses on its my-page row (`None`: no row).
    pub mypage_status: Option<String>,
    pub mypage_payment_status: Option<String>,
    /// A payment job is queued for it.
    pub queued: bool,
    /// What its refunds of cancelled units add up to (`None`: it has none; a cancelled
    /// order's charge is then given back whole).
    pub refunds_owed: Option<i64>,
}

/// Which orders a snapshot holds.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// One coupon's orders and its stock; ledger entries of other orders are left out.
    Coupon(Uuid),
    /// Every order except those with this `request_id` (rows seeded without the
    /// gateway); every ledger entry must then belong to one of them.
    AllExcept(Option<&'a str>),
}

/// Orders, a coupon's stock, and the ledger entries to check them against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The coupon's stock now (a [`Scope::Coupon`] snapshot): what the public can buy.
    pub stock: Option<i64>,
    /// Its units held for its restock waitlist, outside `stock` (a coupon snapshot).
    pub held: Option<i64>,
    pub orders: Vec<Order>,
    pub ledger: Vec<LedgerEntry>,
}

const ORDERS: &str = "
    select o.id, o.status, o.payment_status, (o.quantity - o.cancelled_quantity)::bigint as quantity, o.amount,
           o.payment_key, e.placed_events, e.completed_events, e.failed_events,
           e.refunded_events,
           (select count(*) from vouchers v where v.order_id = o.id and v.cancelled_at is null) as vouchers,
           m.status as mypage_status, m.payment_status as mypage_payment_status,
           exists (select 1 from payment_jobs j where j.order_id = o.id) as queued,
           (select sum(r.amount)::bigint from refunds r where r.order_id = o.id) as refunds_owed
    from orders o
    left join mypage m on m.order_id = o.id
    cross join lateral (
        select count(*) filter (where event_type = 'OrderPlaced') as placed_events,
               count(*) filter (where event_type = 'PaymentCompleted') as completed_events,
               count(*) filter (where event_type = 'PaymentFailed') as failed_events,
               count(*) filter (where event_type = 'PaymentRefunded') as refunded_events
        from events where aggregate_id = o.id) e";

impl Snapshot {
    /// Reads the orders of `scope` in one read-only, repeatable-read transaction (one
    /// consistent state) and keeps the entries of `ledger` that the scope checks.
    pub async fn load(pool: &PgPool, scope: Scope<'_>, ledger: &Ledger) -> sqlx::Result<Snapshot> {
        let mut tx = pool.begin().await?;
        sqlx::query("set transaction isolation level repeatable read, read only")
            .execute(&mut *tx)
            .await?;
        let (stock, orders) = match scope {
            Scope::Coupon(coupon) => {
                let (stock, held): (i64, i64) =
                    sqlx::query_as("select stock::bigint, held::bigint from coupons where id = $1")
                        .bind(coupon)
                        .fetch_one(&mut *tx)
                        .await?;
                let orders: Vec<Order> = sqlx::query_as(&format!(
                    "{ORDERS} where o.coupon_id = $1 order by o.ordered_at, o.id"
                ))
                .bind(coupon)
                .fetch_all(&mut *tx)
                .await?;
                (Some((stock, held)), orders)
            }
            Scope::AllExcept(request_id) => {
                let orders: Vec<Order> = sqlx::query_as(&format!(
                    "{ORDERS} where $1::text is null or o.request_id is distinct from $1
                     order by o.ordered_at, o.id"
                ))
                .bind(request_id)
                .fetch_all(&mut *tx)
                .await?;
                (None, orders)
            }
        };
        tx.commit().await?;
        let mut snapshot = Snapshot {
            stock: stock.map(|(s, _)| s),
            held: stock.map(|(_, h)| h),
            orders,
            ledger: ledger.entries.clone(),
        };
        if let Scope::Coupon(_) = scope {
            snapshot.keep_own_entries();
        }
        Ok(snapshot)
    }

    /// Drops the ledger entries of orders not in the snapshot.
    fn keep_own_entries(&mut self) {
        let ids: std::collections::HashSet<Uuid> = self.orders.iter().map(|o| o.id).collect();
        self.ledger
            .retain(|e| e.order_id.parse().is_ok_and(|id: Uuid| ids.contains(&id)));
    }
}
