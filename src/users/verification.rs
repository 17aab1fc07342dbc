//! Email verification: `POST /verify-email` (with the link's parts or the
//! mail's short code; the work is in `mail_links`), the deprecated
//! `GET /verify-email/{user_id}/{token}` (which only a client asking for
//! JSON can use; browsers are sent to the confirmation page), and
//! `POST /verify-email/resend`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sea_orm::ConnectionTrait;
use sea_orm::DbErr;
use serde_json::json;

use super::deferred_mail;
use super::mail_links;
use super::requests::{ResendRequest, VerifyEmailBody, VerifyEmailRequest};
use super::views::MessageResponse;
use crate::config::percent_encode;
use crate::db::entities::users;
use crate::email::{self, MailKind};
use crate::error::Result;
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

/// Whether the client names JSON in `Accept` explicitly (not through `*/*`).
fn asks_for_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            range
                .split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
        })
}

/// The link of the verification email. Deprecated: a browser or a mail
/// scanner (anything not naming `application/json` in `Accept`) is sent to
/// the confirmation page, which confirms only when its button is pressed;
/// API clients should use `POST /verify-email`.
#[utoipa::path(
    get,
    path = "/verify-email/{user_id}/{token}",
    tag = "registration",
    params(
        ("user_id" = String, Path, description = "The user's id"),
        ("token" = String, Path, description = "The token from the email"),
    ),
    responses(
        (status = 200, description = "Verified (only with `Accept: application/json`)", body = MessageResponse),
        (status = 303, description = "Any other client: to the confirmation page, nothing used"),
        (status = 400, response = responses::BadRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
#[deprecated = "use POST /verify-email"]
pub async fn verify_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((user_id, token)): Path<(String, String)>,
) -> Result<Response> {
    if !asks_for_json(&headers) {
        let page = format!(
            "/confirm-email/{}/{}",
            percent_encode(&user_id),
            percent_encode(&token)
        );
        return Ok(Redirect::to(&page).into_response());
    }
    mail_links::confirm(&state.db, &user_id, &token).await?;
    Ok(verified_answer().into_response())
}

fn verified_answer() -> axum::Json<MessageResponse> {
    axum::Json(MessageResponse {
        message: "Email verified; you can now log in.".into(),
    })
}

/// Verifies an email address with its link or the code of its mail.
///
/// Either the parts of the link (`user_id`, `token`) or the address and the
/// short code of the mail (`email`, `code`). A wrong code and an address
/// without an account get the same 400; five wrong codes void the user's
/// live codes (the links stay good).
#[utoipa::path(
    post,
    path = "/verify-email",
    tag = "registration",
    request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "Verified; the role is AUTHENTICATED", body = MessageResponse),
        (status = 400, response = responses::BadRequest),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 429, response = responses::TooManyRequests),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn verify_email_post(
    State(state): State<AppState>,
    Json(body): Json<VerifyEmailBody>,
) -> Result<axum::Json<MessageResponse>> {
    match VerifyEmailRequest::try_from(body)? {
        VerifyEmailRequest::Link(link) => {
            mail_links::confirm(&state.db, &link.user_id, &link.token).await?;
        }
        VerifyEmailRequest::Code(code) => {
            mail_links::confirm_code(&state, &code.email, &code.code).await?;
        }
    }
    Ok(verified_answer())
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
