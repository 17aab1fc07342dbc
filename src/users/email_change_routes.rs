//! The HTTP face of changing one's address: `POST /me/email` asks,
//! `POST /email/confirm` confirms, and `GET /email/confirm` (the mailed
//! link) leads to the confirmation page. The work is in
//! [`super::email_change`].

use axum::extract::State;
use axum::http::StatusCode;

use super::email_change::{confirm_change, request_change};
use super::requests::{ChangeEmailRequest, ConfirmEmailChangeRequest};
use super::views::{MessageResponse, UserResponse, Viewer};
use crate::auth::extractor::AuthUser;
use crate::config::percent_encode;
use crate::error::Result;
use crate::http::extract::Json;
use crate::http::openapi::responses;
use crate::state::AppState;

/// The answer to every accepted `POST /me/email`, whether or not the
/// address is free.
const REQUEST_ANSWER: &str = "If that address can be used, a confirmation link is on its way to it; \
     your current address stays in use until you confirm.";

/// Asks to move the caller's account to a new address. Nothing changes
/// until the link sent there is used; the answer is the same whether or not
/// another account has that address (that one gets no link).
#[utoipa::path(
    post,
    path = "/me/email",
    tag = "me",
    security(("oauth2" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "If the address can be used, a confirmation link is on its way to it", body = MessageResponse),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn change_email(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(request): Json<ChangeEmailRequest>,
) -> Result<(StatusCode, axum::Json<MessageResponse>)> {
    request_change(&state, &auth.user, &request.new_email, &request.password).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(MessageResponse {
            message: REQUEST_ANSWER.into(),
        }),
    ))
}

/// Confirms a pending change of address with the token from the mail sent
/// to the new address: the account now uses it, verified.
#[utoipa::path(
    post,
    path = "/email/confirm",
    tag = "me",
    request_body = ConfirmEmailChangeRequest,
    responses(
        (status = 200, description = "The account now uses the new address", body = UserResponse),
        (status = 400, response = responses::BadRequest),
        (status = 409, response = responses::Conflict),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn confirm_email(
    State(state): State<AppState>,
    Json(request): Json<ConfirmEmailChangeRequest>,
) -> Result<axum::Json<UserResponse>> {
    let user = confirm_change(&state.db, &request.token).await?;
    state.mail_queued();
    Ok(axum::Json(UserResponse::new(
        user,
        Viewer::Owner,
        state.config.base_url(),
    )))
}

/// Where the confirmation link lands: the page whose button confirms (so a
/// mail scanner opening the link changes nothing).
#[utoipa::path(
    get,
    path = "/email/confirm",
    tag = "me",
    params(super::password_reset::ResetLink),
    responses(
        (status = 303, description = "To the confirmation page"),
        (status = 400, response = responses::BadRequest),
    )
)]
pub async fn confirm_link(
    crate::http::extract::Query(link): crate::http::extract::Query<
        super::password_reset::ResetLink,
    >,
) -> axum::response::Redirect {
    let token = link.token.unwrap_or_default();
    axum::response::Redirect::to(&format!(
        "/confirm-new-email?token={}",
        percent_encode(&token)
    ))
}
