//! Per-field validation errors, shared by forms (localised in the UI) and the JSON API
//! (English text under `error.fields`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why one input field was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FieldError {
    Required,
    TooShort {
        min: u32,
    },
    TooLong {
        max: u32,
    },
    /// Not a number, not a date, not an e-mail address...
    Invalid,
    OutOfRange {
        min: i64,
        max: i64,
    },
    EndBeforeStart,
    BeforeSaleEnd,
    /// Unique value already used (e.g. an e-mail address).
    Taken,
}

impl FieldError {
    /// The English message used by the JSON API.
    pub fn message(&self) -> String {
        match self {
            FieldError::Required => "is required".into(),
            FieldError::TooShort { min } => format!("must be at least {min} characters"),
            FieldError::TooLong { max } => format!("must be at most {max} characters"),
            FieldError::Invalid => "is not valid".into(),
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
