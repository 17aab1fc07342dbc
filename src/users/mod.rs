//! Users: registration and verification, the caller's own account, and
//! (later) staff administration and public profiles.

pub mod bootstrap;
pub mod dto;
pub mod me;
pub mod profile;
pub mod registration;
pub mod repo;
pub mod verification;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// Routes of registration, verification and `/me`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(registration::register))
        .routes(routes!(registration::verify_email))
        .routes(routes!(registration::resend_verification))
        .routes(routes!(me::get_me, me::update_me))
}
