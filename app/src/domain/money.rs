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

/// Reads a price in won as people type it: `6000`, `6,000`, `6,000원`, `6000 KRW`,
/// `₩6,000`. The currency mark (원, KRW, ₩) is dropped, then the number is read by
/// `parse_whole_number` (thousands separators and spaces dropped). The form validation
/// uses it on the server and the same code runs in the browser.
pub fn parse_won(value: &str) -> Result<Option<i64>, FieldError> {
    let v = value.trim();
    let v = v
        .strip_prefix('₩')
        .or_else(|| v.strip_prefix('￦'))
        .unwrap_or(v)
        .trim_start();
    let v = v.strip_suffix('원').unwrap_or(v).trim_end();
    let v = match v.len().checked_sub(3) {
        Some(i) if v.is_char_boundary(i) && v[i..].eq_ignore_ascii_case("krw") => v[..i].trim_end(),
        _ => v,
    };
    super::fields::parse_whole_number(v)
}

/// Formats whole won the Korean way: `15000` -> `15,000원`.
pub fn format_krw(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + 4);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
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
    fn prices_as_people_type_them() {
        for typed in [
            "6000",
            "6,000",
            "6,000원",
            "6000원",
            " 6,000 원 ",
            "6,000 KRW",
            "6000krw",
            "₩6,000",
            "6 000",
        ] {
            assert_eq!(parse_won(typed), Ok(Some(6000)), "{typed:?}");
        }
        assert_eq!(parse_won(""), Ok(None));
        assert_eq!(parse_won("원"), Ok(None));
        assert_eq!(parse_won("-5"), Ok(Some(-5)));
        for bad in [
            "six thousand",
            "6.000",
            "6,000원원",
            "원6000",
            "$6000",
            "6000 won",
            "KRW",
        ] {
            if bad == "KRW" {
                assert_eq!(parse_won(bad), Ok(None));
                continue;
            }
            assert_eq!(parse_won(bad), Err(FieldError::NotANumber), "{bad:?}");
        }
        // Formatting and parsing agree.
        for n in [1, 999, 1000, 15_000, 1_234_567, Krw::MAX_PRICE] {
            assert_eq!(parse_won(&format_krw(n)), Ok(Some(n)));
        }
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
