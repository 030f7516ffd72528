//! What cancelling units of an order gives back (issue 13, section 3). The Korean Fair
//! Trade Commission's standard terms for mobile vouchers (신유형 상품권 표준약관): before a
//! voucher's use-by date an unused unit is refunded in full; after it, at 90% of its price,
//! for 5 years from the purchase. The service decides with these functions (the order row
//! locked), and my page shows the same figure before the customer confirms.

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};

/// After the use-by date the refund is this share of the price, in percent.
pub const LATE_REFUND_PERCENT: i64 = 90;
/// Units are refundable this many years from the purchase.
pub const REFUND_YEARS: u32 = 5;
/// Customers are reminded this many days before a voucher's use-by date.
pub const REMINDER_DAYS: [i64; 2] = [30, 7];

/// A voucher is `active` (usable), `redeemed` (used at the shop) or `cancelled` (its unit
/// was cancelled: void).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VoucherStatus {
    Active,
    Redeemed,
    Cancelled,
}

impl VoucherStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VoucherStatus::Active => "active",
            VoucherStatus::Redeemed => "redeemed",
            VoucherStatus::Cancelled => "cancelled",
        }
    }

    pub fn of(redeemed_at: Option<DateTime<Utc>>, cancelled_at: Option<DateTime<Utc>>) -> Self {
        match (redeemed_at, cancelled_at) {
            (Some(_), _) => VoucherStatus::Redeemed,
            (None, Some(_)) => VoucherStatus::Cancelled,
            (None, None) => VoucherStatus::Active,
        }
    }
}

/// What a cancellation of units gives back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundQuote {
    /// Units cancelled.
    pub quantity: i32,
    /// KRW given back.
    pub amount: i64,
    /// After the use-by date: 90%.
    pub late: bool,
}

/// The refund is no longer owed: more than 5 years since the purchase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefundPeriodOver;

/// The last moment units bought at `purchased_at` are refundable.
pub fn refundable_until(purchased_at: DateTime<Utc>) -> DateTime<Utc> {
    purchased_at
        .checked_add_months(Months::new(12 * REFUND_YEARS))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The refund for `units` of price `unit_price` whose vouchers are valid until
/// `valid_until` (`None`: no use-by date), bought at `purchased_at`, cancelled at `now`.
/// 90% is rounded down to the won.
pub fn quote(
    units: i32,
    unit_price: i64,
    valid_until: Option<DateTime<Utc>>,
    purchased_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<RefundQuote, RefundPeriodOver> {
    if now > refundable_until(purchased_at) {
        return Err(RefundPeriodOver);
    }
    let full = i64::from(units) * unit_price;
    let late = valid_until.is_some_and(|until| until < now);
    let amount = if late {
        full * LATE_REFUND_PERCENT / 100
    } else {
        full
    };
    Ok(RefundQuote {
        quantity: units,
        amount,
        late,
    })
}

/// The reminder due for a voucher valid until `valid_until` at `now`: 7 within a week of
/// it, 30 within 30 days, none before or once it passed.
pub fn reminder_due(valid_until: DateTime<Utc>, now: DateTime<Utc>) -> Option<i64> {
    let left = valid_until - now;
    if left <= chrono::Duration::zero() {
        None
    } else if left <= chrono::Duration::days(7) {
        Some(7)
    } else if left <= chrono::Duration::days(30) {
        Some(30)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn full_before_the_use_by_date_ninety_percent_after_it() {
        let bought = at(2026, 1, 1);
        let until = Some(at(2026, 6, 30));
        assert_eq!(
            quote(2, 10_000, until, bought, at(2026, 6, 1)),
            Ok(RefundQuote {
                quantity: 2,
                amount: 20_000,
                late: false
            })
        );
        assert_eq!(
            quote(3, 3_333, until, bought, at(2026, 7, 1)),
            Ok(RefundQuote {
                quantity: 3,
                amount: 8_999,
                late: true
            })
        );
        assert_eq!(
            quote(1, 5_000, None, bought, at(2030, 1, 1))
                .unwrap()
                .amount,
            5_000
        );
    }

    #[test]
    fn nothing_after_five_years() {
        let bought = at(2026, 1, 1);
        let until = Some(at(2026, 6, 30));
        assert!(quote(1, 1000, until, bought, at(2030, 12, 31)).is_ok());
        assert_eq!(
            quote(1, 1000, until, bought, at(2031, 1, 2)),
            Err(RefundPeriodOver)
        );
    }

    #[test]
    fn reminders_at_thirty_and_seven_days() {
        let until = at(2026, 6, 30);
        assert_eq!(reminder_due(until, at(2026, 5, 1)), None);
        assert_eq!(reminder_due(until, at(2026, 6, 1)), Some(30));
        assert_eq!(reminder_due(until, at(2026, 6, 25)), Some(7));
        assert_eq!(reminder_due(until, at(2026, 7, 1)), None);
    }

    #[test]
    fn voucher_statuses() {
        let t = Some(at(2026, 1, 1));
        assert_eq!(VoucherStatus::of(None, None), VoucherStatus::Active);
        assert_eq!(VoucherStatus::of(t, None), VoucherStatus::Redeemed);
        assert_eq!(VoucherStatus::of(None, t), VoucherStatus::Cancelled);
        assert_eq!(
            serde_json::to_value(VoucherStatus::Active).unwrap(),
            "active"
        );
    }
}
