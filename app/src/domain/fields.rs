//! Per-field validation errors, shared by forms (localised in the UI) and the JSON API
//! (English text under `error.fields`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why one input field was refused. On the wire `{"kind": "too_short", "min": 8}`; read
/// back through [`FieldErrorWire`] (a flat struct), which costs the browser's bundle far
/// less code than serde's internally tagged enums.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "FieldErrorWire")]
pub enum FieldError {
    Required,
    TooShort {
        min: u32,
    },
    TooLong {
        max: u32,
    },
    /// Not a date, not an e-mail address...
    Invalid,
    /// A number field with something other than digits (and the separators people type).
    NotANumber,
    OutOfRange {
        min: i64,
        max: i64,
    },
    EndBeforeStart,
    BeforeSaleEnd,
    /// Unique value already used (e.g. an e-mail address).
    Taken,
}

/// A [`FieldError`] as it is read: the kind and the numbers of the kinds that have some.
#[derive(Deserialize)]
pub struct FieldErrorWire {
    kind: String,
    #[serde(default)]
    min: Option<i64>,
    #[serde(default)]
    max: Option<i64>,
}

impl TryFrom<FieldErrorWire> for FieldError {
    type Error = String;

    fn try_from(w: FieldErrorWire) -> Result<Self, String> {
        let small = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok());
        Ok(match (w.kind.as_str(), w.min, w.max) {
            ("required", ..) => FieldError::Required,
            ("too_short", min, _) if small(min).is_some() => FieldError::TooShort {
                min: small(min).unwrap_or_default(),
            },
            ("too_long", _, max) if small(max).is_some() => FieldError::TooLong {
                max: small(max).unwrap_or_default(),
            },
            ("invalid", ..) => FieldError::Invalid,
            ("not_a_number", ..) => FieldError::NotANumber,
            ("out_of_range", Some(min), Some(max)) => FieldError::OutOfRange { min, max },
            ("end_before_start", ..) => FieldError::EndBeforeStart,
            ("before_sale_end", ..) => FieldError::BeforeSaleEnd,
            ("taken", ..) => FieldError::Taken,
            (kind, ..) => return Err(format!("unknown field error {kind:?}")),
        })
    }
}

impl FieldError {
    /// The English message used by the JSON API.
    pub fn message(&self) -> String {
        match self {
            FieldError::Required => "is required".into(),
            FieldError::TooShort { min } => format!("must be at least {min} characters"),
            FieldError::TooLong { max } => format!("must be at most {max} characters"),
            FieldError::Invalid => "is not valid".into(),
            FieldError::NotANumber => "must be a whole number (digits only)".into(),
            FieldError::OutOfRange { min, max } => format!("must be between {min} and {max}"),
            FieldError::EndBeforeStart => "must be after the sale start".into(),
            FieldError::BeforeSaleEnd => "must not be before the end of the sale".into(),
            FieldError::Taken => "is already taken".into(),
        }
    }
}

/// Field name -> error; ordered so responses are stable.
pub type FieldErrors = BTreeMap<String, FieldError>;

/// Collects field errors while a whole input is checked, so a form shows every problem at once.
#[derive(Default, Debug)]
pub struct Collector(FieldErrors);

impl Collector {
    /// Records the error of `result` under `field`, returning the value if it was valid.
    pub fn check<T>(&mut self, field: &str, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.entry(field.to_string()).or_insert(e);
                None
            }
        }
    }

    pub fn add(&mut self, field: &str, error: FieldError) {
        self.0.entry(field.to_string()).or_insert(error);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_errors(self) -> FieldErrors {
        self.0
    }
}

/// Reads a whole number as people type it: `1000`, `1,000`, `1 000`. Thousands separators
/// and spaces (also no-break ones) are dropped; an optional leading `-` stays, so the range
/// check can say what is allowed. Empty is `None`; anything else is `NotANumber`.
pub fn parse_whole_number(value: &str) -> Result<Option<i64>, FieldError> {
    let digits: String = value
        .chars()
        .filter(|c| !matches!(c, ',' | ' ' | '\u{a0}' | '\u{202f}' | '\t'))
        .collect();
    if digits.is_empty() {
        return Ok(None);
    }
    let unsigned = digits.strip_prefix('-').unwrap_or(&digits);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::NotANumber);
    }
    // Too many digits for an i64 is out of any range we allow.
    digits
        .parse::<i64>()
        .map(Some)
        .or(Ok(Some(if digits.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        })))
}

/// Text-direction controls: embeddings, overrides and isolates (U+202A-U+202E,
/// U+2066-U+2069). In a name they let one person's name be shown as another's.
pub fn is_direction_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Free text (a description, a reason): anything printable plus line breaks and tabs. A
/// NUL (which PostgreSQL refuses in text) or another control character is `Invalid`.
/// Every text a user sends to be stored goes through this or [`check_name`].
pub fn check_text(value: &str) -> Result<(), FieldError> {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Err(FieldError::Invalid)
    } else {
        Ok(())
    }
}

/// A name shown to other people (a person, a shop, a coupon): one line of printable text
/// without control characters and without text-direction controls.
pub fn check_name(value: &str) -> Result<(), FieldError> {
    if value
        .chars()
        .any(|c| c.is_control() || is_direction_control(c))
    {
        Err(FieldError::Invalid)
    } else {
        Ok(())
    }
}

/// Checks the length (in characters) of an already trimmed text.
pub fn check_len(value: &str, min: u32, max: u32) -> Result<(), FieldError> {
    let n = value.chars().count() as u32;
    if n == 0 && min > 0 {
        Err(FieldError::Required)
    } else if n < min {
        Err(FieldError::TooShort { min })
    } else if n > max {
        Err(FieldError::TooLong { max })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_refuses_nul_and_controls_but_keeps_line_breaks() {
        for ok in [
            "",
            "Latte",
            "Line one\nLine two\r\n\tindented",
            "카페 ☕ مقهى",
        ] {
            assert_eq!(check_text(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "\u{0}",
            "a\u{0}b",
            "\u{1}",
            "\u{7f}",
            "\u{85}",
            "\u{1b}[31m",
        ] {
            assert_eq!(check_text(bad), Err(FieldError::Invalid), "{bad:?}");
        }
        // Direction controls are allowed in free text (right-to-left quotes need them).
        assert_eq!(check_text("\u{202b}שלום\u{202c}"), Ok(()));
    }

    #[test]
    fn names_refuse_controls_and_direction_controls() {
        for ok in ["Kim", "김민수", "Café Zoë", "مقهى", "A\u{200d}B"] {
            assert_eq!(check_name(ok), Ok(()), "{ok:?}");
        }
        let mut bad: Vec<String> = ('\u{202a}'..='\u{202e}')
            .chain('\u{2066}'..='\u{2069}')
            .map(|c| format!("Kim{c}nimda"))
            .collect();
        bad.extend(["a\u{0}", "a\nb", "a\tb", "\u{7f}"].map(String::from));
        for b in bad {
            assert_eq!(check_name(&b), Err(FieldError::Invalid), "{b:?}");
        }
        assert!(!is_direction_control('\u{2029}') && !is_direction_control('\u{206a}'));
    }

    #[test]
    fn whole_numbers_as_people_type_them() {
        assert_eq!(parse_whole_number("6000"), Ok(Some(6000)));
        assert_eq!(parse_whole_number(" 6,000 "), Ok(Some(6000)));
        assert_eq!(parse_whole_number("1 000 000"), Ok(Some(1_000_000)));
        assert_eq!(parse_whole_number("1\u{a0}000"), Ok(Some(1000)));
        assert_eq!(parse_whole_number("-5"), Ok(Some(-5)));
        assert_eq!(parse_whole_number(""), Ok(None));
        assert_eq!(parse_whole_number("  "), Ok(None));
        for bad in [
            "abc",
            "6.000",
            "6000원",
            "-",
            "1e3",
            "+5",
            "６０００",
            "12-3",
        ] {
            assert_eq!(
                parse_whole_number(bad),
                Err(FieldError::NotANumber),
                "{bad}"
            );
        }
        assert_eq!(
            parse_whole_number("99999999999999999999"),
            Ok(Some(i64::MAX))
        );
    }
}
