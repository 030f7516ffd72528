//! Times. Everything is stored and sent as UTC (RFC 3339); forms use the shop's local
//! time, Korea Standard Time (UTC+9, no daylight saving), in `datetime-local` inputs.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

use super::fields::FieldError;

pub fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("valid offset")
}

/// Parses a `datetime-local` value (`2026-11-22T10:30`, seconds optional) as KST.
/// An empty value is `None`.
pub fn parse_local(value: &str) -> Result<Option<DateTime<Utc>>, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| FieldError::Invalid)?;
    let local = kst()
        .from_local_datetime(&naive)
        .single()
        .ok_or(FieldError::Invalid)?;
    Ok(Some(local.with_timezone(&Utc)))
}

/// The `datetime-local` value of a time, in KST.
pub fn to_local_input(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.with_timezone(&kst()).format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// A short human display in KST: `2026-11-22 10:30`.
pub fn display(t: DateTime<Utc>) -> String {
    t.with_timezone(&kst()).format("%Y-%m-%d %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_input_round_trip_is_kst() {
        let t = parse_local("2026-11-22T10:30").unwrap().unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T01:30:00+00:00");
        assert_eq!(to_local_input(Some(t)), "2026-11-22T10:30");
        assert_eq!(parse_local("  ").unwrap(), None);
        assert_eq!(parse_local("yesterday"), Err(FieldError::Invalid));
    }
}
