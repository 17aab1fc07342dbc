//! Password reset: `POST /password/forgot` and `POST /password/reset`, and
//! the composition of deferred reset and verification emails.
//!
//! A "forgot" request only queues a deferred message for the address, the
//! same single insert whether or not an account exists; the worker looks the
//! account up at delivery. So neither the answer nor its timing tells
//! whether the address is registered.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::dto::{MessageResponse, ResendRequest};
use super::repo;
use super::verification::{self, Purpose};
use crate::audit::{self, Action};
use crate::auth::{sessions, tokens};
use crate::config::Config;
use crate::db::{
    self, Db,
    entities::{email_outbox, one_time_tokens, users},
};
use crate::domain::{Email, Password};
use crate::email::worker::{AsQueued, Compose, Composed};
use crate::email::{self, MailKind};
use crate::error::{AppError, Problem, Result};
use crate::extract::Json;
use crate::state::AppState;
use crate::time;

/// `POST /password/reset`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token from the reset link (`token=` in its query).
    pub token: String,
    /// The new password (same policy as registration).
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub new_password: String,
}

const FORGOT_ANSWER: &str =
    "If that address belongs to an account, a password reset link is on its way.";

/// Emails a reset link if the address has an account. Same answer either way.
#[utoipa::path(
    post,
    path = "/password/forgot",
    tag = "password",
    request_body = ResendRequest,
    responses(
        (status = 202, description = "If the address has an account, a reset email is on its way", body = MessageResponse),
        (status = 400, description = "Unparseable body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an email address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn forgot_password(
    State(state): State<AppState>,
    Json(request): Json<ResendRequest>,
) -> Result<(StatusCode, axum::Json<MessageResponse>)> {
    queue_request(&state, &request.email, MailKind::PasswordResetRequest).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(MessageResponse {
            message: FORGOT_ANSWER.into(),
        }),
    ))
}

/// Queues a deferred request for `email` (validated for shape only).
pub async fn queue_request(state: &AppState, email: &str, kind: MailKind) -> Result<()> {
    let email = Email::parse(email).map_err(|e| AppError::field("email", e.to_string()))?;
    email::enqueue(&state.db, &email.normalized(), kind, json!({})).await?;
    state.mail_queued();
    Ok(())
}

/// Sets a new password with a reset token: single use, expiring. Unlocks the
/// account, confirms the email (the link proved it), revokes every session.
#[utoipa::path(
    post,
    path = "/password/reset",
    tag = "password",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password changed; every session revoked"),
        (status = 400, description = "Unparseable body, or invalid, used or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password breaks the policy", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Json(request): Json<ResetPasswordRequest>,
) -> Result<StatusCode> {
    let invalid = || AppError::BadRequest("the reset token is invalid or has expired".into());
    // Look before consuming: a new password that breaks the policy must not burn the token.
    let user = find_token_user(&state.db, &request.token)
        .await?
        .ok_or_else(invalid)?;
    let password = Password::parse(
        &request.new_password,
        Some(&user.email),
        Some(&user.nickname),
    )
    .map_err(|e| AppError::field("new_password", e.to_string()))?;
    let hash = state
        .hashing
        .hash(SecretString::from(password.expose().to_owned()))
        .await?;
    let tx = db::begin(&state.db).await?;
    match verification::consume_token(&tx, &request.token, Purpose::ResetPassword).await? {
        Some(owner) if owner == user.id => {}
        _ => {
            tx.rollback().await?;
            return Err(invalid());
        }
    }
    repo::set_password_after_reset(&tx, &user, hash).await?;
    sessions::revoke_all(&tx, user.id, None).await?;
    audit::record(
        &tx,
        Some(user.id),
        Some(user.id),
        Action::PasswordReset,
        json!({ "was_locked": user.is_locked }),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user of a valid, unused, unexpired reset token.
async fn find_token_user(db: &Db, token: &str) -> Result<Option<users::Model>> {
    let found = one_time_tokens::Entity::find_by_id(tokens::digest(token))
        .filter(one_time_tokens::Column::Purpose.eq(Purpose::ResetPassword.as_str()))
        .filter(one_time_tokens::Column::UsedAt.is_null())
        .filter(one_time_tokens::Column::ExpiresAt.gt(time::now()))
        .find_also_related(users::Entity)
        .one(db)
        .await?;
    Ok(found.and_then(|(_, user)| user))
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
        let tx = db::begin(&self.db).await?;
        let composed = if row.template == reset {
            let token = verification::issue_token(
                &tx,
                user.id,
                Purpose::ResetPassword,
                config.password_reset_ttl,
            )
            .await?;
            Composed {
                to: user.email.clone(),
                template: MailKind::PasswordReset.template().to_owned(),
                payload: json!({
                    "nickname": user.nickname,
                    "link": format!("{}/password/reset?token={token}", config.base_url()),
                    "expires_in": time::describe(config.password_reset_ttl),
                }),
            }
        } else if !user.email_verified {
            verification::verification_message(&tx, config, &user).await?
        } else {
            tx.commit().await?;
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some(composed))
    }
}
