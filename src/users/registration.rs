//! Registration: `POST /register`, and creating an account (shared with
//! staff creation and the CLI import).

use axum::extract::State;
use axum::http::StatusCode;

use super::requests::RegisterRequest;
use super::views::{UserResponse, Viewer};
use crate::error::Result;
use crate::http::extract::Json;
use crate::http::openapi::responses;
use crate::state::AppState;

/// Registers an account (role ANONYMOUS) and sends the verification email.
#[utoipa::path(
    post,
    path = "/register",
    tag = "registration",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered; a verification email is on its way", body = UserResponse),
        (status = 400, response = responses::BadRequest),
        (status = 409, response = responses::Conflict),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 429, response = responses::TooManyRequests),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    Json(request): Json<RegisterRequest>,
) -> Result<(StatusCode, axum::Json<UserResponse>)> {
    let user = create_account(&state.db, &state.hashing, request, Origin::SelfRegistered).await?;
    state.mail_queued();
    let body = UserResponse::new(user, Viewer::Registrant, state.config.base_url());
    Ok((StatusCode::CREATED, axum::Json(body)))
}

pub use super::accounts::{Origin, create_account};
