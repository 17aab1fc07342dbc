//! Table definitions shared by SQLite and PostgreSQL.

pub mod audit_events;
pub mod device_tokens;
pub mod email_changes;
pub mod email_outbox;
pub mod one_time_tokens;
pub mod recovery_codes;
pub mod sessions;
pub mod totp_factors;
pub mod unknown_login_failures;
pub mod users;
