//! The caller's own account: `GET /me`, `PATCH /me`.

use axum::extract::State;

use super::dto::{UpdateProfileRequest, UserResponse, Viewer};
use super::profile::{Errors, RawProfile};
use super::repo;
use crate::auth::extractor::AuthUser;
use crate::error::{Problem, Result};
use crate::extract::Json;
use crate::state::AppState;

/// The caller's own user.
#[utoipa::path(
    get,
    path = "/me",
    tag = "me",
    security(("oauth2" = [])),
    responses(
        (status = 200, description = "The caller", body = UserResponse),
        (status = 401, description = "Missing, invalid or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
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
        (status = 400, description = "Unparseable body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nickname taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_me(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(request): Json<UpdateProfileRequest>,
) -> Result<axum::Json<UserResponse>> {
    let mut errors = Errors::default();
    let changes = RawProfile::from(request).parse(&mut errors);
    errors.finish()?;
    let user = repo::update_profile(&state.db, auth.user, changes)
        .await
        .map_err(repo::conflict_or)?;
    Ok(axum::Json(UserResponse::new(
        user,
        Viewer::Owner,
        state.config.base_url(),
    )))
}
