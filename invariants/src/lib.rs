//! # The purchase saga's invariants, in one place
//!
//! What must hold for a set of orders (one coupon's, or all of them) once purchases have
//! been answered, read from PostgreSQL and the payment gateway's ledger
//! ([`paygate::Ledger`]). The server tests, the benchmark (`bench`) and the operations
//! tests (`ops`) all check the same list:
//!
//! | [`Invariant`] | what holds |
//! |---|---|
//! | `Stock` | stock never negative; initial stock = stock left + units held for the restock waitlist + units of live (`ordered`, `paid`) orders |
//! | `Answers` | orders = 201 answers: every order id answered is an order, no two purchases got the same one, and (unless a fault may have cut answers) every order was answered |
//! | `OrderPlaced` | exactly one `OrderPlaced` event per order |
//! | `Charges` | one charge per paid order (its amount, its payment key), a charge and one refund per refunded order, none for the others; no ledger entry for an order not checked |
//! | `PaymentEvents` | one `PaymentCompleted` / `PaymentFailed` / `PaymentRefunded` for a payment in that state |
//! | `Vouchers` | a paid order has one voucher per unit; an unpaid (`ordered`, `payment_failed`, `expired`) one has none |
//! | `ReadModel` | the order's my-page row exists and shows its statuses |
//! | `PaymentWork` | an order whose payment is not final has a payment job (else it is stuck) |
//! | `Settled` | (when asked) every order is final and no payment job is left |
//! | `NoCancellations` | (when asked) no order was cancelled and nothing refunded |
//!
//! [`Snapshot::load`] reads the state (one read-only, repeatable-read transaction);
//! [`check`] is a pure function of it, so each invariant has a unit test that feeds it a
//! broken state; [`verify`] does both.

mod check;
mod snapshot;

use std::fmt;

pub use check::check;
pub use snapshot::{Order, Scope, Snapshot};

/// Reads the state of `scope` (with `ledger`, the gateway's) and checks it.
pub async fn verify(
    pool: &sqlx::PgPool,
    scope: Scope<'_>,
    ledger: &paygate::Ledger,
    expect: &Expect<'_>,
) -> sqlx::Result<Report> {
    Ok(check(&Snapshot::load(pool, scope, ledger).await?, expect))
}

/// One of the saga's invariants (see the crate documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    Stock,
    Answers,
    OrderPlaced,
    Charges,
    PaymentEvents,
    Vouchers,
    ReadModel,
    PaymentWork,
    Settled,
    NoCancellations,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Invariant::Stock => "stock",
            Invariant::Answers => "orders = 201 answers",
            Invariant::OrderPlaced => "one OrderPlaced per order",
            Invariant::Charges => "ledger",
            Invariant::PaymentEvents => "payment events",
            Invariant::Vouchers => "vouchers",
            Invariant::ReadModel => "my page",
            Invariant::PaymentWork => "payment work",
            Invariant::Settled => "settled",
            Invariant::NoCancellations => "no cancellations",
        };
        f.write_str(name)
    }
}

/// A broken invariant, with what broke it (counts and a few order ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.message)
    }
}

/// What the caller knows about the run, and which optional invariants apply.
#[derive(Debug, Clone, Default)]
pub struct Expect<'a> {
    /// The coupon's stock before the run (checks `Stock`; needs a coupon snapshot).
    pub initial_stock: Option<i64>,
    /// The order id of every purchase answered 201, one per purchase (checks `Answers`).
    pub answered: Option<&'a [uuid::Uuid]>,
    /// Orders whose 201 never reached the client are tolerated and counted
    /// ([`Report::unanswered`]): a fault may cut an answer after the commit.
    pub unanswered_allowed: bool,
    /// The saga has run out (checks `Settled`).
    pub settled: bool,
    /// Nothing was cancelled (checks `NoCancellations`).
    pub no_cancellations: bool,
}

/// What [`check`] found: counts for the caller's report, and every broken invariant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub orders: usize,
    /// The coupon's stock left (coupon snapshots).
    pub stock: Option<i64>,
    /// Units of live (`ordered` or `paid`) orders.
    pub live_units: i64,
    pub paid: usize,
    pub paid_units: i64,
    pub failed: usize,
    pub cancelled: usize,
    /// Orders not paid by their payment deadline.
    pub expired: usize,
    /// Ledger charges and refunds of the orders checked.
    pub charges: usize,
    pub refunds: usize,
    /// Orders never answered 201 (when answers were given).
    pub unanswered: usize,
    pub violations: Vec<Violation>,
}

impl Report {
    pub fn holds(&self) -> bool {
        self.violations.is_empty()
    }

    /// Whether `invariant` is among the broken ones.
    pub fn broke(&self, invariant: Invariant) -> bool {
        self.violations.iter().any(|v| v.invariant == invariant)
    }

    /// Panics, listing every broken invariant, unless all hold.
    #[track_caller]
    pub fn assert_holds(&self) -> &Report {
        assert!(
            self.holds(),
            "saga invariants broken:\n  {}",
            self.violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  ")
        );
        self
    }
}
