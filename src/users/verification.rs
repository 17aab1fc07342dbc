//! Email verification: `GET /verify-email/{user_id}/{token}` and
//! `POST /verify-email/resend`, and the verification email itself.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;
use sea_orm::DbErr;
use serde_json::json;
use uuid::Uuid;

use super::deferred_mail;
use super::one_time_tokens::{Purpose, consume_token};
use super::requests::ResendRequest;
use super::views::MessageResponse;
use crate::audit::{self, Action};
use crate::db::{self, Db, entities::users};
use crate::email::{self, MailKind};
use crate::error::{AppError, Result};
use crate::http::extract::Json;
use crate::http::openapi::responses;
use crate::state::AppState;

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
pub async fn confirm(db: &Db, user_id: &str, token: &str) -> Result<()> {
    let invalid = || AppError::BadRequest("the verification link is invalid or has expired".into());
    let user_id = Uuid::parse_str(user_id).map_err(|_| invalid())?;
    let tx = db::begin(db).await?;
    match consume_token(&tx, token, Purpose::VerifyEmail).await? {
        Some(owner) if owner == user_id => {}
        _ => {
            db::rollback(tx).await?;
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
    db::commit(tx).await?;
    Ok(())
}

/// Verifies an email address with the link from the verification email.
#[utoipa::path(
    get,
    path = "/verify-email/{user_id}/{token}",
    tag = "registration",
    params(
        ("user_id" = String, Path, description = "The user's id"),
        ("token" = String, Path, description = "The token from the email"),
    ),
    responses(
        (status = 200, description = "Verified; the role is now AUTHENTICATED", body = MessageResponse),
        (status = 400, response = responses::BadRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn verify_email(
    State(state): State<AppState>,
    Path((user_id, token)): Path<(String, String)>,
) -> Result<axum::Json<MessageResponse>> {
    confirm(&state.db, &user_id, &token).await?;
    Ok(axum::Json(MessageResponse {
        message: "Email verified; you can now log in.".into(),
    }))
}

/// Sends a new verification link. The answer is the same whether or not the
/// address belongs to an unverified account.
#[utoipa::path(
    post,
    path = "/verify-email/resend",
    tag = "registration",
    request_body = ResendRequest,
    responses(
        (status = 202, description = "If the address needs verifying, an email is on its way", body = MessageResponse),
        (status = 400, response = responses::BadRequest),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 429, response = responses::TooManyRequests),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn resend_verification(
    State(state): State<AppState>,
    Json(request): Json<ResendRequest>,
) -> Result<(StatusCode, axum::Json<MessageResponse>)> {
    deferred_mail::queue_request(&state, &request.email, MailKind::VerifyEmailRequest).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(MessageResponse {
            message: "If that address belongs to an unverified account, a new verification email is on its way.".into(),
        }),
    ))
}
