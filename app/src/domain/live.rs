//! What the live streams carry: a coupon's stock as it changes, and notifications.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CouponStatus, SaleState};

/// `event: stock` of `GET /api/v1/coupons/{id}/live`: a coupon's stock right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LiveStock {
    pub coupon_id: Uuid,
    /// Units anyone may buy (the coupon's `stock_left`).
    pub stock_left: i32,
    /// Units held for people on the restock waitlist, besides `stock_left`.
    pub held: i32,
    /// The owner's switch.
    pub on_sale: bool,
}

impl LiveStock {
    /// The coupon's sale state as the page rendered it, with this stock: what the badge and
    /// the buy box follow (the sale window comes from the page; only these fields move live).
    pub fn applied_to(&self, state: SaleState) -> SaleState {
        SaleState {
            stock_left: self.stock_left,
            on_sale: self.on_sale,
            ..state
        }
    }
}

/// The status shown for a coupon with the latest live stock, if any.
pub fn live_status(state: SaleState, live: Option<LiveStock>, now: DateTime<Utc>) -> CouponStatus {
    match live {
        Some(l) => l.applied_to(state).status_at(now),
        None => state.status_at(now),
    }
}

/// What a notification is about. Customers: `PaymentCompleted` .. `OrderExpired`; shop
/// owners: `SoldOut`, `OrderCancelled`. The database keeps the same list (a check on
/// `notifications.kind`); `server/tests/api/notifications.rs` compares the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    PaymentCompleted,
    PaymentFailed,
    Refunded,
    /// A cancelled order was never charged.
    PaymentVoided,
    VoucherRedeemed,
    /// A unit came back and is held for the customer (restock waitlist).
    RestockHold,
    /// The order was not paid in time.
    OrderExpired,
    SoldOut,
    /// A customer cancelled an order of the shop.
    OrderCancelled,
    /// The order's vouchers reach their use-by date soon (30 or 7 days); 90% of their price
    /// stays refundable after it (the amount).
    VoucherExpiring,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 10] = [
        NotificationKind::PaymentCompleted,
        NotificationKind::PaymentFailed,
        NotificationKind::Refunded,
        NotificationKind::PaymentVoided,
        NotificationKind::VoucherRedeemed,
        NotificationKind::RestockHold,
        NotificationKind::OrderExpired,
        NotificationKind::SoldOut,
        NotificationKind::OrderCancelled,
        NotificationKind::VoucherExpiring,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::PaymentCompleted => "payment_completed",
            NotificationKind::PaymentFailed => "payment_failed",
            NotificationKind::Refunded => "refunded",
            NotificationKind::PaymentVoided => "payment_voided",
            NotificationKind::VoucherRedeemed => "voucher_redeemed",
            NotificationKind::RestockHold => "restock_hold",
            NotificationKind::OrderExpired => "order_expired",
            NotificationKind::SoldOut => "sold_out",
            NotificationKind::OrderCancelled => "order_cancelled",
            NotificationKind::VoucherExpiring => "voucher_expiring",
        }
    }

    pub fn parse(s: &str) -> Option<NotificationKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the notification links to the order (on my page or the dashboard) rather
    /// than to the coupon.
    pub fn about_an_order(self) -> bool {
        !matches!(
            self,
            NotificationKind::RestockHold | NotificationKind::SoldOut
        )
    }
}

/// One notification (the item of `GET /api/v1/notifications` and of the live stream).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: i64,
    pub kind: NotificationKind,
    pub order_id: Option<Uuid>,
    pub coupon_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    /// The coupon's name when it happened.
    pub coupon_name: String,
    /// The order's amount in won, when there is an order.
    pub amount: Option<i64>,
}

/// A page of notifications, newest first, and how many of all are unread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NotificationPage {
    pub items: Vec<Notification>,
    pub unread: i64,
}

/// `event: unread` of the notification stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Unread {
    pub unread: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Coupon;

    #[test]
    fn kinds_round_trip_as_their_json_names() {
        for k in NotificationKind::ALL {
            assert_eq!(NotificationKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(NotificationKind::parse("shipped"), None);
    }

    #[test]
    fn the_status_follows_the_live_stock() {
        let now = Utc::now();
        let coupon = Coupon {
            id: Uuid::new_v4(),
            name: "C".into(),
            description: String::new(),
            price: 1000,
            stock_left: 1,
            shop_id: Uuid::new_v4(),
            shop_name: "S".into(),
            sale_starts_at: None,
            sale_ends_at: None,
            valid_until: None,
            per_customer_limit: None,
            on_sale: true,
            created_at: now,
            category: Default::default(),
            list_price: None,
            images: Vec::new(),
        };
        let live = |stock_left, held, on_sale| LiveStock {
            coupon_id: coupon.id,
            stock_left,
            held,
            on_sale,
        };
        assert_eq!(
            live_status(coupon.sale_state(), None, now),
            CouponStatus::Available
        );
        assert_eq!(
            live_status(coupon.sale_state(), Some(live(0, 0, true)), now),
            CouponStatus::SoldOut
        );
        assert_eq!(
            live_status(coupon.sale_state(), Some(live(0, 2, true)), now),
            CouponStatus::SoldOut
        );
        assert_eq!(
            live_status(coupon.sale_state(), Some(live(1, 2, true)), now),
            CouponStatus::Available
        );
        assert_eq!(
            live_status(coupon.sale_state(), Some(live(2, 0, false)), now),
            CouponStatus::Stopped
        );
        let ended = Coupon {
            sale_ends_at: Some(now),
            ..coupon.clone()
        };
        assert_eq!(
            live_status(ended.sale_state(), Some(live(5, 0, true)), now),
            CouponStatus::Ended
        );
    }
}
