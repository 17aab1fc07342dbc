//! `POST /logout`: ends the session of the presented token at once.

use axum::extract::State;
use axum::http::StatusCode;

use super::extractor::AuthUser;
use super::sessions;
use crate::error::Result;
use crate::http::openapi::responses;
use crate::state::AppState;

/// Revokes the caller's session; its access and refresh tokens stop working.
#[utoipa::path(
    post,
    path = "/logout",
    tag = "auth",
    security(("oauth2" = [])),
    responses(
        (status = 204, description = "Session revoked"),
        (status = 401, response = responses::Unauthorized),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn logout(State(state): State<AppState>, auth: AuthUser) -> Result<StatusCode> {
    sessions::revoke(&state.db, auth.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
