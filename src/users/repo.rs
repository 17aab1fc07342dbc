//! Queries on `users`, shared by the handlers and the CLI.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
};
use uuid::Uuid;

use super::profile_fields::ProfileChanges;
use crate::db::{self, entities::users};
use crate::domain::email::Email;
use crate::domain::nickname::Nickname;
use crate::domain::{LockReason, Role, UserId};
use crate::error::AppError;
use crate::time;

/// A user by id.
pub async fn find_by_id(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(id).one(conn).await
}

/// A user by email, case-insensitively.
pub async fn find_by_email(
    conn: &impl ConnectionTrait,
    email: &Email,
) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find()
        .filter(users::Column::EmailNorm.eq(email.normalized()))
        .one(conn)
        .await
}

/// True if the nickname is taken, case-insensitively.
pub async fn nickname_taken(
    conn: &impl ConnectionTrait,
    nickname: &Nickname,
) -> Result<bool, DbErr> {
    Ok(users::Entity::find()
        .filter(users::Column::NicknameNorm.eq(nickname.normalized()))
        .count(conn)
        .await?
        > 0)
}

/// Maps a unique violation on email or nickname to a 409; other errors pass.
pub fn conflict_or(err: DbErr) -> AppError {
    match db::unique_violation(&err) {
        Some(message) if message.contains("email_norm") => {
            AppError::Conflict("an account with this email already exists".into())
        }
        Some(message) if message.contains("nickname_norm") => {
            AppError::Conflict("this nickname is already taken".into())
        }
        _ => err.into(),
    }
}

/// A user about to be inserted.
pub struct NewUser {
    /// Email.
    pub email: Email,
    /// Nickname.
    pub nickname: Nickname,
    /// Argon2id (or imported bcrypt) hash.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Whether the email is already verified (staff-created users are).
    pub email_verified: bool,
    /// Profile fields.
    pub profile: ProfileChanges,
}

fn flat<T>(patch: Option<Option<T>>) -> Option<T> {
    patch.flatten()
}

/// The search haystack of a user: lower-cased fields joined by a control
/// character that no search text contains, so matches never span fields.
pub fn search_text(
    email_norm: &str,
    nickname_norm: &str,
    first_name: Option<&str>,
    last_name: Option<&str>,
) -> String {
    [
        email_norm.to_owned(),
        nickname_norm.to_owned(),
        first_name.unwrap_or_default().to_lowercase(),
        last_name.unwrap_or_default().to_lowercase(),
    ]
    .join("\u{1f}")
}

/// Inserts a user.
pub async fn insert(conn: &impl ConnectionTrait, new: NewUser) -> Result<users::Model, DbErr> {
    let now = time::now();
    let p = new.profile;
    let first_name = flat(p.first_name);
    let last_name = flat(p.last_name);
    let haystack = search_text(
        &new.email.normalized(),
        &new.nickname.normalized(),
        first_name.as_deref(),
        last_name.as_deref(),
    );
    let row = users::ActiveModel {
        id: Set(Uuid::new_v4()),
        email: Set(new.email.as_str().to_owned()),
        email_norm: Set(new.email.normalized()),
        nickname: Set(new.nickname.as_str().to_owned()),
        nickname_norm: Set(new.nickname.normalized()),
        first_name: Set(first_name),
        last_name: Set(last_name),
        bio: Set(flat(p.bio)),
        profile_picture_url: Set(flat(p.profile_picture_url).map(|u| u.as_str().to_owned())),
        picture_key: Set(None),
        linkedin_profile_url: Set(flat(p.linkedin_profile_url).map(|u| u.as_str().to_owned())),
        github_profile_url: Set(flat(p.github_profile_url).map(|u| u.as_str().to_owned())),
        role: Set(new.role),
        is_professional: Set(false),
        professional_status_updated_at: Set(None),
        email_verified: Set(new.email_verified),
        is_locked: Set(false),
        locked_until: Set(None),
        lock_reason: Set(None),
        failed_login_attempts: Set(0),
        password_hash: Set(new.password_hash),
        last_login_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        search_text: Set(haystack),
    };
    users::Entity::insert(row).exec_with_returning(conn).await
}

/// Applies profile changes and returns the updated row.
pub async fn update_profile(
    conn: &impl ConnectionTrait,
    user: users::Model,
    changes: ProfileChanges,
) -> Result<users::Model, DbErr> {
    let mut row: users::ActiveModel = user.into();
    if let Some(nickname) = changes.nickname {
        row.nickname = Set(nickname.as_str().to_owned());
        row.nickname_norm = Set(nickname.normalized());
    }
    let url = |u: Option<crate::domain::profile_url::ProfileUrl>| u.map(|u| u.as_str().to_owned());
    if let Some(v) = changes.first_name {
        row.first_name = Set(v);
    }
    if let Some(v) = changes.last_name {
        row.last_name = Set(v);
    }
    if let Some(v) = changes.bio {
        row.bio = Set(v);
    }
    if let Some(v) = changes.profile_picture_url {
        row.profile_picture_url = Set(url(v));
    }
    if let Some(v) = changes.linkedin_profile_url {
        row.linkedin_profile_url = Set(url(v));
    }
    if let Some(v) = changes.github_profile_url {
        row.github_profile_url = Set(url(v));
    }
    row.updated_at = Set(time::now());
    let current = |v: &sea_orm::ActiveValue<Option<String>>| match v {
        sea_orm::ActiveValue::Set(v) | sea_orm::ActiveValue::Unchanged(v) => v.clone(),
        sea_orm::ActiveValue::NotSet => None,
    };
    let email_norm = match &row.email_norm {
        sea_orm::ActiveValue::Set(v) | sea_orm::ActiveValue::Unchanged(v) => v.clone(),
        sea_orm::ActiveValue::NotSet => String::new(),
    };
    let nickname_norm = match &row.nickname_norm {
        sea_orm::ActiveValue::Set(v) | sea_orm::ActiveValue::Unchanged(v) => v.clone(),
        sea_orm::ActiveValue::NotSet => String::new(),
    };
    row.search_text = Set(search_text(
        &email_norm,
        &nickname_norm,
        current(&row.first_name).as_deref(),
        current(&row.last_name).as_deref(),
    ));
    users::Entity::update(row).exec(conn).await
}

/// Marks the email verified and raises ANONYMOUS to AUTHENTICATED.
pub async fn mark_email_verified(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    use users::Column as C;
    users::Entity::update_many()
        .col_expr(C::EmailVerified, Expr::value(true))
        .col_expr(C::UpdatedAt, Expr::value(time::now()))
        .filter(C::Id.eq(id))
        .exec(conn)
        .await?;
    users::Entity::update_many()
        .col_expr(C::Role, Expr::value(Role::Authenticated.as_str()))
        .filter(C::Id.eq(id))
        .filter(C::Role.eq(Role::Anonymous.as_str()))
        .exec(conn)
        .await?;
    Ok(())
}

/// After a password reset: the new hash, unlocked, count reset, email
/// confirmed (the emailed link proved it) and ANONYMOUS raised to AUTHENTICATED.
pub async fn set_password_after_reset(
    conn: &impl ConnectionTrait,
    user: &users::Model,
    password_hash: String,
) -> Result<(), DbErr> {
    use users::Column as C;
    users::Entity::update_many()
        .col_expr(C::PasswordHash, Expr::value(password_hash))
        .col_expr(C::FailedLoginAttempts, Expr::value(0))
        .col_expr(C::UpdatedAt, Expr::value(time::now()))
        .filter(C::Id.eq(user.id))
        .exec(conn)
        .await?;
    // A reset lifts a failed-login lock, never a staff suspension.
    users::Entity::update_many()
        .col_expr(C::IsLocked, Expr::value(false))
        .col_expr(
            C::LockedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(C::LockReason, Expr::value(Option::<LockReason>::None))
        .filter(C::Id.eq(user.id))
        .filter(
            C::LockReason
                .ne(LockReason::Manual)
                .or(C::LockReason.is_null()),
        )
        .exec(conn)
        .await?;
    mark_email_verified(conn, user.id).await
}

/// Stores a new password hash.
pub async fn set_password(
    conn: &impl ConnectionTrait,
    id: Uuid,
    password_hash: String,
) -> Result<(), DbErr> {
    use users::Column as C;
    users::Entity::update_many()
        .col_expr(C::PasswordHash, Expr::value(password_hash))
        .col_expr(C::UpdatedAt, Expr::value(time::now()))
        .filter(C::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// A user by the id in a path; 404 when it is not a UUID or not there.
pub async fn find_target(
    conn: &impl ConnectionTrait,
    id: UserId,
) -> Result<users::Model, AppError> {
    find_by_id(conn, id.uuid())
        .await?
        .ok_or_else(|| AppError::NotFound("no such user".into()))
}

/// 409 when `user` is the last active ADMIN (about to be demoted, locked or
/// deleted). Call inside the transaction that makes the change: on
/// PostgreSQL the admins' rows stay locked until it ends, so two admins
/// demoting each other cannot both succeed; SQLite's write lock does the same.
pub async fn ensure_not_last_admin(
    conn: &impl ConnectionTrait,
    user: &users::Model,
) -> Result<(), AppError> {
    use sea_orm::QuerySelect;
    use users::Column as C;
    if user.role != Role::Admin || is_suspended(user) {
        return Ok(());
    }
    // Active: not suspended by staff (a failed-login lock does not count).
    let mut admins = users::Entity::find()
        .filter(C::Role.eq(Role::Admin.as_str()))
        .filter(
            C::IsLocked
                .eq(false)
                .or(C::LockReason.eq(LockReason::FailedLogins)),
        );
    if db::backend(conn) == sea_orm::DbBackend::Postgres {
        admins = admins.lock_exclusive();
    }
    if admins.all(conn).await?.len() <= 1 {
        return Err(AppError::Conflict(
            "the last administrator cannot be demoted, locked or deleted".into(),
        ));
    }
    Ok(())
}

/// Changes the email (its uniqueness key and the search haystack with it).
pub async fn set_email(
    conn: &impl ConnectionTrait,
    user: &users::Model,
    email: &Email,
) -> Result<(), DbErr> {
    use users::Column as C;
    let haystack = search_text(
        &email.normalized(),
        &user.nickname_norm,
        user.first_name.as_deref(),
        user.last_name.as_deref(),
    );
    users::Entity::update_many()
        .col_expr(C::Email, Expr::value(email.as_str()))
        .col_expr(C::EmailNorm, Expr::value(email.normalized()))
        .col_expr(C::SearchText, Expr::value(haystack))
        .col_expr(C::UpdatedAt, Expr::value(time::now()))
        .filter(C::Id.eq(user.id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Marks the email unverified (staff gave the account a new address:
/// its owner has yet to prove it). The role stays.
pub async fn mark_email_unverified(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    use users::Column as C;
    users::Entity::update_many()
        .col_expr(C::EmailVerified, Expr::value(false))
        .col_expr(C::UpdatedAt, Expr::value(time::now()))
        .filter(C::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Sets the role.
pub async fn set_role(conn: &impl ConnectionTrait, id: Uuid, role: Role) -> Result<(), DbErr> {
    use users::Column as C;
    users::Entity::update_many()
        .col_expr(C::Role, Expr::value(role.as_str()))
        .col_expr(C::UpdatedAt, Expr::value(time::now()))
        .filter(C::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Locks (until unlocked: no expiry) or unlocks; unlocking resets the failure count.
pub async fn set_locked(conn: &impl ConnectionTrait, id: Uuid, locked: bool) -> Result<(), DbErr> {
    use users::Column as C;
    let reason = locked.then_some(LockReason::Manual);
    let mut update = users::Entity::update_many()
        .col_expr(C::IsLocked, Expr::value(locked))
        .col_expr(
            C::LockedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(C::LockReason, Expr::value(reason))
        .col_expr(C::UpdatedAt, Expr::value(time::now()));
    if !locked {
        update = update.col_expr(C::FailedLoginAttempts, Expr::value(0));
    }
    update.filter(C::Id.eq(id)).exec(conn).await?;
    Ok(())
}

/// Sets professional status and stamps when it changed.
pub async fn set_professional(
    conn: &impl ConnectionTrait,
    id: Uuid,
    value: bool,
) -> Result<(), DbErr> {
    use users::Column as C;
    let now = time::now();
    users::Entity::update_many()
        .col_expr(C::IsProfessional, Expr::value(value))
        .col_expr(C::ProfessionalStatusUpdatedAt, Expr::value(now))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes a user; sessions and one-time tokens go with it (foreign keys).
pub async fn delete(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    users::Entity::delete_by_id(id).exec(conn).await?;
    Ok(())
}

/// True when staff suspended the account (a failed-login lock is not a
/// suspension: the owner's sessions and trusted devices keep working).
pub fn is_suspended(user: &users::Model) -> bool {
    user.is_locked && user.lock_reason != Some(LockReason::FailedLogins)
}

/// The stored legacy password hashes (bcrypt wrapped in Argon2id, and plain
/// bcrypt) with the highest bcrypt cost, at most one of each kind.
pub async fn costliest_legacy_hashes(db: &db::Db) -> Result<Vec<String>, DbErr> {
    use crate::auth::hashing::WRAPPED_BCRYPT;
    use sea_orm::{QueryOrder, QuerySelect};
    let mut found = Vec::new();
    for prefix in [WRAPPED_BCRYPT, "$2"] {
        let hash: Option<String> = users::Entity::find()
            .select_only()
            .column(users::Column::PasswordHash)
            .filter(users::Column::PasswordHash.starts_with(prefix))
            .order_by_desc(users::Column::PasswordHash)
            .into_tuple()
            .one(db)
            .await?;
        found.extend(hash);
    }
    Ok(found)
}
