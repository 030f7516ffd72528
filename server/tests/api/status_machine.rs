//! One status machine: the database (trigger `orders_check_transition`) accepts exactly
//! the moves that `app::domain` (`can_become`, which production asks before it moves a
//! status) accepts, for every (from, to) pair of order status, of payment status, and of
//! both together.

use app::domain::{OrderState, OrderStatus, PaymentStatus};
use sqlx::PgPool;
use uuid::Uuid;

/// A customer and a coupon to hang orders on.
async fn customer_and_coupon(pool: &PgPool) -> (Uuid, Uuid) {
    let (owner, customer, shop, coupon) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    sqlx::query(
        "insert into users (id, email, password_hash, name, role) values
            ($1, 'owner@example.com', 'x', 'Owner', 'owner'),
            ($2, 'customer@example.com', 'x', 'Customer', 'customer');
         ",
    )
    .bind(owner)
    .bind(customer)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("insert into shops (id, owner_id, name) values ($1, $2, 'Shop')")
        .bind(shop)
        .bind(owner)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into coupons (id, shop_id, name, price, stock) values ($1, $2, 'Coupon', 1000, 10)",
    )
    .bind(coupon)
    .bind(shop)
    .execute(pool)
    .await
    .unwrap();
    (customer, coupon)
}

/// Makes an order in `from` (an insert is not a move), tries to move it to `to`; `true`
/// if the database accepted, `false` if the transition trigger refused (any other error
/// fails the test).
async fn database_accepts(
    pool: &PgPool,
    fixture: (Uuid, Uuid),
    from: OrderState,
    to: OrderState,
) -> bool {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into orders (id, customer_id, coupon_id, quantity, unit_price, amount, status, payment_status)
         values ($1, $2, $3, 1, 1000, 1000, $4, $5)",
    )
    .bind(id)
    .bind(fixture.0)
    .bind(fixture.1)
    .bind(from.status.as_str())
    .bind(from.payment_status.as_str())
    .execute(pool)
    .await
    .unwrap();
    let moved = sqlx::query("update orders set status = $2, payment_status = $3 where id = $1")
        .bind(id)
        .bind(to.status.as_str())
        .bind(to.payment_status.as_str())
        .execute(pool)
        .await;
    match moved {
        Ok(done) => {
            assert_eq!(done.rows_affected(), 1);
            true
        }
        Err(sqlx::Error::Database(e))
            if matches!(
                e.constraint(),
                Some("orders_status_transition" | "orders_payment_status_transition")
            ) =>
        {
            false
        }
        Err(e) => panic!("{from:?} -> {to:?}: {e}"),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_database_accepts_exactly_the_order_status_moves_of_the_rust_machine(pool: PgPool) {
    let fixture = customer_and_coupon(&pool).await;
    let payment = PaymentStatus::Pending;
    let mut accepted = 0;
    for from in OrderStatus::ALL {
        for to in OrderStatus::ALL {
            let db = database_accepts(
                &pool,
                fixture,
                OrderState::new(from, payment),
                OrderState::new(to, payment),
            )
            .await;
            assert_eq!(db, from.can_become(to), "order status {from:?} -> {to:?}");
            accepted += usize::from(db);
        }
    }
    // Five that keep their status, five moves.
    assert_eq!(accepted, 10);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_database_accepts_exactly_the_payment_status_moves_of_the_rust_machine(pool: PgPool) {
    let fixture = customer_and_coupon(&pool).await;
    let status = OrderStatus::Ordered;
    let mut accepted = 0;
    for from in PaymentStatus::ALL {
        for to in PaymentStatus::ALL {
            let db = database_accepts(
                &pool,
                fixture,
                OrderState::new(status, from),
                OrderState::new(status, to),
            )
            .await;
            assert_eq!(db, from.can_become(to), "payment status {from:?} -> {to:?}");
            accepted += usize::from(db);
        }
    }
    // Six that keep their status, nine moves.
    assert_eq!(accepted, 15);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_database_accepts_exactly_the_order_state_moves_of_the_rust_machine(pool: PgPool) {
    let fixture = customer_and_coupon(&pool).await;
    let states: Vec<OrderState> = OrderStatus::ALL
        .into_iter()
        .flat_map(|s| {
            PaymentStatus::ALL
                .into_iter()
                .map(move |p| OrderState::new(s, p))
        })
        .collect();
    for &from in &states {
        for &to in &states {
            let db = database_accepts(&pool, fixture, from, to).await;
            assert_eq!(db, from.can_become(to), "{from:?} -> {to:?}");
            assert_eq!(from.to(to).is_ok(), db);
        }
    }
}
