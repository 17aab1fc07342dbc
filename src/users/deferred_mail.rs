//! Deferred mail: a password-reset or verification request only queues a
//! message naming the address, the same single insert whether or not an
//! account exists; the worker looks the account up at delivery and mints
//! the token then. So neither the answer nor its timing tells whether the
//! address is registered, and no token waits in the outbox.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::json;

use super::one_time_tokens::{Purpose, issue_token};
use crate::config::Config;
use crate::db::{
    self, Db,
    entities::{email_outbox, users},
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
/// `verify_email_request`); every other row goes out as queued.
pub struct Composer {
    /// The database.
    pub db: Db,
    /// Base URL and token lifetimes.
    pub config: std::sync::Arc<Config>,
}

#[async_trait::async_trait]
impl Compose for Composer {
    async fn compose(&self, row: &email_outbox::Model) -> Result<Option<Composed>, sea_orm::DbErr> {
        let reset = MailKind::PasswordResetRequest.template();
        let verify = MailKind::VerifyEmailRequest.template();
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
        let tx = db::begin(&self.db).await?;
        let composed = if row.template == reset {
            reset_message(&tx, config, &user).await?
        } else if !user.email_verified {
            verification_message(&tx, config, &user).await?
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
    if config.mail_recipient_limit == 0 {
        return Ok(false);
    }
    let sent = outbox::recently_delivered_to(conn, &[&user.email, &user.email_norm]).await?;
    Ok(sent >= u64::from(config.mail_recipient_limit))
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

/// Mints a reset link for `user` and composes the email carrying it
/// (called by the mail worker at delivery).
pub async fn reset_message(
    conn: &impl sea_orm::ConnectionTrait,
    config: &Config,
    user: &users::Model,
) -> Result<Composed, sea_orm::DbErr> {
    let token = issue_token(
        conn,
        user.id,
        Purpose::ResetPassword,
        config.password_reset_ttl,
    )
    .await?;
    Ok(Composed {
        to: user.email.clone(),
        template: MailKind::PasswordReset.template().to_owned(),
        payload: json!({
            "nickname": user.nickname,
            "link": format!("{}/password/reset?token={token}", config.base_url()),
            "expires_in": time::describe(config.password_reset_ttl),
        }),
    })
}
