//! The caller's sessions: `GET /me/sessions`, `DELETE /me/sessions/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extractor::AuthUser;
use super::sessions;
use crate::db::entities::sessions as table;
use crate::error::{AppError, Result};
use crate::http::openapi::responses;
use crate::state::AppState;
use crate::time;

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
    let rows = table::Entity::find()
        .filter(table::Column::UserId.eq(auth.id()))
        .filter(table::Column::RevokedAt.is_null())
        .filter(table::Column::ExpiresAt.gt(time::now()))
        .order_by_desc(table::Column::CreatedAt)
        .all(&state.db)
        .await?;
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
    let owned = table::Entity::find_by_id(id)
        .filter(table::Column::UserId.eq(auth.id()))
        .one(&state.db)
        .await?
        .is_some();
    if !owned || !sessions::revoke(&state.db, id).await? {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
