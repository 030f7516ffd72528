//! Times. Everything is stored and sent as UTC (RFC 3339); forms use the shop's local
//! time, Korea Standard Time (UTC+9, no daylight saving), in `datetime-local` inputs.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, TimeZone, Timelike, Utc};

use super::fields::FieldError;

pub fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("valid offset")
}

/// The years a date field accepts. Outside them a date is a typing slip or a probe (the
/// database cannot even store a year like -5000): `Invalid`, never an error of ours.
pub const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// `t` if its year (UTC) is one of `YEARS`, else `Invalid`. Every date that comes in
/// (forms through `parse_local`, the API through `CouponInput::validate`) passes here.
pub fn check_year(t: DateTime<Utc>) -> Result<DateTime<Utc>, FieldError> {
    if YEARS.contains(&t.year()) {
        Ok(t)
    } else {
        Err(FieldError::Invalid)
    }
}

/// Parses a `datetime-local` value (`2026-11-22T10:30`, seconds optional) as KST, in
/// the years of `YEARS`. An empty value is `None`.
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
    check_year(local.with_timezone(&Utc)).map(Some)
}

/// The `datetime-local` value of a time, in KST.
pub fn to_local_input(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| date_time(t, 'T')).unwrap_or_default()
}

/// A short human display in KST: `2026-11-22 10:30`.
pub fn display(t: DateTime<Utc>) -> String {
    date_time(t, ' ')
}

/// `YYYY-MM-DD{sep}HH:MM` in KST, the same text as chrono's `%Y-%m-%d{sep}%H:%M` for years
/// 0 to 9999. Written out by hand because these run in the browser too, and chrono's
/// strftime machinery is a sizeable part of the hydrate bundle.
fn date_time(t: DateTime<Utc>, sep: char) -> String {
    let t = t.with_timezone(&kst());
    format!(
        "{:04}-{:02}-{:02}{sep}{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    )
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

    #[test]
    fn years_are_bounded() {
        for bad in [
            "-5000-01-01T10:00",
            "0001-01-01T00:00",
            "1969-12-31T10:00",
            "10000-01-01T00:00",
            "99999-01-01T10:00",
        ] {
            assert_eq!(parse_local(bad), Err(FieldError::Invalid), "{bad}");
        }
        assert!(parse_local("1970-01-01T10:00").unwrap().is_some());
        assert!(parse_local("9999-12-31T23:59").unwrap().is_some());
    }

    #[test]
    fn formatting_matches_strftime() {
        for rfc in [
            "2026-11-22T01:30:00Z",
            "2026-12-31T15:00:00Z",
            "2026-12-31T14:59:59Z",
            "0999-01-01T00:00:00Z",
            "9999-12-31T14:59:00Z",
            "2024-02-28T15:05:00Z",
        ] {
            let t = DateTime::parse_from_rfc3339(rfc)
                .unwrap()
                .with_timezone(&Utc);
            let local = t.with_timezone(&kst());
            assert_eq!(display(t), local.format("%Y-%m-%d %H:%M").to_string());
            assert_eq!(
                to_local_input(Some(t)),
                local.format("%Y-%m-%dT%H:%M").to_string()
            );
        }
        let t = parse_local("2026-01-01T00:00").unwrap().unwrap();
        assert_eq!(display(t), "2026-01-01 00:00");
        assert_eq!(to_local_input(None), "");
    }
}
