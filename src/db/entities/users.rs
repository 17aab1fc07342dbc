//! `users`: accounts, profile, role and login state.

use sea_orm::entity::prelude::*;

/// One user row. `email_norm` and `nickname_norm` are the lower-cased
/// uniqueness keys, so uniqueness is case-insensitive on both databases.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub email: String,
    pub email_norm: String,
    pub nickname: String,
    pub nickname_norm: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub bio: Option<String>,
    pub profile_picture_url: Option<String>,
    pub picture_key: Option<String>,
    pub linkedin_profile_url: Option<String>,
    pub github_profile_url: Option<String>,
    pub role: crate::domain::Role,
    pub is_professional: bool,
    pub professional_status_updated_at: Option<DateTimeUtc>,
    pub email_verified: bool,
    pub is_locked: bool,
    pub locked_until: Option<DateTimeUtc>,
    pub lock_reason: Option<crate::domain::LockReason>,
    pub failed_login_attempts: i32,
    pub password_hash: String,
    pub last_login_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Lower-cased email, nickname, first and last name joined by U+001F,
    /// the haystack of the staff search (see `users::repo::search_text`).
    pub search_text: String,
}

/// Relations of a user.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Login sessions.
    #[sea_orm(has_many = "super::sessions::Entity")]
    Sessions,
}

impl Related<super::sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sessions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
