//! `AuthUser`: the caller behind a bearer token, checked against its live
//! session on every request so revocation takes effect at once.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use uuid::Uuid;

use super::sessions;
use crate::db::entities::users;
use crate::domain::role::Role;
use crate::error::AppError;
use crate::state::AppState;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user row as of this request.
    pub user: users::Model,
    /// The session of the presented token.
    pub session_id: Uuid,
    /// The user's current role (from the database, not the token).
    pub role: Role,
}

impl AuthUser {
    /// The caller's id.
    pub fn id(&self) -> Uuid {
        self.user.id
    }
}

fn unauthorized(detail: &str) -> AppError {
    AppError::Unauthorized(detail.to_owned())
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| unauthorized("missing bearer token"))?;
        let claims = state
            .jwt
            .verify(token)
            .ok_or_else(|| unauthorized("invalid or expired token"))?;
        let (session, user) =
            sessions::find_active(&state.db, &state.lookup, claims.sid, claims.sub)
                .await?
                .ok_or_else(|| unauthorized("the session of this token has ended"))?;
        if crate::users::repo::is_suspended(&user) {
            return Err(unauthorized("the account is suspended"));
        }
        let role = user.role;
        if let Err(err) = sessions::touch(&state.db, session).await {
            tracing::debug!(error = %err, "could not record session use");
        }
        Ok(AuthUser {
            user,
            session_id: session.id,
            role,
        })
    }
}

/// A caller with at least MANAGER role; anyone else gets 403.
#[derive(Debug, Clone)]
pub struct Staff(pub AuthUser);

/// A caller with the ADMIN role; anyone else gets 403.
#[derive(Debug, Clone)]
pub struct Admin(pub AuthUser);

async fn with_role(parts: &mut Parts, state: &AppState, least: Role) -> Result<AuthUser, AppError> {
    let user = AuthUser::from_request_parts(parts, state).await?;
    if user.role < least {
        return Err(AppError::Forbidden(format!(
            "this action needs the {least} role or higher"
        )));
    }
    Ok(user)
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        with_role(parts, state, Role::Manager).await.map(Staff)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        with_role(parts, state, Role::Admin).await.map(Admin)
    }
}
