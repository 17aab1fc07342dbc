//! The caller's sessions: `GET /me/sessions`, `DELETE /me/sessions/{id}`,
//! and `DELETE /me/sessions` (every one but the caller's).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extractor::AuthUser;
use super::sessions;
use crate::error::{AppError, Result};
use crate::http::openapi::responses;
use crate::state::AppState;

/// One active session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// Session id (the `sid` of its access tokens).
    pub id: Uuid,
    /// When the login happened.
    pub created_at: DateTime<Utc>,
    /// Last use (refresh, or a request; updated at most once a minute).
    pub last_used_at: DateTime<Utc>,
    /// When its refresh token expires unless used.
    pub expires_at: DateTime<Utc>,
    /// The client's User-Agent at login.
    pub user_agent: Option<String>,
    /// The client's address at login.
    pub client_addr: Option<String>,
    /// True for the session of the token making this request.
    pub current: bool,
}

/// The caller's active sessions, newest first.
#[utoipa::path(
    get,
    path = "/me/sessions",
    tag = "me",
    security(("oauth2" = [])),
    responses(
        (status = 200, description = "Active sessions", body = [SessionResponse]),
        (status = 401, response = responses::Unauthorized),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<axum::Json<Vec<SessionResponse>>> {
    let rows = sessions::live_of(&state.db, auth.id()).await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|s| SessionResponse {
                current: s.id == auth.session_id,
                id: s.id,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
                user_agent: s.user_agent,
                client_addr: s.client_addr,
            })
            .collect(),
    ))
}

/// Revokes one of the caller's sessions; its tokens stop working at once.
#[utoipa::path(
    delete,
    path = "/me/sessions/{id}",
    tag = "me",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn revoke_session(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let not_found = || AppError::NotFound("no such session".into());
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    if !sessions::revoke_own(&state.db, auth.id(), id).await? {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes every session of the caller except the one making this request
/// ("sign out everywhere else").
#[utoipa::path(
    delete,
    path = "/me/sessions",
    tag = "me",
    security(("oauth2" = [])),
    responses(
        (status = 200, description = "Revoked; how many", body = RevokedSessions),
        (status = 401, response = responses::Unauthorized),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn revoke_other_sessions(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<axum::Json<RevokedSessions>> {
    let revoked = sessions::revoke_all(&state.db, auth.id(), Some(auth.session_id)).await?;
    Ok(axum::Json(RevokedSessions { revoked }))
}

/// The answer of `DELETE /me/sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedSessions {
    /// How many sessions were ended.
    pub revoked: u64,
}
