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
