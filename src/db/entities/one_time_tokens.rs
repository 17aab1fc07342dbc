//! `one_time_tokens`: email verification and password reset tokens, stored
//! only as SHA-256 digests, single-use and expiring; each with the keyed
//! digest of the short code its mail carries.

use sea_orm::entity::prelude::*;

/// One token row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "one_time_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub user_id: Uuid,
    pub purpose: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    /// HMAC of the mail's short code; `None` for links minted without one
    /// and once the code is void (too many wrong codes).
    pub code_digest: Option<String>,
    /// Wrong codes typed for this user and purpose while the row was live.
    pub code_failures: i32,
}

/// Relations of a token.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The token's user.
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
