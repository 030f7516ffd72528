//! Orders, payments and vouchers: the saga's states and the shapes every client sees.
//!
//! Order:   ordered -> paid | payment_failed | cancelled | expired;  paid -> cancelled
//! Payment: pending -> completed | failed | refund_pending | voided;
//!          completed -> refund_pending;  refund_pending -> refunded | voided;
//!          voided -> refund_pending | refunded
//!
//! `expired`: still unpaid at the payment deadline (the worker's sweep, `server/src/payment/
//! expire.rs`); its payment is `voided` then. A charge that surfaces after a payment was
//! voided (it landed at the gateway while the order expired) is given back: `voided ->
//! refund_pending` when it is recorded, `voided -> refunded` when the worker finds and
//! refunds it in one turn.
//!
//! `can_become` below is the one definition the code asks before it moves a status; the
//! database enforces the same machines (trigger `orders_check_transition`), and the test
//! `server/tests/api/status_machine.rs` walks every (from, to) pair of both to check that
//! the two agree.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::fields::FieldError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Ordered,
    Paid,
    PaymentFailed,
    Cancelled,
    /// Not paid by the payment deadline: the units went back.
    Expired,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Completed,
    Failed,
    RefundPending,
    Refunded,
    /// Cancelled before any money moved.
    Voided,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        Self::Ordered,
        Self::Paid,
        Self::PaymentFailed,
        Self::Cancelled,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ordered => "ordered",
            Self::Paid => "paid",
            Self::PaymentFailed => "payment_failed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        self == next
            || matches!(
                (self, next),
                (Ordered, Paid | PaymentFailed | Cancelled | Expired) | (Paid, Cancelled)
            )
    }

    /// A customer may cancel an order that is not cancelled yet and may still become
    /// cancelled (and has no redeemed voucher).
    pub fn cancellable(self) -> bool {
        self != Self::Cancelled && self.can_become(Self::Cancelled)
    }
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 6] = [
        Self::Pending,
        Self::Completed,
        Self::Failed,
        Self::RefundPending,
        Self::Refunded,
        Self::Voided,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::RefundPending => "refund_pending",
            Self::Refunded => "refunded",
            Self::Voided => "voided",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn can_become(self, next: PaymentStatus) -> bool {
        use PaymentStatus::*;
        self == next
            || matches!(
                (self, next),
                (Pending, Completed | Failed | RefundPending | Voided)
                    | (Completed, RefundPending)
                    | (RefundPending, Refunded | Voided)
                    | (Voided, RefundPending | Refunded)
            )
    }
}

/// An order's two statuses together: what a step of the saga moves, and what every
/// event that changes a status carries (the state after the change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderState {
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
}

/// A move the status machines refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForbiddenMove {
    pub from: OrderState,
    pub to: OrderState,
}

impl std::fmt::Display for ForbiddenMove {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} cannot become {}/{}",
            self.from.status.as_str(),
            self.from.payment_status.as_str(),
            self.to.status.as_str(),
            self.to.payment_status.as_str()
        )
    }
}

impl OrderState {
    pub const fn new(status: OrderStatus, payment_status: PaymentStatus) -> OrderState {
        OrderState {
            status,
            payment_status,
        }
    }

    /// A new order: nothing charged yet.
    pub const PLACED: OrderState = Self::new(OrderStatus::Ordered, PaymentStatus::Pending);
    /// Charged.
    pub const PAID: OrderState = Self::new(OrderStatus::Paid, PaymentStatus::Completed);
    /// The gateway declined the charge.
    pub const PAYMENT_FAILED: OrderState =
        Self::new(OrderStatus::PaymentFailed, PaymentStatus::Failed);
    /// Cancelled; the payment worker refunds the charge or voids the payment next.
    pub const CANCELLED: OrderState =
        Self::new(OrderStatus::Cancelled, PaymentStatus::RefundPending);
    /// Not paid by the deadline; the worker still asks the gateway once whether a charge
    /// landed (and gives it back).
    pub const EXPIRED: OrderState = Self::new(OrderStatus::Expired, PaymentStatus::Voided);

    /// The same order status with another payment status.
    pub const fn with_payment(self, payment_status: PaymentStatus) -> OrderState {
        Self::new(self.status, payment_status)
    }

    /// Both statuses may make this move (keeping one, or both, is always allowed).
    pub fn can_become(self, next: OrderState) -> bool {
        self.status.can_become(next.status) && self.payment_status.can_become(next.payment_status)
    }

    /// `next`, if the machines allow the move: what code that moves a status asks first.
    pub fn to(self, next: OrderState) -> Result<OrderState, ForbiddenMove> {
        if self.can_become(next) {
            Ok(next)
        } else {
            Err(ForbiddenMove {
                from: self,
                to: next,
            })
        }
    }
}

/// Who cancelled an order (the column `orders.cancelled_by`, and `OrderCancelled`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CancelledBy {
    Customer,
    Owner,
}

impl CancelledBy {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelledBy::Customer => "customer",
            CancelledBy::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "customer" => Some(Self::Customer),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
}

/// How many units one purchase may have.
pub const MAX_QUANTITY: i64 = 100;

pub fn parse_quantity(value: i64) -> Result<i32, FieldError> {
    if (1..=MAX_QUANTITY).contains(&value) {
        Ok(value as i32)
    } else {
        Err(FieldError::OutOfRange {
            min: 1,
            max: MAX_QUANTITY,
        })
    }
}

/// How many units of one coupon a customer may still buy: the buy bar's stepper stops
/// there and the page says it. Admission (`orders::admission`) decides again with the
/// coupon row locked; this is the same rule read without the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyAllowance {
    /// The coupon's limit per customer, if it has one.
    pub limit: Option<i32>,
    /// Units this customer holds in live orders (ordered or paid).
    pub held: i64,
    /// The most one purchase may ask for now (0: nothing left to buy).
    pub may_buy: i64,
}

impl BuyAllowance {
    pub fn new(limit: Option<i32>, held: i64, stock_left: i32) -> Self {
        let by_limit = limit.map_or(MAX_QUANTITY, |l| i64::from(l) - held);
        let may_buy = by_limit.min(i64::from(stock_left)).clamp(0, MAX_QUANTITY);
        BuyAllowance {
            limit,
            held,
            may_buy,
        }
    }

    /// Units left under the per-customer limit (`None` without a limit).
    pub fn left_under_limit(&self) -> Option<i64> {
        self.limit.map(|l| (i64::from(l) - self.held).max(0))
    }
}

/// Longest cancellation reason kept, in characters (longer ones are cut).
pub const MAX_REASON: usize = 500;

/// A refund's or cancellation's reason as stored: trimmed, `None` when empty, cut to
/// `MAX_REASON` characters; a NUL or another control character (line breaks aside) is
/// `Invalid`.
pub fn parse_reason(value: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    super::fields::check_text(v)?;
    Ok(Some(v.chars().take(MAX_REASON).collect()))
}

/// An idempotency key (the API's `Idempotency-Key` header, the buy form's hidden field):
/// 1 to 100 characters of text after trimming. The same check in both, so a key the API
/// refuses is never silently dropped by the form.
pub fn parse_idempotency_key(value: &str) -> Result<String, &'static str> {
    let key = value.trim();
    if key.chars().any(char::is_control) {
        return Err("Idempotency-Key must be text");
    }
    if key.is_empty() || key.chars().count() > 100 {
        return Err("Idempotency-Key must be 1 to 100 characters");
    }
    Ok(key.to_string())
}

/// `POST /api/v1/orders` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BuyInput {
    pub coupon_id: Uuid,
    pub quantity: i64,
}

/// An order as the API returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OrderView {
    pub id: Uuid,
    pub coupon_id: Uuid,
    pub quantity: i32,
    pub unit_price: i64,
    pub amount: i64,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub ordered_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub refunded_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VoucherView {
    pub code: String,
    pub redeemed_at: Option<DateTime<Utc>>,
    /// `active`, `redeemed`, or `cancelled` (its unit was cancelled: void).
    pub status: super::refund::VoucherStatus,
}

/// One row of "my page" (the read model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MyPageRow {
    pub order_id: Uuid,
    pub coupon_id: Uuid,
    pub coupon_name: String,
    pub shop_name: String,
    pub quantity: i32,
    pub unit_price: i64,
    pub amount: i64,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub ordered_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub refunded_at: Option<DateTime<Utc>>,
    /// Set once the order is cancelled.
    pub cancelled_by: Option<CancelledBy>,
    /// The shop's reason, when the owner refunded with one.
    pub cancel_reason: Option<String>,
    pub vouchers_issued: i32,
    pub vouchers_redeemed: i32,
    pub vouchers: Vec<VoucherView>,
    /// Units cancelled so far (their vouchers are `cancelled`).
    pub cancelled_quantity: i32,
    /// KRW given back (or being given back) for the cancelled units.
    pub refunded_amount: i64,
}

impl MyPageRow {
    /// Units the customer may still cancel: an unpaid order's remaining units, a paid
    /// order's active vouchers.
    pub fn cancellable_units(&self) -> i32 {
        match self.status {
            OrderStatus::Ordered => self.quantity - self.cancelled_quantity,
            OrderStatus::Paid => self
                .vouchers
                .iter()
                .filter(|v| v.status == super::refund::VoucherStatus::Active)
                .count() as i32,
            _ => 0,
        }
    }

    pub fn cancellable(&self) -> bool {
        self.status.cancellable() && self.cancellable_units() > 0
    }

    /// Still waiting for the payment side (the page refreshes itself meanwhile).
    pub fn in_flight(&self) -> bool {
        matches!(
            self.payment_status,
            PaymentStatus::Pending | PaymentStatus::RefundPending
        )
    }
}

/// Per-coupon figures on the owner's dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CouponStats {
    pub coupon_id: Uuid,
    pub name: String,
    pub stock_left: i32,
    pub sold: i64,
    pub revenue: i64,
    pub cancelled: i64,
    pub refunded: i64,
    pub redeemed: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RecentOrder {
    pub order_id: Uuid,
    pub coupon_name: String,
    pub quantity: i32,
    pub amount: i64,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub ordered_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SalesPoint {
    pub day: DateTime<Utc>,
    pub units: i64,
    pub revenue: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Dashboard {
    pub shop_name: String,
    pub coupons: Vec<CouponStats>,
    pub recent_orders: Vec<RecentOrder>,
    pub sales: Vec<SalesPoint>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_transitions() {
        use OrderStatus::*;
        assert!(
            Ordered.can_become(Paid)
                && Ordered.can_become(PaymentFailed)
                && Ordered.can_become(Cancelled)
        );
        assert!(Paid.can_become(Cancelled));
        assert!(
            !Paid.can_become(Ordered)
                && !Cancelled.can_become(Paid)
                && !PaymentFailed.can_become(Paid)
        );
        assert!(!Cancelled.can_become(Ordered) && !PaymentFailed.can_become(Cancelled));
        assert!(Ordered.can_become(Expired));
        assert!(!Expired.can_become(Cancelled) && !Expired.can_become(Paid));
        assert!(!Paid.can_become(Expired) && !Cancelled.can_become(Expired));
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn payment_transitions() {
        use PaymentStatus::*;
        assert!(
            Pending.can_become(Completed)
                && Completed.can_become(RefundPending)
                && RefundPending.can_become(Refunded)
        );
        assert!(
            !Refunded.can_become(RefundPending)
                && !Completed.can_become(Refunded)
                && !Failed.can_become(Completed)
        );
        // A charge found after the payment was voided is given back.
        assert!(Voided.can_become(RefundPending) && Voided.can_become(Refunded));
        assert!(!Voided.can_become(Completed) && !Refunded.can_become(Voided));
        for s in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn order_states_move_when_both_statuses_may() {
        use OrderState as S;
        assert_eq!(S::PLACED.to(S::PAID), Ok(S::PAID));
        assert!(S::PLACED.can_become(S::PAYMENT_FAILED) && S::PLACED.can_become(S::CANCELLED));
        assert!(S::PAID.can_become(S::CANCELLED));
        let refunded = S::CANCELLED.with_payment(PaymentStatus::Refunded);
        assert!(S::CANCELLED.can_become(refunded));
        assert!(!S::PAYMENT_FAILED.can_become(S::CANCELLED));
        assert!(!refunded.can_become(S::CANCELLED));
        // The order status may move while the payment status may not: refused.
        assert!(!S::new(OrderStatus::Ordered, PaymentStatus::Failed).can_become(S::CANCELLED));
        let err = S::PAID.to(S::PLACED).unwrap_err();
        assert_eq!(
            err.to_string(),
            "paid/completed cannot become ordered/pending"
        );
        assert!(S::PLACED.can_become(S::EXPIRED));
        assert!(!S::EXPIRED.can_become(S::CANCELLED) && !S::PAID.can_become(S::EXPIRED));
        let late = S::EXPIRED.with_payment(PaymentStatus::RefundPending);
        assert!(S::EXPIRED.can_become(late));
        assert!(late.can_become(S::EXPIRED.with_payment(PaymentStatus::Refunded)));
        for s in OrderStatus::ALL {
            assert_eq!(
                s.cancellable(),
                matches!(s, OrderStatus::Ordered | OrderStatus::Paid)
            );
        }
    }

    #[test]
    fn quantity_edges() {
        assert!(parse_quantity(0).is_err());
        assert!(parse_quantity(-1).is_err());
        assert_eq!(parse_quantity(1), Ok(1));
        assert_eq!(parse_quantity(MAX_QUANTITY), Ok(MAX_QUANTITY as i32));
        assert!(parse_quantity(MAX_QUANTITY + 1).is_err());
    }

    #[test]
    fn allowance_is_the_smallest_of_limit_left_stock_and_one_purchase() {
        let a = BuyAllowance::new(Some(5), 2, 50);
        assert_eq!((a.may_buy, a.left_under_limit()), (3, Some(3)));
        assert_eq!(
            BuyAllowance::new(Some(5), 2, 1).may_buy,
            1,
            "stock is lower"
        );
        assert_eq!(BuyAllowance::new(None, 7, 1_000).may_buy, MAX_QUANTITY);
        assert_eq!(BuyAllowance::new(None, 7, 1_000).left_under_limit(), None);
        let reached = BuyAllowance::new(Some(2), 2, 10);
        assert_eq!((reached.may_buy, reached.left_under_limit()), (0, Some(0)));
        // Held above the limit (the owner lowered it later): nothing, never negative.
        let lowered = BuyAllowance::new(Some(1), 3, 10);
        assert_eq!((lowered.may_buy, lowered.left_under_limit()), (0, Some(0)));
        assert_eq!(BuyAllowance::new(Some(5), 0, 0).may_buy, 0, "sold out");
    }

    #[test]
    fn reasons_are_trimmed_cut_and_plain() {
        assert_eq!(parse_reason(None), Ok(None));
        assert_eq!(parse_reason(Some("  ")), Ok(None));
        assert_eq!(
            parse_reason(Some(" Sold out\nof beans ")),
            Ok(Some("Sold out\nof beans".into()))
        );
        assert_eq!(
            parse_reason(Some(&"가".repeat(600)))
                .unwrap()
                .unwrap()
                .chars()
                .count(),
            MAX_REASON
        );
        assert_eq!(parse_reason(Some("beans\u{0}")), Err(FieldError::Invalid));
    }

    #[test]
    fn idempotency_keys_are_one_to_a_hundred_characters() {
        assert_eq!(parse_idempotency_key(" k-1 ").as_deref(), Ok("k-1"));
        assert!(parse_idempotency_key(&"k".repeat(100)).is_ok());
        for bad in ["", "   ", &"k".repeat(101)] {
            assert_eq!(
                parse_idempotency_key(bad),
                Err("Idempotency-Key must be 1 to 100 characters")
            );
        }
        assert_eq!(
            parse_idempotency_key("a\u{0}b"),
            Err("Idempotency-Key must be text")
        );
    }
}
