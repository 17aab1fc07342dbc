//! One-time tokens (email verification, password reset): random, stored
//! only as digests, single use, retired when a newer one is issued. A row
//! may carry the digest of the short code its mail shows (see `codes`):
//! whatever uses or retires the row ends the code too.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::auth::tokens;
use crate::db::entities::{email_changes, one_time_tokens, users};
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

/// How many unused tokens of one purpose a user may hold at once.
pub const MAX_LIVE: usize = 3;

/// Creates a one-time token for `user_id`, with `code_digest` the digest of
/// the short code mailed beside it (if any). Earlier unused tokens of that
/// purpose stay valid, up to [`MAX_LIVE`] in all: the oldest retires first.
pub async fn issue_token(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    purpose: Purpose,
    ttl: std::time::Duration,
    code_digest: Option<String>,
) -> Result<String, DbErr> {
    use one_time_tokens::Column as C;
    let now = time::now();
    // Links already sent stay valid side by side: only beyond MAX_LIVE does
    // the oldest retire, so asking again never breaks the link in hand.
    let live = one_time_tokens::Entity::find()
        .filter(C::UserId.eq(user_id))
        .filter(C::Purpose.eq(purpose.as_str()))
        .filter(C::UsedAt.is_null())
        .filter(C::ExpiresAt.gt(now))
        .order_by_desc(C::CreatedAt)
        .all(conn)
        .await?;
    let oldest: Vec<String> = live
        .into_iter()
        .skip(MAX_LIVE - 1)
        .map(|t| t.token_hash)
        .collect();
    if !oldest.is_empty() {
        one_time_tokens::Entity::update_many()
            .col_expr(C::UsedAt, Expr::value(now))
            .filter(C::TokenHash.is_in(oldest))
            .exec(conn)
            .await?;
    }
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
        code_digest: Set(code_digest),
        code_failures: Set(0),
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

/// Retires every unused token of `purpose` of `user_id` (the password
/// changed or was reset, or staff locked the account: links in old mails die).
pub async fn retire_all(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    purpose: Purpose,
) -> Result<(), DbErr> {
    use one_time_tokens::Column as C;
    one_time_tokens::Entity::update_many()
        .col_expr(C::UsedAt, Expr::value(time::now()))
        .filter(C::UserId.eq(user_id))
        .filter(C::Purpose.eq(purpose.as_str()))
        .filter(C::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Whether `token` was ever issued to `user_id` for `purpose`, used or not.
pub async fn was_issued_to(
    conn: &impl ConnectionTrait,
    token: &str,
    purpose: Purpose,
    user_id: Uuid,
) -> Result<bool, DbErr> {
    let found = one_time_tokens::Entity::find_by_id(tokens::digest(token))
        .filter(one_time_tokens::Column::Purpose.eq(purpose.as_str()))
        .filter(one_time_tokens::Column::UserId.eq(user_id))
        .one(conn)
        .await?;
    Ok(found.is_some())
}

/// Retires every outstanding link of `user_id`: reset and verification
/// links and pending email changes (the address changed, or staff locked
/// the account: links in old mails must not act on it any more).
pub async fn retire_every_link(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<(), DbErr> {
    let now = time::now();
    one_time_tokens::Entity::update_many()
        .col_expr(one_time_tokens::Column::UsedAt, Expr::value(now))
        .filter(one_time_tokens::Column::UserId.eq(user_id))
        .filter(one_time_tokens::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    email_changes::Entity::update_many()
        .col_expr(email_changes::Column::UsedAt, Expr::value(now))
        .filter(email_changes::Column::UserId.eq(user_id))
        .filter(email_changes::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}
