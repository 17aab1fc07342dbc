//! `POST /me/password`: change one's password, knowing the current one.

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::repo;
use crate::auth::extractor::AuthUser;
use crate::auth::{lockout, sessions};
use crate::db;
use crate::domain::Password;
use crate::error::{AppError, Problem, Result};
use crate::extract::Json;
use crate::state::AppState;

/// `POST /me/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password in use now.
    #[schema(format = Password)]
    pub current_password: String,
    /// The new password (same policy as registration).
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub new_password: String,
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
        (status = 400, description = "Unparseable body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong current password, or the new one breaks the policy", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(request): Json<ChangePasswordRequest>,
) -> Result<StatusCode> {
    let user = &auth.user;
    let new = Password::parse(
        &request.new_password,
        Some(&user.email),
        Some(&user.nickname),
    )
    .map_err(|e| AppError::field("new_password", e.to_string()))?;
    let current = SecretString::from(request.current_password);
    let verdict = state
        .hashing
        .verify(current, user.password_hash.clone())
        .await?;
    if !verdict.is_match() {
        lockout::record_failure(&state, user).await?;
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
    sessions::revoke_all(&tx, user.id, Some(auth.session_id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
