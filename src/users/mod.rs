//! Users: registration and verification, password reset, the caller's own
//! account, changes of address, public profiles, and staff administration
//! (`admin/`).
//!
//! Handlers stay thin over feature functions that the CLI shares; requests
//! and views are the HTTP shapes, `repo` the queries.

pub mod accounts;
pub mod admin;
pub mod bootstrap;
pub mod codes;
pub mod deferred_mail;
pub mod email_change;
pub mod email_change_routes;
pub mod mail_links;
pub mod me;
pub mod one_time_tokens;
pub mod own_account;
pub mod password_reset;
pub mod profile_fields;
pub mod public_profile;
pub mod registration;
pub mod repo;
pub mod requests;
pub mod verification;
pub mod views;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// Registration, the email-sending requests and the ones that take a
/// mail's link or code: rate limited per client.
pub fn limited_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(registration::register))
        .routes(routes!(verification::resend_verification))
        .routes(routes!(password_reset::forgot_password))
        .routes(routes!(verification::verify_email_post))
        .routes(routes!(password_reset::reset_password))
}

/// Verification, password reset, the caller's own account, changes of
/// address, public profiles and staff administration.
pub fn router() -> OpenApiRouter<AppState> {
    #[expect(deprecated, reason = "the old link keeps working")]
    let old_link = routes!(verification::verify_email);
    OpenApiRouter::new()
        .routes(old_link)
        .routes(routes!(password_reset::reset_link))
        .routes(routes!(me::get_me, me::update_me))
        .routes(routes!(me::change_password))
        .routes(routes!(email_change_routes::change_email))
        .routes(routes!(
            email_change_routes::confirm_email,
            email_change_routes::confirm_link
        ))
        .routes(routes!(public_profile::get_profile))
        .merge(admin::router())
}
