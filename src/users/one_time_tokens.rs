//! One-time tokens (email verification, password reset): random, stored
//! only as digests, single use, retired when a newer one is issued.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::auth::tokens;
use crate::db::entities::{one_time_tokens, users};
use crate::time;

/// The purposes a one-time token can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Email verification.
    VerifyEmail,
    /// Password reset.
    ResetPassword,
}

impl Purpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }
}

/// Creates a one-time token for `user_id`, retiring the user's earlier
/// unused tokens of that purpose (the newest link is the one that works).
pub async fn issue_token(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    purpose: Purpose,
    ttl: std::time::Duration,
) -> Result<String, DbErr> {
    use one_time_tokens::Column as C;
    let now = time::now();
    one_time_tokens::Entity::update_many()
        .col_expr(C::UsedAt, Expr::value(now))
        .filter(C::UserId.eq(user_id))
        .filter(C::Purpose.eq(purpose.as_str()))
        .filter(C::UsedAt.is_null())
        .exec(conn)
        .await?;
    let prefix = match purpose {
        Purpose::VerifyEmail => tokens::VERIFY_PREFIX,
        Purpose::ResetPassword => tokens::RESET_PREFIX,
    };
    let token = tokens::new_one_time_token(prefix);
    one_time_tokens::Entity::insert(one_time_tokens::ActiveModel {
        token_hash: Set(tokens::digest(&token)),
        user_id: Set(user_id),
        purpose: Set(purpose.as_str().to_owned()),
        created_at: Set(now),
        expires_at: Set(time::after(now, ttl)),
        used_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(token)
}

/// Consumes `token` for `purpose`: `Some(user_id)` if it was valid, unused
/// and unexpired (and it is now used), `None` otherwise. Single use holds
/// under concurrency: the update only succeeds once.
pub async fn consume_token(
    conn: &impl ConnectionTrait,
    token: &str,
    purpose: Purpose,
) -> Result<Option<Uuid>, DbErr> {
    use one_time_tokens::Column as C;
    let now = time::now();
    let digest = tokens::digest(token);
    let Some(row) = one_time_tokens::Entity::find_by_id(digest.clone())
        .filter(C::Purpose.eq(purpose.as_str()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    if row.used_at.is_some() || row.expires_at <= now {
        return Ok(None);
    }
    let used = one_time_tokens::Entity::update_many()
        .col_expr(C::UsedAt, Expr::value(now))
        .filter(C::TokenHash.eq(digest))
        .filter(C::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok((used.rows_affected == 1).then_some(row.user_id))
}

/// The user of a valid, unused, unexpired reset token.
pub async fn live_owner(
    conn: &impl ConnectionTrait,
    token: &str,
    purpose: Purpose,
) -> Result<Option<users::Model>, DbErr> {
    let found = one_time_tokens::Entity::find_by_id(tokens::digest(token))
        .filter(one_time_tokens::Column::Purpose.eq(purpose.as_str()))
        .filter(one_time_tokens::Column::UsedAt.is_null())
        .filter(one_time_tokens::Column::ExpiresAt.gt(time::now()))
        .find_also_related(users::Entity)
        .one(conn)
        .await?;
    Ok(found.and_then(|(_, user)| user))
}
