//! `recovery_codes`: a user's single-use codes for when the authenticator is
//! lost, stored only as keyed digests.

use sea_orm::entity::prelude::*;

/// One recovery code.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recovery_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// HMAC-SHA256 of the user id and the code (hex).
    pub code_digest: String,
    /// When it was used; a used code is void.
    pub used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

/// Relations of a recovery code.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
