//! Authentication: passwords, tokens, sessions, the token endpoint, and the
//! `AuthUser` extractor every protected handler starts from.

pub mod extractor;
pub mod jwt;
pub mod lockout;
pub mod login;
pub mod logout;
pub mod oauth_error;
pub mod password;
pub mod sessions;
pub mod tokens;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// Routes of `/login`, `/token` and `/logout`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login::login))
        .routes(routes!(login::token))
        .routes(routes!(logout::logout))
}
