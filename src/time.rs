//! The one clock of the service.

use chrono::{DateTime, SubsecRound, Utc};

/// Now, truncated to microseconds: what both databases store, so a value
/// read back compares equal to the one written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// `now + duration`, saturating far in the future instead of overflowing.
pub fn after(start: DateTime<Utc>, duration: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|d| start.checked_add_signed(d))
        .filter(|t| *t <= far_future())
        .unwrap_or_else(far_future)
}

/// 9999-12-31T23:59:59Z: "never", in a form both databases store and
/// compare as text or timestamp.
pub fn far_future() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A duration as people write it in an email: "24 hours", "1 hour", "15 minutes".
pub fn describe(duration: std::time::Duration) -> String {
    let minutes = duration.as_secs() / 60;
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if minutes == 0 {
        plural(duration.as_secs(), "second")
    } else if !minutes.is_multiple_of(60) {
        plural(minutes, "minute")
    } else {
        plural(minutes / 60, "hour")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(describe(Duration::from_secs(86_400)), "24 hours");
        assert_eq!(describe(Duration::from_secs(3_600)), "1 hour");
        assert_eq!(describe(Duration::from_secs(900)), "15 minutes");
        assert_eq!(describe(Duration::from_secs(1)), "1 second");
    }

    #[test]
    fn far_future_caps_overflow() {
        let start = now();
        assert_eq!(after(start, Duration::from_secs(u64::MAX)), far_future());
        assert!(after(start, Duration::from_secs(60)) > start);
    }
}
