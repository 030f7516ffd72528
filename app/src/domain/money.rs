//! Money in Korean won. The won has no minor unit in practice, so amounts are whole numbers.

use super::fields::FieldError;
use serde::{Deserialize, Serialize};

/// A price in whole won, 1 ..= 10,000,000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Krw(i64);

impl Krw {
    pub const MAX_PRICE: i64 = 10_000_000;

    pub fn parse_price(value: i64) -> Result<Krw, FieldError> {
        if (1..=Self::MAX_PRICE).contains(&value) {
            Ok(Krw(value))
        } else {
            Err(FieldError::OutOfRange {
                min: 1,
                max: Self::MAX_PRICE,
            })
        }
    }

    pub fn value(self) -> i64 {
        self.0
    }
}

/// Formats whole won the Korean way: `15000` -> `15,000원`.
pub fn format_krw(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + 4);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if amount < 0 {
        out.insert(0, '-');
    }
    out.push('원');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_thousands_separators() {
        assert_eq!(format_krw(0), "0원");
        assert_eq!(format_krw(999), "999원");
        assert_eq!(format_krw(1000), "1,000원");
        assert_eq!(format_krw(15000), "15,000원");
        assert_eq!(format_krw(1234567), "1,234,567원");
        assert_eq!(format_krw(-15000), "-15,000원");
    }

    #[test]
    fn price_range_edges() {
        assert!(Krw::parse_price(0).is_err());
        assert!(Krw::parse_price(-1).is_err());
        assert_eq!(Krw::parse_price(1).unwrap().value(), 1);
        assert!(Krw::parse_price(Krw::MAX_PRICE).is_ok());
        assert!(Krw::parse_price(Krw::MAX_PRICE + 1).is_err());
    }
}
