//! The caller's own account: `GET /me`, `PATCH /me`.

use axum::extract::State;
use axum::http::StatusCode;

use super::requests::{ChangePasswordRequest, UpdateProfileRequest};
use super::views::{MeResponse, UserResponse, Viewer};
use crate::auth::extractor::AuthUser;
use crate::error::Result;
use crate::http::extract::Json;
use crate::http::openapi::responses;
use crate::state::AppState;

/// The caller's own user.
#[utoipa::path(
    get,
    path = "/me",
    tag = "me",
    security(("oauth2" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, response = responses::Unauthorized),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn get_me(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<axum::Json<MeResponse>> {
    let mfa_enabled = crate::auth::mfa::is_enabled(&state.db, auth.user.id).await?;
    let user = UserResponse::new(auth.user, Viewer::Owner, state.config.base_url());
    Ok(axum::Json(MeResponse { user, mfa_enabled }))
}

/// Updates the caller's profile fields. Email, role, lock and professional
/// flags are not accepted here (unknown fields are refused with 422).
#[utoipa::path(
    patch,
    path = "/me",
    tag = "me",
    security(("oauth2" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, description = "Updated", body = MeResponse),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 409, response = responses::Conflict),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn update_me(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(request): Json<UpdateProfileRequest>,
) -> Result<axum::Json<MeResponse>> {
    let user = update_profile(&state, auth.user, &request).await?;
    let mfa_enabled = crate::auth::mfa::is_enabled(&state.db, user.id).await?;
    let user = UserResponse::new(user, Viewer::Owner, state.config.base_url());
    Ok(axum::Json(MeResponse { user, mfa_enabled }))
}

/// Changes the caller's password and revokes their other sessions. A wrong
/// current password counts as a failed login (it can lock the account).
#[utoipa::path(
    post,
    path = "/me/password",
    tag = "me",
    security(("oauth2" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; the caller's other sessions are revoked"),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(request): Json<ChangePasswordRequest>,
) -> Result<StatusCode> {
    set_own_password(&state, &auth.user, auth.session_id, &request).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub use super::own_account::{set_own_password, update_profile};
