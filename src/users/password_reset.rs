//! Password reset: `POST /password/forgot` and `POST /password/reset`.
//! The reset link itself is minted at delivery (see `deferred_mail`).
//!
//! A "forgot" request only queues a deferred message for the address, the
//! same single insert whether or not an account exists; the worker looks the
//! account up at delivery. So neither the answer nor its timing tells
//! whether the address is registered.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Redirect;
use secrecy::SecretString;
use serde_json::json;

use super::deferred_mail;
use super::one_time_tokens::{self, Purpose};
use super::repo;
use super::requests::{ResendRequest, ResetPasswordRequest};
use super::views::MessageResponse;
use crate::audit::{self, Action};
use crate::auth::{device_tokens, sessions};
use crate::db;
use crate::domain::Password;
use crate::email::MailKind;
use crate::error::{AppError, Result};
use crate::http::extract::{Json, Query};
use crate::http::openapi::responses;
use crate::state::AppState;

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
        (status = 400, response = responses::BadRequest),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 429, response = responses::TooManyRequests),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn forgot_password(
    State(state): State<AppState>,
    Json(request): Json<ResendRequest>,
) -> Result<(StatusCode, axum::Json<MessageResponse>)> {
    deferred_mail::queue_request(&state, &request.email, MailKind::PasswordResetRequest).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(MessageResponse {
            message: FORGOT_ANSWER.into(),
        }),
    ))
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
        (status = 400, response = responses::BadRequest),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Json(request): Json<ResetPasswordRequest>,
) -> Result<StatusCode> {
    reset_with_token(&state, &request.token, &request.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The query of a reset link.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct ResetLink {
    /// The token from the email.
    pub token: Option<String>,
}

/// Where a reset link lands: the page that takes the new password (the
/// token is used only when that page's form is sent).
#[utoipa::path(
    get,
    path = "/password/reset",
    tag = "password",
    params(ResetLink),
    responses(
        (status = 303, description = "To the page that takes the new password"),
        (status = 400, response = responses::BadRequest),
    )
)]
pub async fn reset_link(Query(link): Query<ResetLink>) -> Redirect {
    let page = match link.token {
        Some(token) => format!(
            "/reset-password?token={}",
            url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
        ),
        None => "/reset-password".to_owned(),
    };
    Redirect::to(&page)
}

/// Sets a new password with a reset token: the token is consumed only if
/// the new password passes the policy; the user's sessions, devices and
/// other reset links end; a failed-login lock (not a suspension) is lifted.
pub async fn reset_with_token(state: &AppState, token: &str, new_password: &str) -> Result<()> {
    let invalid = || AppError::BadRequest("the reset token is invalid or has expired".into());
    // Look before consuming: a new password that breaks the policy must not burn the token.
    let user = one_time_tokens::live_owner(&state.db, token, Purpose::ResetPassword)
        .await?
        .ok_or_else(invalid)?;
    let password = Password::parse(new_password, Some(&user.email), Some(&user.nickname))
        .map_err(|e| AppError::field("new_password", e.to_string()))?;
    let hash = state
        .hashing
        .hash(SecretString::from(password.expose().to_owned()))
        .await?;
    let tx = db::begin(&state.db).await?;
    match one_time_tokens::consume_token(&tx, token, Purpose::ResetPassword).await? {
        Some(owner) if owner == user.id => {}
        _ => {
            db::rollback(tx).await?;
            return Err(invalid());
        }
    }
    repo::set_password_after_reset(&tx, &user, hash).await?;
    sessions::revoke_all(&tx, user.id, None).await?;
    device_tokens::revoke_all(&tx, user.id).await?;
    one_time_tokens::retire_all(&tx, user.id, Purpose::ResetPassword).await?;
    let details = json!({ "was_locked": user.is_locked });
    audit::record(
        &tx,
        Some(user.id),
        Some(user.id),
        Action::PasswordReset,
        details,
    )
    .await?;
    db::commit(tx).await?;
    Ok(())
}
