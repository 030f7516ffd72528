//! Order history, paged backwards with a cursor: the customer's my page and the owner's
//! orders page (and its CSV export) read the `mypage` read model newest first, in the
//! order `(ordered_at desc, order_id)`, and a page ends with the cursor of its last row.
//! A cursor names a position, not an offset, so orders placed meanwhile neither repeat
//! nor skip a row on the next page.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::fields::{Collector, FieldError, FieldErrors};
use super::order::{OrderStatus, PaymentStatus};
use super::time::kst;

/// Rows per page unless `limit=` says otherwise (also the most a page holds).
pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 100;

/// Where a page of history starts: just after (older than) this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCursor {
    pub ordered_at: DateTime<Utc>,
    pub order_id: Uuid,
}

impl OrderCursor {
    /// `<microseconds since 1970>.<order id, 32 hex digits>`: opaque to clients, safe in
    /// a URL without encoding, exact to the database's precision.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}",
            self.ordered_at.timestamp_micros(),
            self.order_id.simple()
        )
    }

    pub fn parse(value: &str) -> Result<OrderCursor, FieldError> {
        let (micros, id) = value.trim().split_once('.').ok_or(FieldError::Invalid)?;
        let micros: i64 = micros.parse().map_err(|_| FieldError::Invalid)?;
        let ordered_at = DateTime::from_timestamp_micros(micros).ok_or(FieldError::Invalid)?;
        let order_id = Uuid::try_parse(id).map_err(|_| FieldError::Invalid)?;
        super::time::check_year(ordered_at)?;
        Ok(OrderCursor {
            ordered_at,
            order_id,
        })
    }
}

/// `before=` and `limit=` of a history request: an empty cursor starts at the newest
/// order; the limit is 1 to `MAX_LIMIT` (default `DEFAULT_LIMIT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub before: Option<OrderCursor>,
    pub limit: i64,
}

impl PageRequest {
    pub fn parse(before: Option<&str>, limit: Option<&str>) -> Result<PageRequest, FieldErrors> {
        let mut c = Collector::default();
        let before = c.check(
            "before",
            match before.map(str::trim) {
                None | Some("") => Ok(None),
                Some(v) => OrderCursor::parse(v).map(Some),
            },
        );
        let limit = c.check(
            "limit",
            match limit.map(str::trim) {
                None | Some("") => Ok(DEFAULT_LIMIT),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or(FieldError::OutOfRange {
                        min: 1,
                        max: MAX_LIMIT,
                    }),
            },
        );
        match (before, limit) {
            (Some(before), Some(limit)) if c.is_empty() => Ok(PageRequest { before, limit }),
            _ => Err(c.into_errors()),
        }
    }
}

/// Splits the `limit + 1` rows a query read into the page and the cursor of the next one
/// (`None`: this is the last page).
pub fn split_page<T>(
    mut rows: Vec<T>,
    limit: i64,
    cursor: impl Fn(&T) -> OrderCursor,
) -> (Vec<T>, Option<String>) {
    let limit = limit.max(0) as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(|r| cursor(r).encode());
        (rows, next)
    } else {
        (rows, None)
    }
}

/// The owner's filter: one order status, and the days (KST, both included) the order was
/// placed on, as `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    /// Placed at or after this instant (the start of `from`, KST).
    pub from: Option<DateTime<Utc>>,
    /// Placed before this instant (the end of `to`, KST).
    pub until: Option<DateTime<Utc>>,
}

/// A `YYYY-MM-DD` day (years of `time::YEARS`).
fn parse_day(value: &str) -> Result<NaiveDate, FieldError> {
    let mut parts = value.splitn(3, '-');
    let mut next = |len: usize| {
        parts
            .next()
            .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u32>().ok())
            .ok_or(FieldError::Invalid)
    };
    let (y, m, d) = (next(4)?, next(2)?, next(2)?);
    let day = NaiveDate::from_ymd_opt(y as i32, m, d).ok_or(FieldError::Invalid)?;
    if super::time::YEARS.contains(&(y as i32)) {
        Ok(day)
    } else {
        Err(FieldError::Invalid)
    }
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    kst()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .single()
        .expect("KST has no gaps")
        .with_timezone(&Utc)
}

impl OrderFilter {
    /// `status=`, `from=`, `to=` as the query string carries them (empty: no filter).
    pub fn parse(status: &str, from: &str, to: &str) -> Result<OrderFilter, FieldErrors> {
        let mut c = Collector::default();
        let status = c.check(
            "status",
            match status.trim() {
                "" => Ok(None),
                v => OrderStatus::parse(v).map(Some).ok_or(FieldError::Invalid),
            },
        );
        let from_day = c.check(
            "from",
            match from.trim() {
                "" => Ok(None),
                v => parse_day(v).map(Some),
            },
        );
        let to_day = c.check(
            "to",
            match to.trim() {
                "" => Ok(None),
                v => parse_day(v).map(Some),
            },
        );
        if let (Some(Some(f)), Some(Some(t))) = (from_day, to_day)
            && t < f
        {
            c.add("to", FieldError::EndBeforeStart);
        }
        match (status, from_day, to_day) {
            (Some(status), Some(from), Some(to)) if c.is_empty() => Ok(OrderFilter {
                status,
                from: from.map(start_of),
                until: to.and_then(|d| d.succ_opt()).map(start_of),
            }),
            _ => Err(c.into_errors()),
        }
    }
}

/// One order of a shop, as the owner's orders page, `GET /api/v1/owner/orders` and the
/// CSV export show it (from the `mypage` read model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OwnerOrder {
    pub order_id: Uuid,
    pub coupon_id: Uuid,
    pub coupon_name: String,
    pub quantity: i32,
    pub unit_price: i64,
    pub amount: i64,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub ordered_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub refunded_at: Option<DateTime<Utc>>,
    pub vouchers_redeemed: i32,
}

impl OwnerOrder {
    pub fn cursor(&self) -> OrderCursor {
        OrderCursor {
            ordered_at: self.ordered_at,
            order_id: self.order_id,
        }
    }
}

/// A page of a shop's orders: `next` is the cursor of the following (older) page, `None`
/// on the last one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OwnerOrderPage {
    pub items: Vec<OwnerOrder>,
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = OrderCursor {
            ordered_at: Utc.with_ymd_and_hms(2026, 12, 5, 1, 2, 3).unwrap()
                + chrono::Duration::microseconds(456_789),
            order_id: Uuid::new_v4(),
        };
        assert_eq!(OrderCursor::parse(&c.encode()), Ok(c));
        for bad in [
            "",
            "x",
            "123",
            "abc.def",
            "1.2",
            "99999999999999999999.00",
            "-1",
        ] {
            assert!(OrderCursor::parse(bad).is_err(), "{bad:?}");
        }
        assert!(OrderCursor::parse(&format!("{}.{}", i64::MAX, Uuid::nil().simple())).is_err());
    }

    #[test]
    fn page_requests_bound_the_limit() {
        assert_eq!(
            PageRequest::parse(None, None),
            Ok(PageRequest {
                before: None,
                limit: DEFAULT_LIMIT
            })
        );
        assert_eq!(PageRequest::parse(None, Some("1")).unwrap().limit, 1);
        for bad in ["0", "101", "-5", "ten"] {
            assert!(PageRequest::parse(None, Some(bad)).is_err(), "{bad}");
        }
        assert!(PageRequest::parse(Some("nope"), None).is_err());
    }

    #[test]
    fn split_page_gives_a_cursor_only_when_more_rows_exist() {
        let at = Utc::now();
        let rows: Vec<OrderCursor> = (0..3)
            .map(|_| OrderCursor {
                ordered_at: at,
                order_id: Uuid::new_v4(),
            })
            .collect();
        let (page, next) = split_page(rows.clone(), 2, |r| *r);
        assert_eq!(page.len(), 2);
        assert_eq!(next, Some(rows[1].encode()));
        let (page, next) = split_page(rows, 3, |r| *r);
        assert_eq!((page.len(), next), (3, None));
    }

    #[test]
    fn filters_are_kst_days() {
        let f = OrderFilter::parse("paid", "2026-12-01", "2026-12-01").unwrap();
        assert_eq!(f.status, Some(OrderStatus::Paid));
        assert_eq!(
            f.from,
            Some(Utc.with_ymd_and_hms(2026, 11, 30, 15, 0, 0).unwrap())
        );
        assert_eq!(
            f.until,
            Some(Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap())
        );
        assert_eq!(OrderFilter::parse("", "", ""), Ok(OrderFilter::default()));
        let errs = OrderFilter::parse("shipped", "2026-13-01", "26-12-01").unwrap_err();
        assert_eq!(errs.len(), 3);
        let errs = OrderFilter::parse("", "2026-12-02", "2026-12-01").unwrap_err();
        assert_eq!(errs.get("to"), Some(&FieldError::EndBeforeStart));
    }
}
