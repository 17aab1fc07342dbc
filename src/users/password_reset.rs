//! Password reset: `POST /password/forgot` and `POST /password/reset`.
//! The reset link and its short code are minted at delivery (see
//! `deferred_mail`); what they do is in `mail_links`.
//!
//! A "forgot" request only queues a deferred message for the address, the
//! same single insert whether or not an account exists; the worker looks the
//! account up at delivery. So neither the answer nor its timing tells
//! whether the address is registered.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Redirect;

use super::deferred_mail;
use super::mail_links;
use super::requests::{ResendRequest, ResetPasswordBody, ResetPasswordRequest};
use super::views::MessageResponse;
use crate::config::percent_encode;
use crate::email::MailKind;
use crate::error::Result;
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

/// Sets a new password with a reset link or the code of its mail.
///
/// Either the link's `token` or the address and the short code of the mail
/// (`email`, `code`): single use, expiring. Unlocks the account, confirms
/// the email (the mail proved it), revokes every session. A wrong code and
/// an address without an account get the same 400; five wrong codes void
/// the user's live codes (the links stay good).
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
        (status = 429, response = responses::TooManyRequests),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Json(body): Json<ResetPasswordBody>,
) -> Result<StatusCode> {
    match ResetPasswordRequest::try_from(body)? {
        ResetPasswordRequest::Link(link) => {
            mail_links::reset_with_token(&state, &link.token, &link.new_password).await?;
        }
        ResetPasswordRequest::Code(code) => {
            let (email, password) = (&code.email, &code.new_password);
            mail_links::reset_with_code(&state, email, &code.code, password).await?;
        }
    }
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
        Some(token) => format!("/reset-password?token={}", percent_encode(&token)),
        None => "/reset-password".to_owned(),
    };
    Redirect::to(&page)
}
