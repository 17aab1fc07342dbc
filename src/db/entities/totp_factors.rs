//! `totp_factors`: a user's authenticator app. The secret is sealed under
//! `DATA_ENCRYPTION_KEY` (context `totp:{user_id}`); the factor is pending
//! until `confirmed_at` is set by a first valid code.

use sea_orm::entity::prelude::*;

/// One user's authenticator.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "totp_factors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The secret, sealed (see `crate::crypto`).
    pub secret_sealed: Vec<u8>,
    /// When a first code confirmed it; `None` while enrolment is pending.
    pub confirmed_at: Option<DateTimeUtc>,
    /// The last time step a code was accepted for: it and earlier ones are refused.
    pub last_used_step: Option<i64>,
    pub created_at: DateTimeUtc,
}

/// Relations of a factor.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
