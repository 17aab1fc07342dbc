//! Users: registration and verification, the caller's own account, and
//! (later) staff administration and public profiles.

pub mod bootstrap;
pub mod csv_io;
pub mod dto;
pub mod listing;
pub mod me;
pub mod password;
pub mod permissions;
pub mod profile;
pub mod profiles;
pub mod recovery;
pub mod registration;
pub mod repo;
pub mod staff;
pub mod staff_actions;
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
        .routes(routes!(profiles::get_profile))
        .routes(routes!(staff::list_users, staff::create_user))
        .routes(routes!(
            staff::get_user,
            staff::update_user,
            staff::replace_user,
            staff::delete_user
        ))
        .routes(routes!(staff_actions::set_role))
        .routes(routes!(staff_actions::lock_user))
        .routes(routes!(staff_actions::unlock_user))
        .routes(routes!(staff_actions::set_professional))
}
