//! Email verification: issuing links (at registration and on request) and
//! consuming them.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Action};
use crate::auth::tokens;
use crate::config::Config;
use crate::db::{
    self, Db,
    entities::{one_time_tokens, users},
};
use crate::email::worker::Composed;
use crate::email::{self, MailKind};
use crate::error::{AppError, Result};
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

/// Issues a verification link for `user` and composes the email carrying
/// it (called by the mail worker at delivery, so no token waits in the outbox).
pub async fn verification_message(
    conn: &impl ConnectionTrait,
    config: &Config,
    user: &users::Model,
) -> Result<Composed, DbErr> {
    let token = issue_token(
        conn,
        user.id,
        Purpose::VerifyEmail,
        config.email_verification_ttl,
    )
    .await?;
    Ok(Composed {
        to: user.email.clone(),
        template: MailKind::VerifyEmail.template().to_owned(),
        payload: json!({
            "nickname": user.nickname,
            "link": format!("{}/verify-email/{}/{}", config.base_url(), user.id, token),
            "expires_in": time::describe(config.email_verification_ttl),
        }),
    })
}

/// Queues the verification email of `user` (composed at delivery).
pub async fn queue_verification(
    conn: &impl ConnectionTrait,
    user: &users::Model,
) -> Result<(), DbErr> {
    email::enqueue(
        conn,
        &user.email_norm,
        MailKind::VerifyEmailRequest,
        json!({}),
    )
    .await?;
    Ok(())
}

/// Verifies the email of `user_id` with `token`. Any mismatch (unknown user,
/// wrong, used or expired token) is one 400, so the link reveals nothing.
pub async fn verify_email(db: &Db, user_id: &str, token: &str) -> Result<()> {
    let invalid = || AppError::BadRequest("the verification link is invalid or has expired".into());
    let user_id = Uuid::parse_str(user_id).map_err(|_| invalid())?;
    let tx = db::begin(db).await?;
    match consume_token(&tx, token, Purpose::VerifyEmail).await? {
        Some(owner) if owner == user_id => {}
        _ => {
            tx.rollback().await?;
            return Err(invalid());
        }
    }
    crate::users::repo::mark_email_verified(&tx, user_id).await?;
    audit::record(
        &tx,
        Some(user_id),
        Some(user_id),
        Action::EmailVerified,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
