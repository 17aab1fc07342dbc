//! Users: registration and verification, the caller's own account, and
//! (later) staff administration and public profiles.

pub mod bootstrap;
pub mod dto;
pub mod me;
pub mod password;
pub mod profile;
pub mod recovery;
pub mod registration;
pub mod repo;
pub mod verification;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// Registration and the email-sending requests: rate limited per client.
pub fn limited_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(registration::register))
        .routes(routes!(registration::resend_verification))
        .routes(routes!(recovery::forgot_password))
}

/// Verification, password reset and the caller's own account.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(registration::verify_email))
        .routes(routes!(recovery::reset_password))
        .routes(routes!(me::get_me, me::update_me))
        .routes(routes!(password::change_password))
}
