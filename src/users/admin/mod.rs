//! Staff administration of users: the listing, create/read/update/delete,
//! the staff actions (role, lock, unlock, professional status), the
//! permission table they all ask, and CSV export and import for the CLI.

pub mod actions;
pub mod crud;
pub mod csv;
pub mod listing;
pub mod permissions;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// `/users` and `/users/{id}/...`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::list_users, crud::create_user))
        .routes(routes!(
            crud::get_user,
            crud::update_user,
            crud::replace_user,
            crud::delete_user
        ))
        .routes(routes!(actions::set_role))
        .routes(routes!(actions::lock_user))
        .routes(routes!(actions::unlock_user))
        .routes(routes!(actions::set_professional))
}
