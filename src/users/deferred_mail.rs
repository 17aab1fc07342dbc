//! Deferred mail: a password-reset or verification request only queues a
//! message naming the address, the same single insert whether or not an
//! account exists; the worker looks the account up at delivery and mints
//! the token then. So neither the answer nor its timing tells whether the
//! address is registered, and no token waits in the outbox. Each link goes
//! out with its short code (`codes`), and a page to type it on. A suspended
//! account asking for a reset gets a notice instead of a link; the
//! confirmation of a new address (`email_change`) is composed here too.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use super::codes::{self, CodeKeys};
use super::one_time_tokens::Purpose;
use super::repo;
use crate::auth::tokens;
use crate::config::Config;
use crate::db::{
    self, Db,
    entities::{email_changes, email_outbox, users},
};
use crate::domain::Email;
use crate::email::worker::{AsQueued, Compose, Composed};
use crate::email::{self, MailKind, outbox};
use crate::error::{AppError, Result};
use crate::state::AppState;
use crate::time;

/// Queues a deferred request for `email` (validated for shape only).
pub async fn queue_request(state: &AppState, email: &str, kind: MailKind) -> Result<()> {
    let email = Email::parse(email).map_err(|e| AppError::field("email", e.to_string()))?;
    email::enqueue(&state.db, &email.normalized(), kind, json!({})).await?;
    state.mail_queued();
    Ok(())
}

/// Composes deferred requests (`password_reset_request`,
/// `verify_email_request`, `email_change_request`); every other row goes
/// out as queued.
pub struct Composer {
    /// The database.
    pub db: Db,
    /// Base URL, link templates and token lifetimes.
    pub config: std::sync::Arc<Config>,
    /// The key of the codes' digests.
    pub code_keys: CodeKeys,
}

#[async_trait::async_trait]
impl Compose for Composer {
    async fn compose(&self, row: &email_outbox::Model) -> Result<Option<Composed>, sea_orm::DbErr> {
        let reset = MailKind::PasswordResetRequest.template();
        let verify = MailKind::VerifyEmailRequest.template();
        if row.template == MailKind::EmailChangeRequest.template() {
            let tx = db::begin(&self.db).await?;
            let composed = confirmation_message(&tx, &self.config, row).await?;
            db::commit(tx).await?;
            return Ok(composed);
        }
        if row.template != reset && row.template != verify {
            return AsQueued.compose(row).await;
        }
        let Some(user) = users::Entity::find()
            .filter(users::Column::EmailNorm.eq(row.recipient.as_str()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let config = &self.config;
        if over_limit(&self.db, config, &user).await? {
            // Nothing composed: no token minted, none retired, nothing sent.
            tracing::info!(user_id = %user.id, "account mail limit reached for this address");
            return Ok(None);
        }
        if row.template == reset && repo::is_suspended(&user) {
            // A new password would not let a suspended user in: say so, mint nothing.
            return Ok(Some(suspended_message(&user)));
        }
        let tx = db::begin(&self.db).await?;
        let keys = &self.code_keys;
        let composed = if row.template == reset {
            reset_message(&tx, config, keys, &user).await?
        } else if !user.email_verified {
            verification_message(&tx, config, keys, &user).await?
        } else {
            db::commit(tx).await?;
            return Ok(None);
        };
        db::commit(tx).await?;
        Ok(Some(composed))
    }
}

/// Whether `user`'s address had `MAIL_RECIPIENT_LIMIT` account mails this
/// hour already. Decided here, at delivery, so the HTTP answer to the
/// request is the same either way.
pub async fn over_limit(
    conn: &impl ConnectionTrait,
    config: &Config,
    user: &users::Model,
) -> Result<bool, DbErr> {
    over_limit_for(conn, config, &[&user.email, &user.email_norm]).await
}

/// Whether any of `addresses` (the spellings of one address) had
/// `MAIL_RECIPIENT_LIMIT` account mails this hour already.
pub async fn over_limit_for(
    conn: &impl ConnectionTrait,
    config: &Config,
    addresses: &[&str],
) -> Result<bool, DbErr> {
    if config.mail_recipient_limit == 0 {
        return Ok(false);
    }
    let sent = outbox::recently_delivered_to(conn, addresses).await?;
    Ok(sent >= u64::from(config.mail_recipient_limit))
}

/// The answer to a reset request of a suspended account: no link.
pub fn suspended_message(user: &users::Model) -> Composed {
    Composed {
        to: user.email.clone(),
        template: MailKind::AccountSuspended.template().to_owned(),
        payload: json!({ "nickname": user.nickname }),
    }
}

/// Issues a verification link and code for `user` and composes the email
/// carrying them (called by the mail worker at delivery, so no token waits
/// in the outbox).
pub async fn verification_message(
    conn: &impl ConnectionTrait,
    config: &Config,
    keys: &CodeKeys,
    user: &users::Model,
) -> Result<Composed, DbErr> {
    let ttl = config.email_verification_ttl;
    let (token, code) = codes::issue_link(conn, keys, user.id, Purpose::VerifyEmail, ttl).await?;
    Ok(Composed {
        to: user.email.clone(),
        template: MailKind::VerifyEmail.template().to_owned(),
        payload: json!({
            "nickname": user.nickname,
            "link": config.verify_link(&user.id.to_string(), &token),
            "code": code.display(),
            "code_page": format!("{}/confirm-email", config.base_url()),
            "expires_in": time::describe(ttl),
        }),
    })
}

/// Mints a reset link and code for `user` and composes the email carrying
/// them (called by the mail worker at delivery).
pub async fn reset_message(
    conn: &impl ConnectionTrait,
    config: &Config,
    keys: &CodeKeys,
    user: &users::Model,
) -> Result<Composed, DbErr> {
    let ttl = config.password_reset_ttl;
    let (token, code) = codes::issue_link(conn, keys, user.id, Purpose::ResetPassword, ttl).await?;
    Ok(Composed {
        to: user.email.clone(),
        template: MailKind::PasswordReset.template().to_owned(),
        payload: json!({
            "nickname": user.nickname,
            "link": config.reset_link(&user.id.to_string(), &token),
            "code": code.display(),
            "code_page": format!("{}/reset-password", config.base_url()),
            "expires_in": time::describe(ttl),
        }),
    })
}

/// Composes the confirmation mail of the pending change named by a queued
/// `email_change_request` row, minting its link now (called by the mail
/// worker at delivery). `None` (nothing sent, nothing minted) when the
/// change was replaced, used or has expired, when an account has the
/// address, or when the address had its hourly share of account mail.
pub async fn confirmation_message(
    conn: &impl ConnectionTrait,
    config: &Config,
    row: &email_outbox::Model,
) -> Result<Option<Composed>, DbErr> {
    use email_changes::Column as C;
    let id = row.payload["change_id"].as_str().map(Uuid::parse_str);
    let Some(Ok(id)) = id else {
        return Ok(None);
    };
    let change = email_changes::Entity::find_by_id(id).one(conn).await?;
    let user = match &change {
        Some(c) if c.used_at.is_none() && c.token_hash.is_none() => {
            repo::find_by_id(conn, c.user_id).await?
        }
        _ => None,
    };
    let (Some(change), Some(user)) = (change, user) else {
        return Ok(None);
    };
    let taken = users::Entity::find()
        .filter(users::Column::EmailNorm.eq(change.new_email_norm.as_str()))
        .count(conn)
        .await?
        > 0;
    let addresses = [change.new_email.as_str(), change.new_email_norm.as_str()];
    if taken || over_limit_for(conn, config, &addresses).await? {
        return Ok(None);
    }
    let token = tokens::new_one_time_token(tokens::EMAIL_CHANGE_PREFIX);
    let minted = email_changes::Entity::update_many()
        .col_expr(C::TokenHash, Expr::value(tokens::digest(&token)))
        .col_expr(
            C::ExpiresAt,
            Expr::value(time::after(time::now(), config.email_verification_ttl)),
        )
        .filter(C::Id.eq(change.id))
        .filter(C::UsedAt.is_null())
        .filter(C::TokenHash.is_null())
        .exec(conn)
        .await?;
    Ok((minted.rows_affected == 1).then(|| Composed {
        to: change.new_email.clone(),
        template: MailKind::ConfirmEmailChange.template().to_owned(),
        payload: json!({
            "nickname": user.nickname,
            "link": format!("{}/email/confirm?token={token}", config.base_url()),
            "expires_in": time::describe(config.email_verification_ttl),
        }),
    }))
}
