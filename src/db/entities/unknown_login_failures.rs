//! `unknown_login_failures`: failed logins for addresses without an
//! account, keyed by a keyed hash of the normalised address.

use sea_orm::entity::prelude::*;

/// The failed-login count of one address that has no account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "unknown_login_failures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_hash: String,
    pub failed_attempts: i32,
    pub is_locked: bool,
    pub locked_until: Option<DateTimeUtc>,
    pub last_failed_at: DateTimeUtc,
}

/// No relations: the row names no account.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
