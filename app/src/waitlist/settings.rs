//! The waitlist's settings (a leaf module: `AppState` holds them).

/// How the waitlist behaves (`COUPAN_WAITLIST_HOLD_SECS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitlistSettings {
    /// How long a unit that came back stays held for the next in line.
    pub hold: std::time::Duration,
}

impl Default for WaitlistSettings {
    fn default() -> Self {
        WaitlistSettings {
            hold: std::time::Duration::from_secs(600),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_unit_is_held_ten_minutes_by_default() {
        assert_eq!(super::WaitlistSettings::default().hold.as_secs(), 600);
    }
}
