//! Authentication: passwords, tokens, sessions, the token endpoint, and the
//! `AuthUser` extractor every protected handler starts from.

pub mod extractor;
pub mod jwt;
pub mod lockout;
pub mod login;
pub mod logout;
pub mod oauth_error;
pub mod password;
pub mod session_routes;
pub mod sessions;
pub mod tokens;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// The token endpoint (`/login`, `/token`): rate limited per client.
pub fn limited_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login::login))
        .routes(routes!(login::token))
}

/// `/logout` and the caller's sessions.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(logout::logout))
        .routes(routes!(session_routes::list_sessions))
        .routes(routes!(session_routes::revoke_session))
}
