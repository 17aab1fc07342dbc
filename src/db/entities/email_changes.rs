//! `email_changes`: an address a user asked to move to, pending until the
//! link sent there is used. The token is stored only as its SHA-256 digest
//! (`None` until the mail is composed).

use sea_orm::entity::prelude::*;

/// One requested change.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub new_email: String,
    pub new_email_norm: String,
    pub token_hash: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

/// Pending changes relate to nothing here; the foreign key to `users`
/// (cascading) is the migration's.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
