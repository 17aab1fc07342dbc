//! Why an account is locked: the difference between a lock that stops
//! password guessing and one that suspends the account.

use sea_orm::entity::prelude::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::Serialize;

/// Why an account is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, EnumIter, DeriveActiveEnum)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum LockReason {
    /// `MAX_LOGIN_ATTEMPTS` wrong passwords: stops guessing, not the owner —
    /// sessions, refresh tokens and trusted devices keep working.
    #[sea_orm(string_value = "failed_logins")]
    FailedLogins,
    /// Staff suspended the account: sessions and devices end at once.
    #[sea_orm(string_value = "manual")]
    Manual,
}
