//! The caller's own account: `GET /me`, `PATCH /me`.

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;

use super::one_time_tokens::{self, Purpose};
use super::profile_fields::Errors;
use super::repo;
use super::requests::{ChangePasswordRequest, UpdateProfileRequest};
use super::views::{UserResponse, Viewer};
use crate::auth::extractor::AuthUser;
use crate::auth::{device_tokens, lockout, sessions};
use crate::db;
use crate::db::entities::users;
use crate::domain::Password;
use crate::error::{AppError, Result};
use crate::http::extract::Json;
use crate::http::openapi::responses;
use crate::state::AppState;
use uuid::Uuid;

/// The caller's own user.
#[utoipa::path(
    get,
    path = "/me",
    tag = "me",
    security(("oauth2" = [])),
    responses(
        (status = 200, description = "The caller", body = UserResponse),
        (status = 401, response = responses::Unauthorized),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn get_me(State(state): State<AppState>, auth: AuthUser) -> axum::Json<UserResponse> {
    axum::Json(UserResponse::new(
        auth.user,
        Viewer::Owner,
        state.config.base_url(),
    ))
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
        (status = 200, description = "Updated", body = UserResponse),
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
) -> Result<axum::Json<UserResponse>> {
    let user = update_profile(&state, auth.user, &request).await?;
    Ok(axum::Json(UserResponse::new(
        user,
        Viewer::Owner,
        state.config.base_url(),
    )))
}

/// Updates `user`'s own profile fields: all checked first, each mistake
/// named by its field; a taken nickname is a conflict.
pub async fn update_profile(
    state: &AppState,
    user: users::Model,
    request: &UpdateProfileRequest,
) -> Result<users::Model> {
    let mut errors = Errors::default();
    let changes = request.raw_profile().parse(&mut errors);
    errors.finish()?;
    repo::update_profile(&state.db, user, changes)
        .await
        .map_err(repo::conflict_or)
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

/// Changes `user`'s password when the current one is right, and ends every
/// other session, device token and reset link of theirs (`keep` is the
/// session making the change). A wrong current password counts as a failed
/// login.
pub async fn set_own_password(
    state: &AppState,
    user: &users::Model,
    keep: Uuid,
    request: &ChangePasswordRequest,
) -> Result<()> {
    let new = Password::parse(
        &request.new_password,
        Some(&user.email),
        Some(&user.nickname),
    )
    .map_err(|e| AppError::field("new_password", e.to_string()))?;
    let current = SecretString::from(request.current_password.clone());
    let verdict = state
        .hashing
        .verify(current, user.password_hash.clone())
        .await?;
    if !verdict.is_match() {
        lockout::record_failure(state, user).await?;
        return Err(AppError::field(
            "current_password",
            "the current password is incorrect",
        ));
    }
    let hash = state
        .hashing
        .hash(SecretString::from(new.expose().to_owned()))
        .await?;
    let tx = db::begin(&state.db).await?;
    repo::set_password(&tx, user.id, hash).await?;
    sessions::revoke_all(&tx, user.id, Some(keep)).await?;
    device_tokens::revoke_all(&tx, user.id).await?;
    one_time_tokens::retire_all(&tx, user.id, Purpose::ResetPassword).await?;
    db::commit(tx).await?;
    Ok(())
}
