//! Authentication: passwords, tokens, sessions, the token endpoint, and the
//! `AuthUser` extractor every protected handler starts from.

pub mod address_keys;
pub mod browser_sessions;
pub mod device_tokens;
pub mod extractor;
pub mod grants;
pub mod hashing;
pub mod jwt;
pub mod lockout;
pub mod logout;
pub mod mfa;
pub mod mfa_routes;
pub mod oauth_error;
pub mod session_routes;
pub mod sessions;
pub mod token_endpoint;
pub mod tokens;
pub mod totp;
pub mod unknown_logins;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// The token endpoint (`/login`, `/token`), behind its own rate-limit layer.
pub fn token_router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token_endpoint::login))
        .routes(routes!(token_endpoint::token))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            token_endpoint::limit,
        ))
}

/// `/me/mfa/…`, answered only with `MFA_ENROLMENT` on.
pub fn mfa_router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mfa_routes::start_totp))
        .routes(routes!(mfa_routes::confirm_totp))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            mfa_routes::enabled,
        ))
}

/// `/logout` and the caller's sessions.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(logout::logout))
        .routes(routes!(
            session_routes::list_sessions,
            session_routes::revoke_other_sessions
        ))
        .routes(routes!(session_routes::revoke_session))
}
